//! The `redox-destination` binary: Lambda mode when `AWS_LAMBDA_RUNTIME_API`
//! is set, otherwise server mode, an HTTP server on `REDOX_LISTEN`; with a
//! subcommand (`verify`, `send`), the operator's command line ([`cli`]).

use std::process::ExitCode;
use std::sync::Arc;

use redox_destination::app::{self, StartupReport};
use redox_destination::config::Config;
use redox_destination::front::lambda;
use redox_destination::front::server::limits::HostLimits;
use redox_destination::front::server::{self, ServerSettings};
use redox_destination::{cli, telemetry};

/// The start-up banner: a few lines for a person at a terminal, or one
/// log line when logs are JSON (a container's log stream).
fn print_banner(
    report: &StartupReport,
    listen: &std::net::SocketAddr,
    settings: &ServerSettings,
    json: bool,
) {
    if json {
        tracing::info!(
            listen = %listen,
            auth_methods = %join(&report.methods),
            material = %report.material,
            sink = %report.sink,
            behind_alb = settings.behind_alb,
            max_connections = settings.max_connections,
            body_memory_bytes = settings.body_memory_bytes,
            "server listening"
        );
    } else {
        println!("redox-destination listening on http://{listen}/");
        println!(
            "  limits:        {} connections, {} MiB of bodies in memory{}",
            settings.max_connections,
            settings.body_memory_bytes / (1024 * 1024),
            if settings.behind_alb {
                ", client address from the load balancer's X-Forwarded-For"
            } else {
                ""
            }
        );
    }
    if !json {
        println!("  auth methods:  {}", join(&report.methods));
        println!("  auth material: {}", report.material);
        println!("  messages go to: {}", report.sink);
    }
    if let Some(token) = &report.generated_token {
        println!("  no token configured; this run accepts the verification token:");
        println!("    {token}");
        println!("  (set REDOX_VERIFICATION_TOKEN or REDOX_SECRET_FILE to choose one)");
    }
}

fn join(methods: &[redox_destination::auth::AuthMethod]) -> String {
    methods
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() -> ExitCode {
    // Only a command line with arguments is parsed: Lambda starts the
    // bootstrap with none, so its init never pays for the parser.
    if std::env::args_os().len() > 1
        && let Some(code) = cli::main(std::env::args_os())
    {
        return code;
    }
    // Lambda hands the function one invocation at a time, so a single-threaded
    // runtime loses nothing there and spares every request the hand-offs
    // between worker threads (wake-ups, context switches), which cost more
    // CPU than the request itself. Server mode keeps worker threads for
    // concurrent clients.
    let in_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    // Best effort: glibc's defaults stay if refused.
    if in_lambda {
        redox_destination::front::malloc_tuning::tune_for_one_invocation_at_a_time();
    } else {
        redox_destination::front::malloc_tuning::tune_for_bodies_in_flight();
    }
    let mut builder = if in_lambda {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    match builder.enable_all().build() {
        Ok(runtime) => runtime.block_on(run()),
        Err(error) => {
            eprintln!("redox-destination: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("redox-destination: configuration error: {error}");
            if let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") {
                lambda::report_init_error(&api, "Runtime.ConfigError", &error.to_string()).await;
            }
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_json);
    if let Some(namespace) = &config.metrics_namespace {
        telemetry::enable_emf(namespace);
    }
    redox_destination::front::guard::install_panic_hook();

    let (destination, report) = match app::build(&config).await {
        Ok(built) => built,
        Err(error) => {
            eprintln!("redox-destination: start-up error: {error}");
            if let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") {
                lambda::report_init_error(&api, "Runtime.StartupError", &error.to_string()).await;
            }
            return ExitCode::from(2);
        }
    };
    let destination = Arc::new(destination);

    if config.lambda {
        tracing::info!(
            auth_methods = %join(&report.methods),
            material = %report.material,
            sink = %report.sink,
            "lambda runtime starting"
        );
        return match lambda::run(destination, config.deadline_margin).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(%error, "lambda runtime stopped");
                ExitCode::FAILURE
            }
        };
    }

    let settings = match ServerSettings::resolve(&config, &HostLimits::read()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("redox-destination: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "redox-destination: REDOX_LISTEN: cannot listen on {}: {error}",
                config.listen
            );
            return ExitCode::from(2);
        }
    };
    let bound = listener.local_addr().unwrap_or(config.listen);
    print_banner(&report, &bound, &settings, config.log_json);
    match server::serve(listener, destination, settings, server::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("redox-destination: server error: {error}");
            ExitCode::FAILURE
        }
    }
}
