//! Runs walkthroughs as a reader would: their blocks, in README order, in
//! one bash, in a fresh folder. What the harness adds to the script checks
//! the rules a walkthrough must keep so that the next one can follow it in
//! the same shell and folder: it stops what it started (no job left
//! running), leaves no `REDOX_*` or `AWS_*` variable exported that was not
//! before it, and stays in the folder it began in.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::markdown::{Lines, Walkthrough};

/// The ports a run uses instead of the README's 8080 (the destination) and
/// 5000 (moto), so that runs on one machine never collide.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub destination: u16,
    pub emulator: u16,
}

impl Ports {
    pub fn free() -> Ports {
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("no free local port")
        };
        Ports {
            destination: free(),
            emulator: free(),
        }
    }

    /// The README's text with this run's ports.
    pub fn apply(&self, text: &str) -> String {
        text.replace("127.0.0.1:8080", &format!("127.0.0.1:{}", self.destination))
            .replace("127.0.0.1:5000", &format!("127.0.0.1:{}", self.emulator))
            .replace("-p 5000", &format!("-p {}", self.emulator))
    }
}

/// Lines the harness prints itself, told apart from the walkthroughs' own.
pub const TAG: &str = "::readme::";

/// A bash script: the set-up block, then each walkthrough between markers.
pub struct Script {
    pub text: String,
    /// The README line of each script line (index = script line - 1).
    readme_lines: Vec<Option<usize>>,
}

impl Script {
    pub fn new(setup: &Lines, walkthroughs: &[&Walkthrough], ports: Ports) -> Script {
        let mut script = Script {
            text: String::new(),
            readme_lines: Vec::new(),
        };
        // set -e: a walkthrough fails when one of its commands fails (as a
        // reader would stop there); pipefail: also inside a pipe.
        script.push_harness(&format!(
            "set -eE -o pipefail\n\
             trap 'echo \"{TAG} command failed (exit status $?) at script line $LINENO: $BASH_COMMAND\" >&2' ERR"
        ));
        script.push_block(setup, ports);
        script.push_harness(&format!(
            r#"__readme_exported() {{ env | grep -E '^(REDOX|AWS)_' | cut -d= -f1 | sort || true; }}
__readme_before=$(__readme_exported)
__readme_folder=$PWD
__readme_check() {{
  local pid left=""
  for pid in $(jobs -p); do
    if kill -0 "$pid" 2>/dev/null; then left="$left $pid ($(cat /proc/$pid/comm 2>/dev/null))"; fi
  done
  if [ -n "$left" ]; then echo "{TAG} $1 left running:$left: stop what a walkthrough starts" >&2; return 1; fi
  local added
  added=$(comm -13 <(echo "$__readme_before") <(__readme_exported) | tr '\n' ' ')
  if [ -n "${{added// /}}" ]; then echo "{TAG} $1 left exported: $added(unset them at its end)" >&2; return 1; fi
  if [ "$PWD" != "$__readme_folder" ]; then echo "{TAG} $1 left the shell in $PWD" >&2; return 1; fi
}}"#
        ));
        for walkthrough in walkthroughs {
            script.push_harness(&format!("echo '{TAG} begin {}'", walkthrough.name));
            for block in &walkthrough.blocks {
                script.push_block(block, ports);
            }
            script.push_harness(&format!(
                "__readme_check {name}\necho '{TAG} end {name}'",
                name = walkthrough.name
            ));
        }
        script
    }

    fn push_harness(&mut self, text: &str) {
        for line in text.lines() {
            self.text.push_str(line);
            self.text.push('\n');
            self.readme_lines.push(None);
        }
    }

    fn push_block(&mut self, block: &Lines, ports: Ports) {
        for (k, line) in block.lines.iter().enumerate() {
            self.text.push_str(&ports.apply(line));
            self.text.push('\n');
            self.readme_lines.push(Some(block.first_line + k));
        }
    }

    /// "script line N" in the harness's messages, as README lines.
    pub fn explain(&self, line: &str) -> String {
        let Some((head, tail)) = line.split_once(" at script line ") else {
            return line.to_owned();
        };
        let (number, rest) = tail.split_once(':').unwrap_or((tail, ""));
        match number
            .trim()
            .parse::<usize>()
            .ok()
            .and_then(|n| self.readme_lines.get(n.wrapping_sub(1)).copied().flatten())
        {
            Some(readme) => format!("{head} at README.md:{readme}:{rest}"),
            None => line.to_owned(),
        }
    }
}

/// How a run ended.
pub struct Outcome {
    /// Everything it printed, stdout and stderr interleaved as written.
    pub output: String,
    pub status: Option<i32>,
    pub timed_out: bool,
    /// Processes of its group still alive after the shell ended (killed
    /// since): something it started and did not stop.
    pub leftovers: Vec<String>,
    pub elapsed: Duration,
}

/// Runs `script` with bash in `folder` (the walkthrough's working folder,
/// whose parent holds the script and its output), with exactly `env`.
pub fn run(script: &Script, folder: &Path, env: &[(String, String)], timeout: Duration) -> Outcome {
    let parent = folder.parent().expect("the work folder has a parent");
    let script_path = parent.join("walkthrough.sh");
    std::fs::write(&script_path, &script.text).expect("write the script");
    let output_path = parent.join("output.txt");
    let output = std::fs::File::create(&output_path).expect("create the output file");
    let started = Instant::now();
    let mut child = Command::new("bash")
        .arg(&script_path)
        .current_dir(folder)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(output.try_clone().expect("output file"))
        .stderr(output)
        // Its own process group: whatever it leaves running is found and
        // stopped by the group's id.
        .process_group(0)
        .spawn()
        .expect("start bash");
    let group = child.id() as i32;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for bash") {
            break status.code();
        }
        if started.elapsed() > timeout {
            timed_out = true;
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = started.elapsed();
    let leftovers = stop_group(group);
    let _ = child.kill();
    let _ = child.wait();
    Outcome {
        output: String::from_utf8_lossy(&std::fs::read(&output_path).unwrap_or_default())
            .into_owned(),
        status,
        timed_out,
        leftovers,
        elapsed,
    }
}

/// Kills every live process of `group`; returns them as "pid (command)".
fn stop_group(group: i32) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = tail.split_whitespace().collect();
        let in_group = fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(group);
        let zombie = fields.first() == Some(&"Z");
        if in_group && !zombie {
            let command = head.split_once('(').map_or("", |(_, c)| c);
            found.push(format!("{pid} ({command})"));
            // SAFETY: kill(2) with a pid read from /proc, no memory involved.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
    found
}
