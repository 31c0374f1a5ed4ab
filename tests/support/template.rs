//! `template.yaml` (and the container front door's
//! `deploy/container/template.yaml`) as JSON, decoded by cfn-lint's own
//! parser (intrinsic functions kept as `{"Ref": …}`, `{"Fn::GetAtt": …}`),
//! from the project's `.venv`.

use std::process::Command;

use serde_json::Value;

use super::{repo_root, venv_bin};

pub fn template() -> Value {
    template_at("template.yaml")
}

/// Another template of the repository, by its path from the root.
pub fn template_at(path: &str) -> Value {
    let output = Command::new(venv_bin("python"))
        .arg("-c")
        .arg(
            "import json, sys\n\
             from cfnlint.decode import decode_str\n\
             template, problems = decode_str(open(sys.argv[1]).read())\n\
             assert not problems, problems\n\
             print(json.dumps(template, default=str))",
        )
        .arg(repo_root().join(path))
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "cfn-lint could not decode {path}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("decoded template is JSON")
}
