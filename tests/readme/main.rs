//! The README as a test: every walkthrough it marks (README: Development,
//! "Walkthroughs are tests") runs as written, against the release binaries
//! `make build-release` made, on loopback, with the moto emulator where it
//! starts one, and must print the output the README shows next to it.
//!
//! Each walkthrough runs alone, after the set-up block, in a fresh temporary
//! folder (holding links to the repository's `.venv` and `target`, what the
//! walkthroughs use of the repository root); then all of them run in one
//! shell and one folder, in README order, as a reader would run them one
//! after another. Walkthroughs that need what a test cannot have (AWS, a
//! container daemon) are listed as skipped, with the reason, never left
//! out silently; a shell block without a marker fails the test.
//!
//! Its own harness (`harness = false`): it prints each walkthrough's result
//! as it goes. `cargo test --test readme -- NAME` runs only the walkthroughs
//! whose names contain NAME (alone); `-- one-shell` only the run in one shell.

mod expected;
mod markdown;
mod shell;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use expected::Pattern;
use markdown::{Readme, Walkthrough};
use shell::{Outcome, Ports, Script, TAG};

/// Bound on one walkthrough alone; the run in one shell gets this per
/// walkthrough.
const TIMEOUT: Duration = Duration::from_secs(180);
/// Where `make build-release` puts the binaries the walkthroughs run.
const RELEASE_DIR: &str = "target/x86_64-unknown-linux-gnu/release";
/// Tools every walkthrough may use, and where to get them.
const TOOLS: &[(&str, &str)] = &[
    ("bash", "bash"),
    ("curl", "curl (Debian/Ubuntu: apt-get install curl)"),
    (
        "openssl",
        "OpenSSL 1.1.1 or later (apt-get install openssl)",
    ),
    ("python3", "Python 3 (apt-get install python3)"),
    ("comm", "coreutils"),
];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (filters, skips) = name_filters(&args);
    let text = std::fs::read_to_string(repo_root().join("README.md")).expect("read README.md");
    let readme = match markdown::parse(&text) {
        Ok(readme) => readme,
        Err(errors) => {
            for error in errors {
                eprintln!("readme: {error}");
            }
            return ExitCode::FAILURE;
        }
    };
    if args.iter().any(|a| a == "--list") {
        for walkthrough in &readme.walkthroughs {
            println!("{}: test", walkthrough.name);
        }
        println!("one-shell: test");
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--ignored") {
        return ExitCode::SUCCESS;
    }
    match run_all(&readme, &filters, &skips) {
        Ok(()) => ExitCode::SUCCESS,
        Err(()) => ExitCode::FAILURE,
    }
}

/// The names asked for and the `--skip` names, from libtest-style
/// arguments (the options libtest gives a value are passed over with it).
fn name_filters(args: &[String]) -> (Vec<&str>, Vec<&str>) {
    const WITH_VALUE: &[&str] = &[
        "--test-threads",
        "--color",
        "--format",
        "--logfile",
        "--shuffle-seed",
        "-Z",
    ];
    let (mut filters, mut skips) = (Vec::new(), Vec::new());
    let mut args = args.iter().map(String::as_str);
    while let Some(arg) = args.next() {
        if arg == "--skip" {
            skips.extend(args.next());
        } else if WITH_VALUE.contains(&arg) {
            args.next();
        } else if !arg.starts_with('-') {
            filters.push(arg);
        }
    }
    (filters, skips)
}

fn run_all(readme: &Readme, filters: &[&str], skips: &[&str]) -> Result<(), ()> {
    let started = Instant::now();
    let selected = |name: &str| {
        (filters.is_empty() || filters.iter().any(|f| name.contains(f)))
            && !skips.iter().any(|s| name.contains(s))
    };
    let (skipped, runnable): (Vec<&Walkthrough>, Vec<&Walkthrough>) = readme
        .walkthroughs
        .iter()
        .partition(|w| w.skip_reason().is_some());
    let alone: Vec<&Walkthrough> = runnable
        .iter()
        .copied()
        .filter(|w| selected(&w.name))
        .collect();
    let one_shell = selected("one-shell");
    if alone.is_empty() && !one_shell {
        println!("readme: no walkthrough matches {filters:?}");
        return Ok(());
    }
    println!(
        "readme: {} walkthroughs in README.md, {} run, {} skipped",
        readme.walkthroughs.len(),
        runnable.len(),
        skipped.len()
    );
    for walkthrough in &skipped {
        println!(
            "  skipped: {} ({})",
            walkthrough.name,
            walkthrough.skip_reason().unwrap_or_default()
        );
    }
    if let Err(problem) = expected::self_check().and_then(|()| prerequisites(&runnable)) {
        println!("readme: {problem}");
        return Err(());
    }
    let mut failed = 0;
    for walkthrough in &alone {
        let (ok, elapsed) = run_walkthroughs(readme, &[walkthrough]);
        println!(
            "  {} alone: {} ({:.1} s)",
            walkthrough.name,
            if ok { "ok" } else { "FAILED" },
            elapsed.as_secs_f64()
        );
        failed += usize::from(!ok);
    }
    if one_shell {
        let (ok, elapsed) = run_walkthroughs(readme, &runnable);
        println!(
            "  all {} in one shell, README order: {} ({:.1} s)",
            runnable.len(),
            if ok { "ok" } else { "FAILED" },
            elapsed.as_secs_f64()
        );
        failed += usize::from(!ok);
    }
    println!(
        "readme: {} in {:.1} s",
        if failed == 0 { "ok" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    if failed == 0 { Ok(()) } else { Err(()) }
}

/// What every walkthrough needs, checked first, so that a missing tool is a
/// failure that says how to install it.
fn prerequisites(runnable: &[&Walkthrough]) -> Result<(), String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for (tool, install) in TOOLS {
        if !std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()) {
            return Err(format!("{tool} is not on PATH: install {install}"));
        }
    }
    for binary in ["redox-destination", "redox-consumer"] {
        let path = repo_root().join(RELEASE_DIR).join(binary);
        if !path.is_file() {
            return Err(format!(
                "{} is missing: run `make build-release` first (`make test` does)",
                path.display()
            ));
        }
    }
    if runnable.iter().any(|w| w.needs_emulator()) {
        for tool in ["moto_server", "python"] {
            let path = repo_root().join(".venv/bin").join(tool);
            if !path.is_file() {
                return Err(format!(
                    "{} is missing: run `make venv` (the pinned moto and boto3 of requirements-dev.txt)",
                    path.display()
                ));
            }
        }
    }
    Ok(())
}

/// Runs `walkthroughs` one after another in one shell, in a fresh folder;
/// prints what went wrong with each that failed. True when all passed.
fn run_walkthroughs(readme: &Readme, walkthroughs: &[&Walkthrough]) -> (bool, Duration) {
    let root = tempfile::tempdir().expect("temp dir");
    let folder = root.path().join("work");
    let home = root.path().join("home");
    for dir in [&folder, &home] {
        std::fs::create_dir(dir).expect("create folder");
    }
    for link in [".venv", "target"] {
        std::os::unix::fs::symlink(repo_root().join(link), folder.join(link))
            .expect("link into the folder");
    }
    let ports = Ports::free();
    let script = Script::new(&readme.setup, walkthroughs, ports);
    let env = environment(&home, ports);
    let timeout = TIMEOUT * u32::try_from(walkthroughs.len()).unwrap_or(1);
    let outcome = shell::run(&script, &folder, &env, timeout);
    let mut ok = true;
    let segments = segments(&outcome.output);
    for walkthrough in walkthroughs {
        let segment = segments
            .iter()
            .find(|(name, _, _)| name == &walkthrough.name);
        let problem = match segment {
            None => Some("did not start: an earlier one failed".to_owned()),
            Some((_, lines, false)) => Some(stopped(&outcome, &script, lines)),
            Some((_, lines, true)) => shown_output_missing(walkthrough, ports, lines),
        };
        match (problem, segment) {
            (None, _) => {}
            (Some(problem), None) => {
                ok = false;
                println!("    {}: {problem}", walkthrough.name);
            }
            (Some(problem), Some((_, lines, _))) => {
                ok = false;
                report(walkthrough, &problem, lines, &folder);
            }
        }
    }
    if !outcome.leftovers.is_empty() && ok {
        ok = false;
        println!(
            "    still running after the shell ended (killed now): {}",
            outcome.leftovers.join(", ")
        );
    }
    if outcome.status != Some(0) && ok {
        ok = false;
        println!("    the shell ended with {:?}", outcome.status);
        print_tail("output", &outcome.output, 40);
    }
    (ok, outcome.elapsed)
}

/// The environment of a run: nothing of the test's own but PATH, so that
/// no AWS credential, profile or region of the machine is used; HOME is a
/// fresh folder; REDOX_LISTEN moves the destination's default port.
fn environment(home: &Path, ports: Ports) -> Vec<(String, String)> {
    // Not the repository's .venv/bin, which `make test` puts first: a
    // walkthrough names what it uses from there (`.venv/bin/python`).
    let venv = repo_root().join(".venv/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::env::split_paths(&path).filter(|dir| *dir != venv))
        .unwrap_or(path);
    let mut env = vec![
        ("PATH".to_owned(), path.to_string_lossy().into_owned()),
        ("HOME".to_owned(), home.display().to_string()),
        ("LANG".to_owned(), "C.UTF-8".to_owned()),
        (
            "REDOX_LISTEN".to_owned(),
            format!("127.0.0.1:{}", ports.destination),
        ),
        // Never ask an instance metadata service for credentials or a region.
        ("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned()),
    ];
    if let Ok(tmp) = std::env::var("TMPDIR") {
        env.push(("TMPDIR".to_owned(), tmp));
    }
    env
}

/// Each walkthrough's output lines, by the harness's begin/end markers, and
/// whether it reached its end.
fn segments(output: &str) -> Vec<(String, Vec<&str>, bool)> {
    let mut found: Vec<(String, Vec<&str>, bool)> = Vec::new();
    for line in output.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(name) = line.strip_prefix(&format!("{TAG} begin ")) {
            found.push((name.to_owned(), Vec::new(), false));
        } else if line.starts_with(&format!("{TAG} end ")) {
            if let Some(last) = found.last_mut() {
                last.2 = true;
            }
        } else if let Some(last) = found.last_mut() {
            last.1.push(line);
        }
    }
    found
}

/// Why a walkthrough stopped before its end.
fn stopped(outcome: &Outcome, script: &Script, lines: &[&str]) -> String {
    if outcome.timed_out {
        return format!(
            "did not finish within {} s (something it waits for never came)",
            TIMEOUT.as_secs()
        );
    }
    let mut told: Vec<String> = lines
        .iter()
        .filter(|l| l.starts_with(TAG))
        .map(|l| script.explain(l.trim_start_matches(TAG).trim()))
        .collect();
    // A failure inside the harness's own check follows the check's message.
    if told.len() > 1 {
        told.retain(|m| !m.contains(" at script line "));
    }
    if told.is_empty() {
        format!("stopped with exit status {:?}", outcome.status)
    } else {
        told.join("; ")
    }
}

/// The first shown line its output lacks, if any.
fn shown_output_missing(walkthrough: &Walkthrough, ports: Ports, lines: &[&str]) -> Option<String> {
    let commands = ports.apply(&walkthrough.commands());
    let output: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.starts_with(TAG))
        .collect();
    for shown in walkthrough.shown() {
        let patterns: Vec<Pattern> = shown
            .iter()
            .map(|line| Pattern::new(&ports.apply(&line.text), &commands))
            .collect();
        if let Err(missing) = expected::find_in_order(&patterns, &output) {
            let line = &shown[missing.shown_index];
            let after = match missing.after_output_line {
                Some(i) => format!("after the output line {:?}", output[i]),
                None => "anywhere".to_owned(),
            };
            return Some(format!(
                "README.md:{} shows {:?}, not printed {after}",
                line.readme_line,
                ports.apply(&line.text)
            ));
        }
    }
    None
}

fn report(walkthrough: &Walkthrough, problem: &str, lines: &[&str], folder: &Path) {
    let first = walkthrough.blocks.first().map_or(0, |b| b.first_line);
    println!("    {} (README.md:{first}): {problem}", walkthrough.name);
    print_tail("its output", &lines.join("\n"), 60);
    // The servers' logs: what a reader would look at next.
    let mut logs: Vec<PathBuf> = std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "log"))
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        print_tail(
            &log.file_name().unwrap_or_default().to_string_lossy(),
            &text,
            30,
        );
    }
}

fn print_tail(what: &str, text: &str, count: usize) {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(count);
    println!(
        "    ---- {what}{} ----",
        if start > 0 {
            format!(" (last {count} lines)")
        } else {
            String::new()
        }
    );
    for line in &lines[start..] {
        println!("    | {line}");
    }
}
