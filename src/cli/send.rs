//! `redox-destination send`: pushes messages as a Redox feed does, one at
//! a time, each after the previous answer, and ends with a summary of
//! statuses, latencies and throughput. A push whose credential cannot be
//! made, or that gets no answer, ends the run there: Redox would pause the
//! feed too.

use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{Method, Uri};

use super::credential::Presenter;
use super::http::{HttpClient, Outgoing};
use super::report::{RunSummary, body_for_display, millis, refusal};
use super::sample::patient_admin_arrival;

/// What each push carries.
pub enum Body {
    /// A fresh PatientAdmin Arrival per message.
    Sample,
    /// A file's bytes, the same for every message.
    File(Bytes),
}

/// At most this many answers are printed one per line; past it only the
/// first answer and the first of each failing status are.
const PRINT_EVERY_ANSWER_UP_TO: u32 = 10;

pub async fn run(
    client: &HttpClient,
    url: &Uri,
    presenter: &mut Presenter,
    body: &Body,
    content_type: &str,
    count: u32,
) -> ExitCode {
    let what = match body {
        Body::Sample => "the built-in PatientAdmin Arrival sample".to_owned(),
        Body::File(bytes) => format!("a file of {} bytes", bytes.len()),
    };
    println!(
        "sending {count} message(s) to {url}: {what}, {}",
        presenter.credential().describe()
    );
    let mut summary = RunSummary::default();
    let mut statuses_shown: Vec<u16> = Vec::new();
    let started = Instant::now();
    for n in 1..=count {
        let bytes = match body {
            Body::Sample => Bytes::from(patient_admin_arrival(SystemTime::now())),
            Body::File(bytes) => bytes.clone(),
        };
        let headers = match presenter
            .push_headers(client, url, content_type, &bytes)
            .await
        {
            Ok(headers) => headers,
            Err(error) => {
                println!("  #{n}: no credential to present: {error}");
                summary.record_transport_failure();
                break;
            }
        };
        let outcome = client
            .send(Outgoing {
                method: Method::POST,
                url: url.clone(),
                headers,
                body: bytes,
            })
            .await;
        let answer = match outcome {
            Ok(answer) => answer,
            Err(error) => {
                println!("  #{n}: {error}");
                summary.record_transport_failure();
                break;
            }
        };
        summary.record(&answer);
        let first_of_its_status = !statuses_shown.contains(&answer.status);
        let shown = count <= PRINT_EVERY_ANSWER_UP_TO || n == 1 || first_of_its_status;
        if answer.is_success() && shown {
            println!(
                "  #{n}: {} in {}  {}",
                answer.status,
                millis(answer.latency),
                body_for_display(&answer)
            );
        } else if shown {
            println!("  #{n}: {} in {}", answer.status, millis(answer.latency));
            if first_of_its_status {
                println!("{}", refusal(&answer));
            }
        }
        if first_of_its_status {
            statuses_shown.push(answer.status);
        }
    }
    println!("{}", summary.render(started.elapsed()));
    if summary.all_succeeded() {
        ExitCode::SUCCESS
    } else {
        println!("send: not every message was answered 2xx");
        ExitCode::FAILURE
    }
}
