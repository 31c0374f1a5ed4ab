//! The operator's command line: `redox-destination verify` and
//! `redox-destination send` act as Redox against a destination's URL (this
//! one, locally or deployed, or any other), so a team knows the URL accepts
//! Redox exactly as Redox will call it before registering it.
//!
//! - [`verify`]: both handshake forms and the refusals a safe destination owes;
//! - [`send`]: pushes, one at a time, with a summary;
//! - [`credential`]: the token, SigV4, OAuth (secret or SMART client
//!   assertion) and JWT Bearer credentials, as Redox presents them;
//!   [`signing_key`]: the private key the JWTs are signed with;
//!   [`sample`]: the built-in message;
//! - [`http`]: the client (the project's one TLS stack) and the rule that
//!   no secret crosses plain HTTP off this machine; [`report`]: hints per
//!   status and the latency summary;
//! - [`secret_input`]: secrets from the environment or a file, never argv.
//!
//! The binary hands its arguments here only when there are some, so the
//! Lambda bootstrap (which has none) never parses a command line.

pub mod credential;
pub mod http;
pub mod report;
pub mod sample;
pub mod secret_input;
pub mod send;
pub mod signing_key;
pub mod verify;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use self::credential::{
    ClientAuth, Credential, JwtBearer, OAuthClient, Presenter, Secret, Sigv4Key,
};
use self::http::{HttpClient, check_secret_transport, parse_url};
use self::secret_input::{
    BEARER_TOKEN, OAUTH_CLIENT_SECRET, SIGV4_SECRET_ACCESS_KEY, SIGV4_SESSION_TOKEN, SecretOption,
    SecretReader, VERIFICATION_TOKEN,
};
use self::signing_key::SigningKey;

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
    /// Print the public half of a PKCS#8 PEM private key as a JWK Set, to
    /// paste into the auth material (an oauth_clients or jwt_issuers jwks)
    Jwk(JwkArgs),
}

#[derive(Args)]
struct JwkArgs {
    /// The private key (unencrypted PKCS#8 PEM: RSA, EC P-256/P-384 or
    /// Ed25519, as `openssl genpkey` writes it); only its public half is printed
    #[arg(long, value_name = "PATH")]
    private_key_file: PathBuf,
    /// The key's id (kid), as the JWTs signed with it name it
    #[arg(long, value_name = "KID")]
    kid: String,
    /// The algorithm it signs with (default: RS384 for RSA, ES384 for
    /// P-384, ES256 for P-256, EdDSA for Ed25519)
    #[arg(long, value_name = "ALG")]
    alg: Option<String>,
}

#[derive(Args)]
struct Common {
    /// Give up on an answer after this many seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=900))]
    timeout: u64,
    /// Send credentials over plain http:// to a host other than this
    /// machine anyway (refused by default: anyone on the way could read
    /// them). http:// to localhost, 127.0.0.0/8 and [::1] needs no flag
    #[arg(long)]
    allow_insecure_http: bool,
}

/// The verification token: REDOX_VERIFICATION_TOKEN, or a file.
#[derive(Args)]
struct TokenArgs {
    /// Read the verification token from this file (- for standard input)
    /// instead of REDOX_VERIFICATION_TOKEN
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Refused: a value here shows in `ps` and shell history
    #[arg(long, hide = true, value_name = "VALUE")]
    token: Option<String>,
}

#[derive(Args)]
struct VerifyArgs {
    /// The destination URL: http:// locally, https:// for a Function URL
    url: String,
    #[command(flatten)]
    token: TokenArgs,
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
    #[command(flatten)]
    token: TokenArgs,
    #[command(flatten)]
    sigv4: Sigv4Args,
    #[command(flatten)]
    oauth: OAuthArgs,
    #[command(flatten)]
    jwt: JwtBearerArgs,
    #[command(flatten)]
    bearer: BearerArgs,
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
    /// Read the SigV4 secret access key from this file (- for standard
    /// input) instead of REDOX_SIGV4_SECRET_ACCESS_KEY
    #[arg(long, value_name = "PATH")]
    secret_access_key_file: Option<PathBuf>,
    /// Read the SigV4 session token, if the key has one, from this file (-
    /// for standard input) instead of REDOX_SIGV4_SESSION_TOKEN
    #[arg(long, value_name = "PATH")]
    session_token_file: Option<PathBuf>,
    /// Refused: a value here shows in `ps` and shell history
    #[arg(long, hide = true, value_name = "VALUE")]
    secret_access_key: Option<String>,
    /// Refused: a value here shows in `ps` and shell history
    #[arg(long, hide = true, value_name = "VALUE")]
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
    /// Read the OAuth client secret from this file (- for standard input)
    /// instead of REDOX_OAUTH_CLIENT_SECRET
    #[arg(long, value_name = "PATH")]
    client_secret_file: Option<PathBuf>,
    /// Refused: a value here shows in `ps` and shell history
    #[arg(long, hide = true, value_name = "VALUE")]
    client_secret: Option<String>,
    /// Authenticate at the token URL with a client assertion (SMART Backend
    /// Services) signed with this PKCS#8 PEM private key, instead of a
    /// client secret
    #[arg(
        long,
        value_name = "PATH",
        requires = "client_assertion_kid",
        conflicts_with = "client_secret_file"
    )]
    client_assertion_key_file: Option<PathBuf>,
    /// The kid of the assertion key, as in the client's jwks
    #[arg(long, value_name = "KID", requires = "client_assertion_key_file")]
    client_assertion_kid: Option<String>,
    /// The algorithm the assertion is signed with (default: RS384 for RSA,
    /// ES384 for P-384, ES256 for P-256, EdDSA for Ed25519)
    #[arg(long, value_name = "ALG", requires = "client_assertion_key_file")]
    client_assertion_alg: Option<String>,
    /// OAuth scope to request (the built-in issuer grants only scopes in the
    /// client's `scopes`; leave it out for a client without)
    #[arg(long)]
    scope: Option<String>,
}

/// A Bearer token made elsewhere: REDOX_BEARER_TOKEN, or a file.
#[derive(Args)]
struct BearerArgs {
    /// Send the Bearer token in this file (- for standard input) as it is,
    /// instead of REDOX_BEARER_TOKEN: a Google ID token (`gcloud auth
    /// print-identity-token --audiences=URL`), a Google access token
    /// (`gcloud auth print-access-token --impersonate-service-account=SA`),
    /// or any identity provider's token
    #[arg(long, value_name = "PATH", conflicts_with_all = ["oauth_token_url", "sigv4", "jwt_key_file"])]
    bearer_file: Option<PathBuf>,
    /// Refused: a value here shows in `ps` and shell history
    #[arg(long, hide = true, value_name = "VALUE")]
    bearer: Option<String>,
}

#[derive(Args)]
struct JwtBearerArgs {
    /// Send a JWT signed with this PKCS#8 PEM private key as the Bearer
    /// itself, as Redox's JWT Bearer credential does (a fresh one per push)
    #[arg(long, value_name = "PATH", conflicts_with_all = ["oauth_token_url", "sigv4"],
          requires_all = ["jwt_kid", "jwt_issuer", "jwt_audience"])]
    jwt_key_file: Option<PathBuf>,
    /// The JWT's kid (as in the destination's jwt_issuers jwks)
    #[arg(long, value_name = "KID", requires = "jwt_key_file")]
    jwt_kid: Option<String>,
    /// The JWT's iss
    #[arg(long, value_name = "ISS", requires = "jwt_key_file")]
    jwt_issuer: Option<String>,
    /// The JWT's aud
    #[arg(long, value_name = "AUD", requires = "jwt_key_file")]
    jwt_audience: Option<String>,
    /// The JWT's sub (default: the issuer)
    #[arg(long, value_name = "SUB", requires = "jwt_key_file")]
    jwt_subject: Option<String>,
    /// The algorithm (default by key type, as for --client-assertion-alg)
    #[arg(long, value_name = "ALG", requires = "jwt_key_file")]
    jwt_alg: Option<String>,
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
    let mut secrets = SecretReader::from_process();
    match command {
        Command::Verify(args) => {
            let url = parse_url(&args.url)?;
            let token = read_token(&mut secrets, &args.token)?.ok_or_else(|| {
                "no verification token: set REDOX_VERIFICATION_TOKEN, or give --token-file PATH"
                    .to_owned()
            })?;
            guard_transport(&url, "the verification token", &args.common)?;
            let client = client_for(&url, None, args.common.timeout)?;
            Ok(verify::run(&client, &url, &token).await)
        }
        Command::Jwk(args) => {
            let key = SigningKey::from_file(&args.private_key_file, &args.kid, args.alg.as_deref())
                .map_err(|why| format!("--private-key-file {why}"))?;
            let set = serde_json::json!({ "keys": [key.public_jwk()] });
            println!(
                "{}",
                serde_json::to_string_pretty(&set).map_err(|e| e.to_string())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Send(args) => {
            let url = parse_url(&args.url)?;
            let credential = credential_of(&args, &mut secrets)?;
            let token_url = match &credential {
                Credential::OAuth(oauth) => Some(oauth.token_url.clone()),
                _ => None,
            };
            for (to, what) in secrets_sent(&credential, &url) {
                guard_transport(to, what, &args.common)?;
            }
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

/// Where each secret a credential presents goes, and what it is.
fn secrets_sent<'a>(
    credential: &'a Credential,
    url: &'a ::http::Uri,
) -> Vec<(&'a ::http::Uri, &'static str)> {
    match credential {
        Credential::Nothing => Vec::new(),
        Credential::Token(_) => vec![(url, "the verification token")],
        // The secret key never travels, but a signed push can be replayed
        // by whoever sees it, and a session token travels as it is.
        Credential::Sigv4(key) if key.session_token.is_some() => {
            vec![(url, "the SigV4 session token")]
        }
        Credential::Sigv4(_) => {
            vec![(
                url,
                "a SigV4-signed push (anyone who sees it may replay it)",
            )]
        }
        Credential::OAuth(oauth) => vec![
            (
                &oauth.token_url,
                match oauth.authentication {
                    ClientAuth::Secret(_) => "the OAuth client secret",
                    ClientAuth::Assertion(_) => "a signed client assertion",
                },
            ),
            (url, "the OAuth access token"),
        ],
        Credential::JwtBearer(_) => vec![(url, "a signed JWT bearer token")],
        Credential::Bearer(_) => vec![(url, "the Bearer token")],
    }
}

/// Refuses a secret bound for plain HTTP off this machine, or with
/// `--allow-insecure-http` says on stderr that it goes anyway.
fn guard_transport(url: &::http::Uri, what: &'static str, common: &Common) -> Result<(), String> {
    match check_secret_transport(url, what) {
        Ok(()) => Ok(()),
        Err(insecure) if common.allow_insecure_http => {
            eprintln!(
                "redox-destination: warning: sending {} over plain http:// to {} \
                 (--allow-insecure-http)",
                insecure.what, insecure.host
            );
            Ok(())
        }
        Err(insecure) => Err(insecure.to_string()),
    }
}

fn read_token(secrets: &mut SecretReader, args: &TokenArgs) -> Result<Option<Secret>, String> {
    read_secret(secrets, VERIFICATION_TOKEN, &args.token, &args.token_file)
}

/// `option`'s secret from its file or variable; its value on the command
/// line is refused.
fn read_secret(
    secrets: &mut SecretReader,
    option: SecretOption,
    value: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<Secret>, String> {
    secrets
        .read(option, value.is_some(), file.as_deref())
        .map_err(|e| e.to_string())
}

/// The one credential `send` presents: `--sigv4` or `--oauth-token-url`
/// when given, otherwise the token. A secret given as an option's value is
/// refused whichever credential is chosen.
fn credential_of(args: &SendArgs, secrets: &mut SecretReader) -> Result<Credential, String> {
    let missing = |what: &str, env: &str| format!("{what} is missing (give it, or set {env})");
    let missing_secret = |option: SecretOption| {
        format!(
            "{} is not set (set it, or give {} PATH)",
            option.env, option.file_flag
        )
    };
    let (s, o) = (&args.sigv4, &args.oauth);
    let secret_access_key = read_secret(
        secrets,
        SIGV4_SECRET_ACCESS_KEY,
        &s.secret_access_key,
        &s.secret_access_key_file,
    )?;
    let session_token = read_secret(
        secrets,
        SIGV4_SESSION_TOKEN,
        &s.session_token,
        &s.session_token_file,
    )?;
    let client_secret = read_secret(
        secrets,
        OAUTH_CLIENT_SECRET,
        &o.client_secret,
        &o.client_secret_file,
    )?;
    let token = read_token(secrets, &args.token)?;
    let bearer = read_secret(
        secrets,
        BEARER_TOKEN,
        &args.bearer.bearer,
        &args.bearer.bearer_file,
    )?;
    if s.sigv4 {
        return Ok(Credential::Sigv4(Sigv4Key {
            access_key_id: s
                .access_key_id
                .clone()
                .ok_or_else(|| missing("--access-key-id", "REDOX_SIGV4_ACCESS_KEY_ID"))?,
            secret_access_key: secret_access_key
                .ok_or_else(|| missing_secret(SIGV4_SECRET_ACCESS_KEY))?,
            session_token,
            region: s
                .region
                .clone()
                .ok_or_else(|| missing("--region", "REDOX_SIGV4_REGION"))?,
            service: s.service.clone(),
        }));
    }
    if let Some(token_url) = &o.oauth_token_url {
        let authentication = match (&o.client_assertion_key_file, &o.client_assertion_kid) {
            (Some(path), Some(kid)) => ClientAuth::Assertion(Arc::new(
                SigningKey::from_file(path, kid, o.client_assertion_alg.as_deref())
                    .map_err(|why| format!("--client-assertion-key-file {why}"))?,
            )),
            _ => ClientAuth::Secret(
                client_secret.ok_or_else(|| missing_secret(OAUTH_CLIENT_SECRET))?,
            ),
        };
        return Ok(Credential::OAuth(OAuthClient {
            token_url: parse_url(token_url).map_err(|e| format!("--oauth-token-url: {e}"))?,
            client_id: o
                .client_id
                .clone()
                .ok_or_else(|| missing("--client-id", "REDOX_OAUTH_CLIENT_ID"))?,
            authentication,
            scope: o.scope.clone().filter(|s| !s.trim().is_empty()),
        }));
    }
    let j = &args.jwt;
    if let (Some(path), Some(kid), Some(issuer), Some(audience)) =
        (&j.jwt_key_file, &j.jwt_kid, &j.jwt_issuer, &j.jwt_audience)
    {
        let key = SigningKey::from_file(path, kid, j.jwt_alg.as_deref())
            .map_err(|why| format!("--jwt-key-file {why}"))?;
        return Ok(Credential::JwtBearer(JwtBearer {
            key: Arc::new(key),
            issuer: issuer.clone(),
            subject: j.jwt_subject.clone().unwrap_or_else(|| issuer.clone()),
            audience: audience.clone(),
        }));
    }
    if let Some(bearer) = bearer {
        let value = bearer.expose().trim().to_owned();
        if value.is_empty() || value.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(format!(
                "the Bearer token ({} or {}) must be one line of printable characters",
                BEARER_TOKEN.env, BEARER_TOKEN.file_flag
            ));
        }
        return Ok(Credential::Bearer(Secret::new(value)));
    }
    match token {
        Some(token) => Ok(Credential::Token(token)),
        None => Err(
            "no credential: set REDOX_VERIFICATION_TOKEN (or give --token-file PATH), --sigv4 \
             with its key, --oauth-token-url with a client, --jwt-key-file with its claims, or \
             REDOX_BEARER_TOKEN (or --bearer-file PATH)"
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

    /// Secrets from this environment only; standard input is empty.
    fn secrets(env: &[(&'static str, &'static str)]) -> SecretReader {
        let env: Vec<(&'static str, &'static str)> = env.to_vec();
        SecretReader::new(
            Box::new(move |name| {
                env.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| OsString::from(v))
            }),
            Box::new(|| Ok(Vec::new())),
        )
    }

    const SIGV4: [&str; 5] = [
        "--sigv4",
        "--access-key-id",
        "AKID",
        "--region",
        "us-east-1",
    ];
    const OAUTH: [&str; 4] = [
        "--oauth-token-url",
        "http://127.0.0.1:8080/oauth2/token",
        "--client-id",
        "redox",
    ];
    const SECRETS: [(&str, &str); 2] = [
        ("REDOX_SIGV4_SECRET_ACCESS_KEY", "s"),
        ("REDOX_OAUTH_CLIENT_SECRET", "c"),
    ];

    #[test]
    fn sigv4_and_oauth_take_their_own_fields_and_exclude_each_other() {
        let sigv4 = send_args(&SIGV4).unwrap();
        assert!(matches!(
            credential_of(&sigv4, &mut secrets(&SECRETS)),
            Ok(Credential::Sigv4(k)) if k.service == "lambda" && k.secret_access_key.expose() == "s"
        ));
        let oauth = send_args(&OAUTH).unwrap();
        assert!(matches!(
            credential_of(&oauth, &mut secrets(&SECRETS)),
            Ok(Credential::OAuth(OAuthClient { scope: None, authentication: ClientAuth::Secret(secret), .. }))
                if secret.expose() == "c"
        ));
        assert!(send_args(&[SIGV4.as_slice(), OAUTH.as_slice()].concat()).is_err());
        let error = credential_of(&sigv4, &mut secrets(&[])).unwrap_err();
        assert!(error.contains("REDOX_SIGV4_SECRET_ACCESS_KEY"), "{error}");
        assert!(error.contains("--secret-access-key-file"), "{error}");
    }

    #[test]
    fn smart_and_jwt_bearer_credentials_sign_with_a_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("key.pem");
        std::fs::write(&pem, crate::auth::jwt::jwk::test_keys::p256_pem()).unwrap();
        let pem = pem.to_str().unwrap();
        let smart = send_args(
            &[
                &OAUTH[..],
                &[
                    "--client-assertion-key-file",
                    pem,
                    "--client-assertion-kid",
                    "k1",
                ],
            ]
            .concat(),
        )
        .unwrap();
        // No client secret is needed (nor read) for an assertion.
        let credential = credential_of(&smart, &mut secrets(&[])).unwrap();
        assert!(matches!(
            &credential,
            Credential::OAuth(OAuthClient { authentication: ClientAuth::Assertion(key), .. })
                if key.alg == "ES256" && key.kid == "k1"
        ));
        assert!(
            credential
                .describe()
                .contains("SMART Backend client assertion (ES256, kid k1)")
        );
        let jwt = send_args(&[
            "--jwt-key-file",
            pem,
            "--jwt-kid",
            "k1",
            "--jwt-issuer",
            "https://redox.example.com",
            "--jwt-audience",
            "https://destination.example.com",
        ])
        .unwrap();
        let credential = credential_of(&jwt, &mut secrets(&[])).unwrap();
        assert!(matches!(
            &credential,
            Credential::JwtBearer(JwtBearer { subject, .. }) if subject == "https://redox.example.com"
        ));
        // A kid is required; JWT Bearer excludes the other credentials; a
        // key type fixes the algorithm.
        assert!(send_args(&[&OAUTH[..], &["--client-assertion-key-file", pem]].concat()).is_err());
        assert!(send_args(&["--jwt-key-file", pem, "--jwt-kid", "k"]).is_err());
        let both = [
            &OAUTH[..],
            &[
                "--jwt-key-file",
                pem,
                "--jwt-kid",
                "k",
                "--jwt-issuer",
                "i",
                "--jwt-audience",
                "a",
            ],
        ]
        .concat();
        assert!(send_args(&both).is_err());
        let wrong_alg = send_args(
            &[
                &OAUTH[..],
                &[
                    "--client-assertion-key-file",
                    pem,
                    "--client-assertion-kid",
                    "k",
                    "--client-assertion-alg",
                    "RS384",
                ],
            ]
            .concat(),
        )
        .unwrap();
        let error = credential_of(&wrong_alg, &mut secrets(&[])).unwrap_err();
        assert!(error.contains("signs with ES256, not RS384"), "{error}");
    }

    #[test]
    fn a_secret_given_as_an_option_value_is_refused_naming_the_variable() {
        for (option, env) in [
            ("--token", "REDOX_VERIFICATION_TOKEN"),
            ("--secret-access-key", "REDOX_SIGV4_SECRET_ACCESS_KEY"),
            ("--session-token", "REDOX_SIGV4_SESSION_TOKEN"),
            ("--client-secret", "REDOX_OAUTH_CLIENT_SECRET"),
        ] {
            for chosen in [&SIGV4[..], &OAUTH[..], &[]] {
                let args = send_args(&[chosen, &[option, "value"]].concat()).unwrap();
                let error = credential_of(&args, &mut secrets(&SECRETS)).unwrap_err();
                assert!(
                    error.starts_with(option) && error.contains(env),
                    "{option}: {error}"
                );
            }
        }
        let verify = Cli::try_parse_from([
            "redox-destination",
            "verify",
            "http://127.0.0.1/",
            "--token",
            "t",
        ])
        .unwrap();
        let Some(Command::Verify(args)) = verify.command else {
            panic!("not verify")
        };
        assert!(read_token(&mut secrets(&[]), &args.token).is_err());
    }

    #[test]
    fn every_secret_a_credential_sends_is_checked_where_it_goes() {
        let destination: ::http::Uri = "https://abc.lambda-url.us-east-1.on.aws/".parse().unwrap();
        let args = send_args(&[
            "--oauth-token-url",
            "http://issuer.example.com/oauth2/token",
            "--client-id",
            "redox",
        ])
        .unwrap();
        let credential = credential_of(&args, &mut secrets(&SECRETS)).unwrap();
        let refused: Vec<&str> = secrets_sent(&credential, &destination)
            .into_iter()
            .filter(|(to, what)| check_secret_transport(to, what).is_err())
            .map(|(_, what)| what)
            .collect();
        assert_eq!(refused, ["the OAuth client secret"]);
        let plain: ::http::Uri = "http://destination.example.com/".parse().unwrap();
        for chosen in [&SIGV4[..], &[]] {
            let args = send_args(chosen).unwrap();
            let credential = credential_of(
                &args,
                &mut secrets(&[SECRETS[0], ("REDOX_VERIFICATION_TOKEN", "t")]),
            )
            .unwrap();
            let sent = secrets_sent(&credential, &plain);
            assert_eq!(sent.len(), 1);
            assert!(check_secret_transport(sent[0].0, sent[0].1).is_err());
        }
    }
}
