//! Start-up: turns a [`Config`] into a ready [`Destination`].
//!
//! Builds the AWS clients once (only when a queue or secret is configured),
//! chooses the auth material sources and the sink, builds the JWKS client
//! when a remote JWT issuer is configured, fetches the material (and the
//! JWKS) during init, and describes the result for the start-up banner.
//! Every failure is a [`StartupError`] naming the variable to fix.

use std::sync::Arc;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use base64::Engine as _;

use crate::auth::jwt::caller::CallerPin;
use crate::auth::jwt::jwks::{ClientKeySets, HttpsJwks, JwksCache};
use crate::auth::jwt::trust::{BuiltinBase, JwtSettings, JwtTrust, RemoteIssuer};
use crate::auth::material::secrets_manager::SecretsManagerMaterial;
use crate::auth::material::{
    AuthMaterial, AuthMaterialSource, FileMaterial, MaterialCache, MaterialError, StaticMaterial,
};
use crate::auth::{AuthMethod, AuthPolicy, Authenticator};
use crate::config::{AUTO_ISSUER, Config, ConfigError};
use crate::destination::Destination;
use crate::oauth::BuiltinIssuer;
use crate::sink::Sink;
use crate::sink::spool::SpoolSink;
use crate::sink::sqs::{S3Offload, SqsSink};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{variable}: {problem}")]
    Setting {
        variable: &'static str,
        problem: String,
    },
}

fn setting(variable: &'static str, problem: impl Into<String>) -> StartupError {
    StartupError::Setting {
        variable,
        problem: problem.into(),
    }
}

/// What the start-up banner tells the user.
#[derive(Debug, Clone)]
pub struct StartupReport {
    pub material: String,
    pub sink: String,
    pub methods: Vec<AuthMethod>,
    /// A token made up because no material was configured (local only).
    pub generated_token: Option<String>,
}

/// Loads the AWS SDK configuration: region, credentials and endpoint from
/// the standard environment (`AWS_REGION`, `AWS_ENDPOINT_URL`, …). Each
/// client then gets its own timeouts and retries (`sqs_client` and friends, below).
pub async fn aws_sdk_config(config: &Config) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(aws_timeouts(config))
        .load()
        .await
}

/// One bound per AWS call (`REDOX_AWS_TIMEOUT_MS`) and no per-attempt
/// timeout: an attempt abandoned while it is slow but succeeding would be
/// sent again, and a SendMessage sent twice is a duplicate message.
fn aws_timeouts(config: &Config) -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_timeout(config.aws_timeout)
        .connect_timeout(config.aws_timeout.min(Duration::from_secs(2)))
        .build()
}

/// Secrets Manager and S3 calls are idempotent (a read; a put of the same
/// bytes to the same key), so the SDK may retry them once.
fn idempotent_retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(2)
}

/// The SQS client retries nothing itself: [`SqsSink`] decides, because only
/// it knows whether a failed SendMessage may have been stored.
fn sqs_client(sdk: &aws_config::SdkConfig, config: &Config) -> aws_sdk_sqs::Client {
    let sqs = aws_sdk_sqs::config::Builder::from(sdk)
        .timeout_config(aws_timeouts(config))
        .retry_config(RetryConfig::disabled())
        .interceptor(crate::sink::sqs_body::FastBodyInterceptor::new())
        .build();
    aws_sdk_sqs::Client::from_conf(sqs)
}

/// The S3 client; path-style addressing when an endpoint is overridden,
/// because emulators have no bucket subdomains.
fn s3_client(sdk: &aws_config::SdkConfig, config: &Config) -> aws_sdk_s3::Client {
    let s3 = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .timeout_config(aws_timeouts(config))
        .retry_config(idempotent_retries())
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

fn secrets_client(sdk: &aws_config::SdkConfig, config: &Config) -> aws_sdk_secretsmanager::Client {
    let secrets = aws_sdk_secretsmanager::config::Builder::from(sdk)
        .timeout_config(aws_timeouts(config))
        .retry_config(idempotent_retries())
        .build();
    aws_sdk_secretsmanager::Client::from_conf(secrets)
}

/// A random 32-byte token, base64url without padding.
pub fn generate_token() -> Result<String, StartupError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        setting(
            "REDOX_VERIFICATION_TOKEN",
            format!("no OS randomness to generate a token: {e}"),
        )
    })?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Builds the destination the configuration describes, loading the AWS
/// SDK configuration from the environment when a queue or secret needs it.
pub async fn build(config: &Config) -> Result<(Destination, StartupReport), StartupError> {
    let needs_aws = config.secret_id.is_some() || config.queue_url.is_some();
    let sdk_config = if needs_aws {
        Some(aws_sdk_config(config).await)
    } else {
        None
    };
    build_with_sdk(config, sdk_config).await
}

/// Builds the destination with a given AWS SDK configuration (tests pass
/// one pointing at an emulator).
pub async fn build_with_sdk(
    config: &Config,
    sdk_config: Option<aws_config::SdkConfig>,
) -> Result<(Destination, StartupReport), StartupError> {
    let mut sources: Vec<Box<dyn AuthMaterialSource>> = Vec::new();
    let mut generated_token = None;
    if let (Some(secret_id), Some(sdk)) = (&config.secret_id, &sdk_config) {
        sources.push(Box::new(SecretsManagerMaterial::new(
            secrets_client(sdk, config),
            secret_id.clone(),
            config.aws_timeout,
        )));
    }
    if let Some(path) = &config.secret_file {
        sources.push(Box::new(FileMaterial::new(path.clone())));
    }
    if let Some(list) = &config.verification_tokens {
        let material = AuthMaterial::from_token_list(list)
            .map_err(|e| setting("REDOX_VERIFICATION_TOKEN", e.to_string()))?;
        sources.push(Box::new(StaticMaterial::new(
            material,
            "REDOX_VERIFICATION_TOKEN",
        )));
    }
    if sources.is_empty() {
        // A made-up token is for a developer at a terminal: in Lambda or
        // behind a load balancer nobody would see it (and it would be
        // printed to the log).
        if config.lambda || config.server.behind_alb {
            return Err(setting(
                "REDOX_SECRET_ID",
                "no auth material: set REDOX_SECRET_ID (or REDOX_SECRET_FILE / REDOX_VERIFICATION_TOKEN)",
            ));
        }
        let token = generate_token()?;
        let mut material = AuthMaterial::default();
        material
            .add_token(&token)
            .map_err(|e| setting("REDOX_VERIFICATION_TOKEN", e.to_string()))?;
        sources.push(Box::new(StaticMaterial::new(
            material,
            "a token generated at start-up",
        )));
        generated_token = Some(token);
    }
    let cache = Arc::new(
        MaterialCache::new(sources, config.secret_ttl)
            .with_miss_refetch_interval(config.secret_refetch),
    );
    let issuer = config.oauth_issuer.as_deref().map(|url| {
        let issuer = match url {
            AUTO_ISSUER => BuiltinIssuer::auto(config.oauth_token_ttl),
            url => BuiltinIssuer::new(url, config.oauth_token_ttl),
        };
        issuer
            .with_failure_limits(config.oauth_failure_limits)
            .with_client_keys(ClientKeySets::https(config.aws_timeout))
    });
    let trust = JwtTrust {
        remote: remote_issuer(config)?,
        builtin: issuer.as_ref().map(|issuer| issuer.base.clone()),
        ..JwtTrust::default()
    };

    // Fetch during init: bad material stops start-up; an unreachable source
    // does not (requests get 503 until it answers, and Redox retries).
    let initial = match cache.current().await {
        Ok(material) => Some(material),
        Err(MaterialError::Invalid(why)) => {
            let variable = if config.secret_id.is_some() {
                "REDOX_SECRET_ID"
            } else {
                "REDOX_SECRET_FILE"
            };
            return Err(setting(variable, why));
        }
        Err(error @ MaterialError::Unreachable(_)) => {
            if config.secret_file.is_some() && config.secret_id.is_none() {
                return Err(setting("REDOX_SECRET_FILE", error.to_string()));
            }
            tracing::warn!(%error, "auth material not available yet; pushes get 503 until it is");
            None
        }
    };

    let methods = match &config.auth_methods {
        Some(methods) => methods.clone(),
        None => {
            let mut methods = vec![AuthMethod::Token];
            if initial
                .as_ref()
                .is_some_and(|m| !m.auth.sigv4_keys.is_empty())
            {
                methods.push(AuthMethod::Sigv4);
            }
            if !config.allowed_principals.is_empty() {
                methods.push(AuthMethod::Iam);
            }
            if config.jwt_configured()
                || initial
                    .as_ref()
                    .is_some_and(|m| !m.auth.jwt_issuers.is_empty())
            {
                methods.push(AuthMethod::Jwt);
            }
            methods
        }
    };
    if let Some(material) = &initial {
        check_jwt_issuers(config, &methods, material)?;
    }
    if config.oauth_issuer.is_some()
        && let Some(material) = &initial
    {
        if material.issuer.signing_keys().is_empty() {
            return Err(setting(
                "REDOX_OAUTH_ISSUER",
                "the built-in issuer needs oauth_signing_keys in the auth material",
            ));
        }
        if material.issuer.clients().is_empty() {
            return Err(setting(
                "REDOX_OAUTH_ISSUER",
                "the built-in issuer needs oauth_clients in the auth material",
            ));
        }
    }
    if let Some(remote) = &trust.remote
        && remote.jwks.current().await.is_none()
    {
        tracing::warn!(
            jwks = %remote.jwks.describe(),
            "JWKS not available yet; bearer JWTs get 503 until it is"
        );
    }
    if methods.contains(&AuthMethod::Iam) && !config.lambda {
        tracing::warn!(
            "the iam method needs a gateway-verified principal; the local server never has one"
        );
    }

    let sink: Arc<dyn Sink> = match (&config.queue_url, &sdk_config) {
        (Some(queue_url), Some(sdk)) => Arc::new(SqsSink::new(
            sqs_client(sdk, config),
            queue_url.clone(),
            config.fifo_group.clone(),
            config.aws_timeout,
            config.payload_bucket.as_ref().map(|bucket| S3Offload {
                client: s3_client(sdk, config),
                bucket: bucket.clone(),
                prefix: config.payload_prefix.clone(),
                threshold: config.offload_threshold,
                always: config.offload_all,
            }),
        )),
        // A spool on a Lambda's or a container's disk is lost with it.
        _ if (config.lambda || config.server.behind_alb) && !config.spool_dir_set => {
            return Err(setting(
                "REDOX_QUEUE_URL",
                "required in Lambda and behind a load balancer (REDOX_BEHIND_ALB): the SQS queue \
                 that accepted messages go to",
            ));
        }
        _ => Arc::new(SpoolSink::open(config.spool_dir.clone()).map_err(|e| {
            setting(
                "REDOX_SPOOL_DIR",
                format!("{}: {e}", config.spool_dir.display()),
            )
        })?),
    };

    let mut material_description = cache.describe();
    if let Some(remote) = &trust.remote {
        material_description.push_str(&format!(" + {}", remote.jwks.describe()));
    }
    match issuer.as_ref().map(|issuer| &issuer.base) {
        Some(BuiltinBase::Fixed(settings)) => {
            material_description.push_str(&format!(" + built-in OAuth issuer {}", settings.issuer))
        }
        Some(BuiltinBase::Auto) => {
            material_description.push_str(" + built-in OAuth issuer at each request's own URL")
        }
        None => {}
    }
    let report = StartupReport {
        material: material_description,
        sink: sink.describe(),
        methods: methods.clone(),
        generated_token,
    };
    let destination = Destination {
        auth: Authenticator {
            material: cache,
            trust,
            policy: AuthPolicy {
                enabled: methods,
                allowed_principals: config.allowed_principals.clone(),
                clock_skew: config.clock_skew,
            },
        },
        issuer,
        sink,
        max_body_bytes: config.max_body_bytes,
        request_timeout: config.request_timeout,
    };
    Ok((destination, report))
}

/// The auth material's `jwt_issuers` against the configuration: the `jwt`
/// method on when there are some, some issuer when it is on, and none named
/// like the remote or the built-in issuer (which would win over it).
fn check_jwt_issuers(
    config: &Config,
    methods: &[AuthMethod],
    material: &crate::auth::material::Material,
) -> Result<(), StartupError> {
    let inline = &material.auth.jwt_issuers;
    let jwt_on = methods.contains(&AuthMethod::Jwt);
    if !inline.is_empty() && !jwt_on {
        return Err(setting(
            "REDOX_AUTH_METHODS",
            "the auth material has jwt_issuers but the jwt method is not enabled",
        ));
    }
    if jwt_on && inline.is_empty() && !config.jwt_configured() {
        return Err(setting(
            "REDOX_JWT_JWKS_URL",
            "the jwt method needs an issuer: set REDOX_JWT_JWKS_URL, REDOX_JWT_ISSUER and \
             REDOX_JWT_AUDIENCE, REDOX_OAUTH_ISSUER for the built-in token endpoint, or \
             jwt_issuers in the auth material",
        ));
    }
    let taken = [
        config.jwt_remote.as_ref().map(|r| r.issuer.as_str()),
        config
            .oauth_issuer
            .as_deref()
            .filter(|url| *url != AUTO_ISSUER),
    ];
    for (i, issuer) in inline.iter().enumerate() {
        if taken
            .iter()
            .flatten()
            .any(|name| *name == issuer.settings.issuer)
        {
            return Err(setting(
                "REDOX_JWT_ISSUER",
                format!(
                    "jwt_issuers[{i}].issuer is REDOX_JWT_ISSUER's or REDOX_OAUTH_ISSUER's; \
                     an issuer is configured in one place only"
                ),
            ));
        }
    }
    Ok(())
}

/// The identity provider the `jwt` method trusts, from the configuration;
/// the JWKS client is built here, once.
fn remote_issuer(config: &Config) -> Result<Option<RemoteIssuer>, StartupError> {
    let Some(remote) = &config.jwt_remote else {
        return Ok(None);
    };
    let source = HttpsJwks::new(&remote.jwks_url, config.aws_timeout)
        .map_err(|why| setting("REDOX_JWT_JWKS_URL", why))?;
    let callers = (!remote.allowed_callers.is_empty())
        .then(|| CallerPin::new(remote.caller_claim.clone(), &remote.allowed_callers));
    if callers.is_none() && remote.required_scopes.is_empty() {
        tracing::warn!(
            issuer = %remote.issuer,
            "the remote JWT issuer has no caller pin (REDOX_JWT_ALLOWED_CALLERS) and no \
             required scope (REDOX_JWT_REQUIRED_SCOPE): every client it serves that can get a \
             token for REDOX_JWT_AUDIENCE is accepted"
        );
    }
    Ok(Some(RemoteIssuer {
        settings: JwtSettings {
            issuer: remote.issuer.clone(),
            audiences: remote.audiences.clone(),
            required_scopes: remote.required_scopes.clone(),
            callers,
            max_lifetime: None,
        },
        jwks: JwksCache::new(Box::new(source), remote.jwks_ttl)
            .with_refetch_interval(remote.jwks_refetch),
    }))
}
