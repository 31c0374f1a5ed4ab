//! The built-in Redox sample `send` pushes when no file is given: a
//! PatientAdmin Arrival test message in the Data Model envelope (SPEC 2),
//! the same message as `events/functionurl-patientadmin-push.json`, with a
//! fresh `Meta.Logs[0].ID` and `AttemptID` for every message (a new message,
//! not a retry) and the current time as `EventDateTime`. Fictional patient.

use std::time::SystemTime;

use crate::clock::rfc3339;
use crate::sink::new_message_id;

/// One PatientAdmin Arrival, serialised as Redox sends it.
pub fn patient_admin_arrival(now: SystemTime) -> Vec<u8> {
    let log_id = new_message_id();
    let attempt_id = new_message_id();
    let provider = serde_json::json!({
        "ID": "4356789876", "IDType": "NPI", "FirstName": "Pat", "LastName": "Granite",
        "Credentials": ["MD"],
        "Address": {"StreetAddress": "123 Main St.", "City": "Madison", "State": "WI",
                    "ZIP": "53703", "County": "Dane", "Country": "US"},
        "Location": {"Type": null, "Facility": null, "Department": null, "Room": null},
        "PhoneNumber": {"Office": "+16085551234"}
    });
    let message = serde_json::json!({
        "Meta": {
            "DataModel": "PatientAdmin",
            "EventType": "Arrival",
            "EventDateTime": rfc3339(now),
            "Test": true,
            "Source": {"ID": "7ce6f387-c33c-417d-8682-81e83628cbd9", "Name": "Redox Dev Tools"},
            "Destinations": [{"ID": "af394f14-b34a-464f-8d24-895f370af4c9",
                              "Name": "Hospital Integration Queue"}],
            "Logs": [{"ID": log_id, "AttemptID": attempt_id}],
            "FacilityCode": "RES"
        },
        "Patient": {
            "Identifiers": [
                {"ID": "0000000001", "IDType": "MR"},
                {"ID": "e167267c-16c9-4fe3-96ae-9cff5703e90a", "IDType": "EHRID"},
                {"ID": "a1d4ee8aba494ca", "IDType": "NIST"}
            ],
            "Demographics": {
                "FirstName": "Timothy", "MiddleName": "Paul", "LastName": "Bixby",
                "DOB": "2008-01-06", "Sex": "Male", "Race": "White", "IsHispanic": null,
                "MaritalStatus": "Single", "IsDeceased": null, "DeathDateTime": null,
                "PhoneNumber": {"Home": "+18088675301", "Office": null, "Mobile": null},
                "EmailAddresses": [], "Language": "en", "Citizenship": [],
                "Address": {"StreetAddress": "4762 Hickory Street", "City": "Monroe",
                            "State": "WI", "ZIP": "53566", "County": "Green", "Country": "US"}
            },
            "Notes": []
        },
        "Visit": {
            "VisitNumber": "1234", "AccountNumber": null, "PatientClass": "Inpatient",
            "VisitDateTime": rfc3339(now), "Duration": null, "Reason": "Chest pain",
            "Instructions": null,
            "AttendingProvider": provider,
            "ConsultingProvider": null, "ReferringProvider": null,
            "AdmittingProvider": provider,
            "Location": {"Type": "Inpatient", "Facility": "RES General Hospital",
                         "Department": "3N", "Room": "136", "Bed": "B"},
            "Diagnoses": [{"Code": "R07.9", "Codeset": "ICD-10",
                           "Name": "Chest pain, unspecified", "Type": null,
                           "DocumentedDateTime": null}],
            "Insurances": []
        }
    });
    message.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redox::{RedoxMeta, extract_meta};

    fn meta_of(body: Vec<u8>) -> RedoxMeta {
        let value: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        extract_meta(&value["Meta"])
    }

    #[test]
    fn every_sample_is_a_new_patient_admin_arrival() {
        let now = SystemTime::now();
        let first = meta_of(patient_admin_arrival(now));
        let second = meta_of(patient_admin_arrival(now));
        assert_eq!(first.data_model.as_deref(), Some("PatientAdmin"));
        assert_eq!(first.event_type.as_deref(), Some("Arrival"));
        assert_eq!(first.test, Some(true));
        let (Some(log_a), Some(log_b)) = (&first.log_id, &second.log_id) else {
            panic!("no log ids: {first:?} {second:?}");
        };
        assert_ne!(log_a, log_b, "a fresh Logs[0].ID per message");
        assert_ne!(first.attempt_id, second.attempt_id, "a fresh AttemptID");
        assert_eq!(log_a.len(), 36);
    }
}
