//! Redox's Data Model events, and which of them are synchronous requests: a
//! request waits for an answer built from data, which a queue cannot give,
//! so it is refused (501) rather than queued. Every other event is queued.
//!
//! The table is facts, written out by hand from two public sources:
//!
//! - the (DataModel, EventType) pairs are the schema files
//!   `schemas/<datamodel>/<eventtype>.json` of the repository
//!   [redox-contrib/models](https://github.com/redox-contrib/models) at
//!   commit [`SCHEMA_COMMIT`] (89 files; a request there has a matching
//!   `…response.json`, or `response.json` beside `request.json` / `query.json`);
//! - which of them are synchronous is Redox's own list, "Event types for
//!   data models" (docs.redoxengine.com/basics/redox-data-model-api/
//!   event-types-for-data-models). It agrees with the schemas' pairing and
//!   adds what the schemas cannot show: `SSO.Sign-on` is synchronous
//!   without a response schema, `Provider.ProviderQuery`'s response schema
//!   is missing from the repository, and `Media.Query` and
//!   `Vaccination.PatientQuery` are there only as their responses'
//!   schemas. `Referral.AuthReview` / `AuthResponse` are not in Redox's
//!   list: two asynchronous events, queued.
//!
//! The schemas spell names only in lower case (their file names); the
//! spellings below are Redox's current ones. Names are matched ignoring
//! ASCII case, white space, `-` and `_` ([`same_name`]), because Redox has
//! spelled them more than one way: older messages and documentation write
//! `"Clinical Summary"` and `"Clinical Decisions"` with a space. No I/O.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use EventKind::{Notification, Request, Response};

/// The commit of redox-contrib/models whose `schemas/` the table lists.
pub const SCHEMA_COMMIT: &str = "4f3e2ceb3311df7a0fd6da5c9f8935f2182968b4";

/// Longer names are no Redox name (the longest is 21 characters), so they
/// are not compared at all: a name made of megabytes of white space costs
/// nothing.
const MAX_NAME_LEN: usize = 64;

/// What an event is to the destination that receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Synchronous: Redox waits for an answer built from data (501 here).
    Request,
    /// The answer to a request (queued if it ever comes as a push).
    Response,
    /// Asynchronous: a notification, queued.
    Notification,
}

/// One (DataModel, EventType) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownEvent {
    pub data_model: &'static str,
    pub event_type: &'static str,
    pub kind: EventKind,
    /// Its schema file under `schemas/` at [`SCHEMA_COMMIT`]; `None` for
    /// the two requests the repository has only the response of.
    pub schema: Option<&'static str>,
}

const fn event(
    data_model: &'static str,
    event_type: &'static str,
    kind: EventKind,
    schema: &'static str,
) -> KnownEvent {
    KnownEvent {
        data_model,
        event_type,
        kind,
        schema: Some(schema),
    }
}

/// Every event of the schemas at [`SCHEMA_COMMIT`], plus the two requests
/// present there only through their responses (see the module's text).
#[rustfmt::skip]
pub const KNOWN_EVENTS: &[KnownEvent] = &[
    event("Claim", "Payment", Notification, "claim/payment.json"),
    event("Claim", "PaymentBatch", Notification, "claim/paymentbatch.json"),
    event("Claim", "Submission", Notification, "claim/submission.json"),
    event("Claim", "SubmissionBatch", Notification, "claim/submissionbatch.json"),
    event("ClinicalDecisions", "Request", Request, "clinicaldecisions/request.json"),
    event("ClinicalDecisions", "Response", Response, "clinicaldecisions/response.json"),
    event("ClinicalSummary", "DocumentGet", Request, "clinicalsummary/documentget.json"),
    event("ClinicalSummary", "DocumentGetResponse", Response, "clinicalsummary/documentgetresponse.json"),
    event("ClinicalSummary", "DocumentQuery", Request, "clinicalsummary/documentquery.json"),
    event("ClinicalSummary", "DocumentQueryResponse", Response, "clinicalsummary/documentqueryresponse.json"),
    event("ClinicalSummary", "PatientPush", Notification, "clinicalsummary/patientpush.json"),
    event("ClinicalSummary", "PatientQuery", Request, "clinicalsummary/patientquery.json"),
    event("ClinicalSummary", "PatientQueryResponse", Response, "clinicalsummary/patientqueryresponse.json"),
    event("ClinicalSummary", "VisitPush", Notification, "clinicalsummary/visitpush.json"),
    event("ClinicalSummary", "VisitQuery", Request, "clinicalsummary/visitquery.json"),
    event("ClinicalSummary", "VisitQueryResponse", Response, "clinicalsummary/visitqueryresponse.json"),
    event("Device", "New", Notification, "device/new.json"),
    event("Financial", "AccountUpdate", Notification, "financial/accountupdate.json"),
    event("Financial", "Transaction", Notification, "financial/transaction.json"),
    event("Flowsheet", "New", Notification, "flowsheet/new.json"),
    event("Inventory", "Deplete", Notification, "inventory/deplete.json"),
    event("Inventory", "Update", Notification, "inventory/update.json"),
    event("Media", "Delete", Notification, "media/delete.json"),
    event("Media", "New", Notification, "media/new.json"),
    KnownEvent {
        data_model: "Media",
        event_type: "Query",
        kind: Request,
        schema: None,
    },
    event("Media", "QueryResponse", Response, "media/queryresponse.json"),
    event("Media", "Replace", Notification, "media/replace.json"),
    event("Medications", "Administration", Notification, "medications/administration.json"),
    event("Medications", "New", Notification, "medications/new.json"),
    event("Notes", "Delete", Notification, "notes/delete.json"),
    event("Notes", "New", Notification, "notes/new.json"),
    event("Notes", "Query", Request, "notes/query.json"),
    event("Notes", "QueryResponse", Response, "notes/queryresponse.json"),
    event("Notes", "Replace", Notification, "notes/replace.json"),
    event("Order", "GroupedOrders", Notification, "order/groupedorders.json"),
    event("Order", "Query", Request, "order/query.json"),
    event("Order", "QueryResponse", Response, "order/queryresponse.json"),
    event("Order", "Update", Notification, "order/update.json"),
    event("Organization", "New", Notification, "organization/new.json"),
    event("Organization", "Query", Request, "organization/query.json"),
    event("Organization", "QueryResponse", Response, "organization/queryresponse.json"),
    event("Organization", "Update", Notification, "organization/update.json"),
    event("PatientAdmin", "Cancel", Notification, "patientadmin/cancel.json"),
    event("PatientAdmin", "CensusQuery", Request, "patientadmin/censusquery.json"),
    event("PatientAdmin", "CensusQueryResponse", Response, "patientadmin/censusqueryresponse.json"),
    event("PatientAdmin", "Discharge", Notification, "patientadmin/discharge.json"),
    event("PatientAdmin", "NewPatient", Notification, "patientadmin/newpatient.json"),
    event("PatientAdmin", "PatientMerge", Notification, "patientadmin/patientmerge.json"),
    event("PatientAdmin", "PatientUpdate", Notification, "patientadmin/patientupdate.json"),
    event("PatientAdmin", "PreAdmit", Notification, "patientadmin/preadmit.json"),
    event("PatientAdmin", "Transfer", Notification, "patientadmin/transfer.json"),
    event("PatientAdmin", "VisitMerge", Notification, "patientadmin/visitmerge.json"),
    event("PatientAdmin", "VisitQuery", Request, "patientadmin/visitquery.json"),
    event("PatientAdmin", "VisitQueryResponse", Response, "patientadmin/visitqueryresponse.json"),
    event("PatientAdmin", "VisitUpdate", Notification, "patientadmin/visitupdate.json"),
    event("PatientEducation", "New", Notification, "patienteducation/new.json"),
    event("PatientSearch", "LocationQuery", Request, "patientsearch/locationquery.json"),
    event("PatientSearch", "LocationQueryResponse", Response, "patientsearch/locationqueryresponse.json"),
    event("PatientSearch", "Query", Request, "patientsearch/query.json"),
    event("PatientSearch", "Response", Response, "patientsearch/response.json"),
    event("Provider", "Activate", Notification, "provider/activate.json"),
    event("Provider", "ProviderQuery", Request, "provider/providerquery.json"),
    event("Provider", "Update", Notification, "provider/update.json"),
    event("Referral", "AuthResponse", Notification, "referral/authresponse.json"),
    event("Referral", "AuthReview", Notification, "referral/authreview.json"),
    event("Referral", "New", Notification, "referral/new.json"),
    event("Referral", "Query", Request, "referral/query.json"),
    event("Referral", "QueryResponse", Response, "referral/queryresponse.json"),
    event("Research", "Study", Notification, "research/study.json"),
    event("Research", "SubjectUpdate", Notification, "research/subjectupdate.json"),
    event("Results", "New", Notification, "results/new.json"),
    event("Results", "NewUnsolicited", Notification, "results/newunsolicited.json"),
    event("Results", "Query", Request, "results/query.json"),
    event("Results", "QueryResponse", Response, "results/queryresponse.json"),
    event("Scheduling", "AvailableSlots", Request, "scheduling/availableslots.json"),
    event("Scheduling", "AvailableSlotsResponse", Response, "scheduling/availableslotsresponse.json"),
    event("Scheduling", "Booked", Request, "scheduling/booked.json"),
    event("Scheduling", "BookedResponse", Response, "scheduling/bookedresponse.json"),
    event("Scheduling", "Cancel", Notification, "scheduling/cancel.json"),
    event("Scheduling", "New", Notification, "scheduling/new.json"),
    event("Scheduling", "NoShow", Notification, "scheduling/noshow.json"),
    event("Scheduling", "PushSlots", Notification, "scheduling/pushslots.json"),
    event("Scheduling", "Reschedule", Notification, "scheduling/reschedule.json"),
    event("SSO", "Sign-on", Request, "sso/sign-on.json"),
    event("SurgicalScheduling", "Cancel", Notification, "surgicalscheduling/cancel.json"),
    event("SurgicalScheduling", "New", Notification, "surgicalscheduling/new.json"),
    event("SurgicalScheduling", "NoShow", Notification, "surgicalscheduling/noshow.json"),
    event("Vaccination", "Administration", Notification, "vaccination/administration.json"),
    event("Vaccination", "New", Notification, "vaccination/new.json"),
    KnownEvent {
        data_model: "Vaccination",
        event_type: "PatientQuery",
        kind: Request,
        schema: None,
    },
    event("Vaccination", "PatientQueryResponse", Response, "vaccination/patientqueryresponse.json"),
];

/// The characters of a name that count: ASCII letters and digits (lower
/// case) and anything non-ASCII, without white space, `-` or `_`.
fn name_key(name: &str) -> impl Iterator<Item = char> + '_ {
    name.chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
        .map(|c| c.to_ascii_lowercase())
}

/// `true` when two Data Model or event type names are the same name as
/// Redox writes them: `"Clinical Summary"` is `"ClinicalSummary"`,
/// `"patientquery"` is `"PatientQuery"`, `"Sign On"` is `"Sign-on"`.
pub fn same_name(a: &str, b: &str) -> bool {
    a.len() <= MAX_NAME_LEN && b.len() <= MAX_NAME_LEN && name_key(a).eq(name_key(b))
}

/// The table's entry for this pair, however it is spelled.
pub fn known_event(data_model: &str, event_type: &str) -> Option<&'static KnownEvent> {
    KNOWN_EVENTS
        .iter()
        .find(|e| same_name(e.data_model, data_model) && same_name(e.event_type, event_type))
}

/// `true` for a synchronous request of Redox's Data Model API. A pair that
/// is not in the table (an event newer than the schemas, a misspelling) is
/// queued: refusing a push would stop Redox's feed behind it.
pub fn is_synchronous_request(data_model: &str, event_type: &str) -> bool {
    known_event(data_model, event_type).is_some_and(|e| e.kind == EventKind::Request)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_named_as_its_schema_file() {
        for e in KNOWN_EVENTS {
            let Some(schema) = e.schema else { continue };
            let (folder, file) = schema.split_once('/').unwrap();
            let stem = file.strip_suffix(".json").unwrap();
            assert!(same_name(e.data_model, folder), "{e:?}");
            assert!(same_name(e.event_type, stem), "{e:?}");
        }
    }

    #[test]
    fn the_table_has_each_pair_once_and_89_schemas() {
        for (i, a) in KNOWN_EVENTS.iter().enumerate() {
            for b in KNOWN_EVENTS.iter().skip(i + 1) {
                assert!(
                    !(same_name(a.data_model, b.data_model)
                        && same_name(a.event_type, b.event_type)),
                    "{a:?} twice"
                );
            }
        }
        assert_eq!(
            KNOWN_EVENTS.iter().filter(|e| e.schema.is_some()).count(),
            89
        );
    }

    #[test]
    fn names_match_across_case_and_spacing_but_not_across_words() {
        assert!(same_name("Clinical Summary", "ClinicalSummary"));
        assert!(same_name("clinicalsummary", "ClinicalSummary"));
        assert!(same_name(" Patient_Admin ", "PatientAdmin"));
        assert!(same_name("Sign On", "Sign-on"));
        assert!(!same_name("PatientQueryResponse", "PatientQuery"));
        assert!(!same_name("Clinical Summary Extra", "ClinicalSummary"));
        assert!(!same_name(&" ".repeat(65), ""));
        // Only ASCII letters fold: a look-alike is another name.
        assert!(!same_name("PATİENTADMIN", "PatientAdmin"));
    }

    #[test]
    fn requests_are_recognised_by_the_pair_not_by_a_suffix() {
        assert!(is_synchronous_request("Scheduling", "Booked"));
        assert!(is_synchronous_request("Clinical Summary", "DocumentGet"));
        assert!(is_synchronous_request("SSO", "Sign-on"));
        assert!(is_synchronous_request("Media", "Query"));
        // A suffix alone decides nothing.
        assert!(!is_synchronous_request("Scheduling", "Query"));
        assert!(!is_synchronous_request("Unknown", "PatientQuery"));
        assert!(!is_synchronous_request("Scheduling", "BookedResponse"));
        assert!(!is_synchronous_request("Referral", "AuthReview"));
    }
}
