//! The operator's command line: `redox-destination verify` and
//! `redox-destination send` act as Redox against a destination's URL (this
//! one, locally or deployed, or any other), so a team knows the URL accepts
//! Redox exactly as Redox will call it before registering it.
//!
//! - [`verify`]: both handshake forms and the refusals a safe destination owes;
//! - [`send`]: pushes, one at a time, with a summary;
//! - [`credential`]: the token, SigV4 and OAuth credentials, as Redox
//!   presents them; [`sample`]: the built-in message;
//! - [`http`]: the client (the project's one TLS stack); [`report`]: hints
//!   per status and the latency summary.
//!
//! The binary hands its arguments here only when there are some, so the
//! Lambda bootstrap (which has none) never parses a command line.

pub mod credential;
pub mod http;
pub mod report;
pub mod sample;
pub mod send;
pub mod verify;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use self::credential::{Credential, OAuthClient, Presenter, Secret, Sigv4Key};
use self::http::{HttpClient, parse_url};

/// A Redox destination. With no subcommand: Lambda mode when
/// AWS_LAMBDA_RUNTIME_API is set, otherwise the local server.
#[derive(Parser)]
#[command(name = "redox-destination", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run Redox's destination verification against URL, as Redox does,
    /// and check that a wrong token and a push without credential are refused
    Verify(VerifyArgs),
    /// Push messages to URL exactly as Redox does, one at a time, and
    /// summarise the answers
    Send(Box<SendArgs>),
}

#[derive(Args)]
struct Common {
    /// Give up on an answer after this many seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=900))]
    timeout: u64,
}

#[derive(Args)]
struct VerifyArgs {
    /// The destination URL: http:// locally, https:// for a Function URL
    url: String,
    /// The destination's verification token
    #[arg(long, env = "REDOX_VERIFICATION_TOKEN", hide_env_values = true)]
    token: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct SendArgs {
    /// The destination URL: http:// locally, https:// for a Function URL
    url: String,
    /// Send this file's bytes instead of the built-in PatientAdmin Arrival
    /// sample (which gets a fresh Logs[0].ID and AttemptID per message)
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// How many messages to send, one after another
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    count: u32,
    /// The content-type of each push
    #[arg(long, default_value = "application/json")]
    content_type: String,
    /// Authenticate with the verification token (verification-token and
    /// authorization: Bearer), unless --sigv4 or --oauth-token-url is given
    #[arg(long, env = "REDOX_VERIFICATION_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(flatten)]
    sigv4: Sigv4Args,
    #[command(flatten)]
    oauth: OAuthArgs,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct Sigv4Args {
    /// Sign every push with AWS SigV4, as Redox's AwsSigv4 credential does
    #[arg(long, conflicts_with = "oauth_token_url")]
    sigv4: bool,
    /// SigV4 access key id
    #[arg(long, env = "REDOX_SIGV4_ACCESS_KEY_ID", hide_env_values = true)]
    access_key_id: Option<String>,
    /// SigV4 secret access key
    #[arg(long, env = "REDOX_SIGV4_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_access_key: Option<String>,
    /// SigV4 session token, if the key has one
    #[arg(long, env = "REDOX_SIGV4_SESSION_TOKEN", hide_env_values = true)]
    session_token: Option<String>,
    /// SigV4 region of the credential scope
    #[arg(long, env = "REDOX_SIGV4_REGION")]
    region: Option<String>,
    /// SigV4 service name of the credential scope
    #[arg(long, default_value = "lambda")]
    service: String,
}

#[derive(Args)]
struct OAuthArgs {
    /// Fetch a token with the OAuth 2.0 client credentials grant at this
    /// URL, then send it as Bearer
    #[arg(long, value_name = "URL")]
    oauth_token_url: Option<String>,
    /// OAuth client id
    #[arg(long, env = "REDOX_OAUTH_CLIENT_ID")]
    client_id: Option<String>,
    /// OAuth client secret
    #[arg(long, env = "REDOX_OAUTH_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// OAuth scope to request (the built-in issuer issues none: leave it out)
    #[arg(long)]
    scope: Option<String>,
}

/// Runs a subcommand, or answers `None` when the arguments name none, so
/// the caller serves as it always has.
pub fn main(args: impl IntoIterator<Item = OsString>) -> Option<ExitCode> {
    let cli = Cli::parse_from(args);
    let command = cli.command?;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("redox-destination: cannot start the async runtime: {error}");
            return Some(ExitCode::FAILURE);
        }
    };
    Some(runtime.block_on(async {
        match run(command).await {
            Ok(code) => code,
            Err(error) => {
                eprintln!("redox-destination: {error}");
                ExitCode::from(2)
            }
        }
    }))
}

fn client_for(
    url: &::http::Uri,
    extra: Option<&::http::Uri>,
    timeout: u64,
) -> Result<HttpClient, String> {
    let tls = [Some(url), extra]
        .into_iter()
        .flatten()
        .any(|u| u.scheme_str() == Some("https"));
    HttpClient::new(tls, Duration::from_secs(timeout))
}

async fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Verify(args) => {
            let url = parse_url(&args.url)?;
            let client = client_for(&url, None, args.common.timeout)?;
            Ok(verify::run(&client, &url, &Secret::new(args.token)).await)
        }
        Command::Send(args) => {
            let url = parse_url(&args.url)?;
            let credential = credential_of(&args)?;
            let token_url = match &credential {
                Credential::OAuth(oauth) => Some(oauth.token_url.clone()),
                _ => None,
            };
            let client = client_for(&url, token_url.as_ref(), args.common.timeout)?;
            let body = match &args.file {
                Some(path) => send::Body::File(
                    std::fs::read(path)
                        .map_err(|e| format!("--file {}: {e}", path.display()))?
                        .into(),
                ),
                None => send::Body::Sample,
            };
            let mut presenter = Presenter::new(credential);
            Ok(send::run(
                &client,
                &url,
                &mut presenter,
                &body,
                &args.content_type,
                args.count,
            )
            .await)
        }
    }
}

/// The one credential `send` presents: `--sigv4` or `--oauth-token-url`
/// when given, otherwise the token.
fn credential_of(args: &SendArgs) -> Result<Credential, String> {
    let missing = |what: &str, env: &str| format!("{what} is missing (give it, or set {env})");
    if args.sigv4.sigv4 {
        let s = &args.sigv4;
        return Ok(Credential::Sigv4(Sigv4Key {
            access_key_id: s
                .access_key_id
                .clone()
                .ok_or_else(|| missing("--access-key-id", "REDOX_SIGV4_ACCESS_KEY_ID"))?,
            secret_access_key: Secret::new(
                s.secret_access_key.clone().ok_or_else(|| {
                    missing("--secret-access-key", "REDOX_SIGV4_SECRET_ACCESS_KEY")
                })?,
            ),
            session_token: s.session_token.clone().map(Secret::new),
            region: s
                .region
                .clone()
                .ok_or_else(|| missing("--region", "REDOX_SIGV4_REGION"))?,
            service: s.service.clone(),
        }));
    }
    if let Some(token_url) = &args.oauth.oauth_token_url {
        let o = &args.oauth;
        return Ok(Credential::OAuth(OAuthClient {
            token_url: parse_url(token_url).map_err(|e| format!("--oauth-token-url: {e}"))?,
            client_id: o
                .client_id
                .clone()
                .ok_or_else(|| missing("--client-id", "REDOX_OAUTH_CLIENT_ID"))?,
            client_secret: Secret::new(
                o.client_secret
                    .clone()
                    .ok_or_else(|| missing("--client-secret", "REDOX_OAUTH_CLIENT_SECRET"))?,
            ),
            scope: o.scope.clone().filter(|s| !s.trim().is_empty()),
        }));
    }
    match &args.token {
        Some(token) => Ok(Credential::Token(Secret::new(token.clone()))),
        None => Err(
            "no credential: give --token (or set REDOX_VERIFICATION_TOKEN), --sigv4 with its key, \
             or --oauth-token-url with a client"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_args(args: &[&str]) -> Result<SendArgs, clap::Error> {
        let mut all = vec!["redox-destination", "send", "http://127.0.0.1:8080/"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all)?.command {
            Some(Command::Send(args)) => Ok(*args),
            _ => panic!("not send"),
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_means_serve_as_before() {
        assert!(
            Cli::try_parse_from(["redox-destination"])
                .unwrap()
                .command
                .is_none()
        );
    }

    const SIGV4: [&str; 7] = [
        "--sigv4",
        "--access-key-id",
        "AKID",
        "--secret-access-key",
        "s",
        "--region",
        "us-east-1",
    ];
    const OAUTH: [&str; 6] = [
        "--oauth-token-url",
        "http://127.0.0.1:8080/oauth2/token",
        "--client-id",
        "redox",
        "--client-secret",
        "s",
    ];

    #[test]
    fn sigv4_and_oauth_take_their_own_fields_and_exclude_each_other() {
        let sigv4 = send_args(&SIGV4).unwrap();
        assert!(matches!(credential_of(&sigv4), Ok(Credential::Sigv4(k)) if k.service == "lambda"));
        let oauth = send_args(&OAUTH).unwrap();
        assert!(matches!(credential_of(&oauth), Ok(Credential::OAuth(c)) if c.scope.is_none()));
        assert!(send_args(&[SIGV4.as_slice(), OAUTH.as_slice()].concat()).is_err());
    }
}
