//! The template lint step, tested as a user runs it: `scripts/lint-template.sh`
//! must pass `template.yaml` and must fail a broken copy of it.
//!
//! The linters (`sam`, `cfn-lint`) live in the project's `.venv`. When they
//! are missing these tests fail and say to run `make venv`; they never skip,
//! so a machine without the linters cannot report a green template.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn template_text() -> String {
    let path = repo_root().join("template.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn require_linters() {
    let bin = repo_root().join(".venv").join("bin");
    for tool in ["sam", "cfn-lint"] {
        assert!(
            bin.join(tool).is_file(),
            "{} is missing: run `make venv` to install the template linters (sam, cfn-lint)",
            bin.join(tool).display()
        );
    }
}

fn lint(template: &Path) -> Output {
    Command::new("bash")
        .arg(repo_root().join("scripts").join("lint-template.sh"))
        .arg(template)
        .current_dir(repo_root())
        .output()
        .expect("bash runs scripts/lint-template.sh")
}

fn transcript(output: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A copy of the real template with one edit, written where the linters can
/// read it; derived at test time so it tracks every change to the template.
fn broken_copy(dir: &Path, find: &str, replace: &str) -> PathBuf {
    let text = template_text();
    assert_eq!(
        text.matches(find).count(),
        1,
        "template.yaml no longer contains {find:?} exactly once; update this test's edit"
    );
    let path = dir.join("broken-template.yaml");
    std::fs::write(&path, text.replace(find, replace)).expect("write the broken copy");
    path
}

#[test]
fn template_passes_sam_validate_lint_and_cfn_lint() {
    require_linters();
    let output = lint(&repo_root().join("template.yaml"));
    assert!(
        output.status.success(),
        "template.yaml fails the linters:\n{}",
        transcript(&output)
    );
}

#[test]
fn template_with_a_dangling_getatt_fails_both_linters() {
    require_linters();
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = broken_copy(
        dir.path(),
        "deadLetterTargetArn: !GetAtt RedoxDeadLetterQueue.Arn",
        "deadLetterTargetArn: !GetAtt NoSuchDeadLetterQueue.Arn",
    );
    let output = lint(&broken);
    let text = transcript(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("FAILED: sam validate --lint"),
        "sam validate --lint did not catch it:\n{text}"
    );
    assert!(
        stderr.contains("FAILED: cfn-lint"),
        "cfn-lint did not catch it:\n{text}"
    );
    assert!(text.contains("NoSuchDeadLetterQueue"), "{text}");
}

#[test]
fn template_with_an_out_of_range_property_fails_the_lint() {
    require_linters();
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = broken_copy(dir.path(), "MemorySize: 128", "MemorySize: 99999");
    let output = lint(&broken);
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
}

#[test]
fn missing_linters_are_reported_with_the_command_that_installs_them() {
    let output = Command::new("bash")
        .arg(repo_root().join("scripts").join("lint-template.sh"))
        .env(
            "REDOX_VENV",
            repo_root().join("target").join("no-such-venv"),
        )
        .current_dir(repo_root())
        .output()
        .expect("bash runs scripts/lint-template.sh");
    let text = transcript(&output);
    assert_eq!(output.status.code(), Some(3), "{text}");
    assert!(text.contains("make venv"), "{text}");
}
