//! Server mode's release binary as a child process, and raw HTTP over
//! sockets, for tests that behave the way slow, idle, spoofing and large
//! clients do.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::signers::try_read_http_message;
use super::{ChildGuard, HttpAnswer, free_port, parse_answer, release_binary};

/// The verification token every [`Server`] accepts.
pub const TOKEN: &str = "tok-server-mode-0123456789";

pub struct Server {
    pub child: ChildGuard,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// The release binary in server mode with a token, a spool, JSON logs
    /// and `env` on top.
    pub fn start(env: &[(&str, &str)]) -> Server {
        Server::start_limited(env, None)
    }

    /// Like [`Server::start`], with `RLIMIT_NOFILE` set to `open_files`
    /// (soft and hard) through util-linux's `prlimit`, which then execs
    /// the server: the child's pid is the server's.
    pub fn start_limited(env: &[(&str, &str)], open_files: Option<u64>) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).expect("spool dir");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let port = free_port();
        let mut command = match open_files {
            Some(limit) => {
                let mut command = Command::new("prlimit");
                command
                    .arg(format!("--nofile={limit}:{limit}"))
                    .arg("--")
                    .arg(release_binary());
                command
            }
            None => Command::new(release_binary()),
        };
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("REDOX_LISTEN", format!("127.0.0.1:{port}"))
            .env("REDOX_VERIFICATION_TOKEN", TOKEN)
            .env("REDOX_SPOOL_DIR", &spool)
            .env("REDOX_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        let mut child = command.spawn().expect(
            "the release binary starts (prlimit is util-linux: apt-get install util-linux)",
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Listening is what this server says it does: a connection alone
            // could reach another test's server that took the same free port
            // (this one then fails to bind and exits).
            let says_listening = std::fs::read_to_string(dir.path().join("server.log"))
                .is_ok_and(|log| log.contains("listening"));
            if says_listening && TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the server exited with {status}:\n{}",
                    std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "the server did not listen");
            thread::sleep(Duration::from_millis(20));
        }
        Server {
            child: ChildGuard(child),
            port,
            dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The log's JSON lines.
    pub fn log_records(&self) -> Vec<serde_json::Value> {
        self.log()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Waits up to 5 s for `text` to appear in the log (a line written as
    /// a connection ends may follow the client's view of it).
    pub fn log_shows(&self, text: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.log().contains(text) {
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
        true
    }

    pub fn spooled(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("spool"))
            .expect("spool dir")
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".json"))
            .count()
    }

    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        stream
    }

    /// Peak resident memory (VmHWM) so far, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmHWM:")
    }

    /// CPU time used so far (user + system), in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("stat");
        // Fields after the command name (which may hold spaces, in
        // parentheses): state is the 3rd field, utime the 14th, stime the 15th.
        let after = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = after.split(' ').collect();
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
    }

    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.0.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.0.try_wait(), Ok(None))
    }

    /// One request on a new connection.
    pub fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpAnswer {
        let mut stream = self.connect();
        write_request(&mut stream, method, target, headers, body, true);
        read_answer(&mut stream, Duration::from_secs(60)).expect("an answer")
    }

    pub fn push(&self, headers: &[(&str, &str)], body: &[u8]) -> HttpAnswer {
        let mut all = push_headers();
        all.extend_from_slice(headers);
        self.request("POST", "/", &all, body)
    }
}

pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

pub fn clock_ticks_per_second() -> u64 {
    let output = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf runs");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK")
}

pub fn push_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("content-type", "application/json"),
        ("verification-token", TOKEN),
    ]
}

pub fn request_head(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    length: usize,
    close: bool,
) -> String {
    let mut head = format!("{method} {target} HTTP/1.1\r\nhost: redox.example.com\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {length}\r\n"));
    if close {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    head
}

pub fn write_request(
    stream: &mut TcpStream,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    close: bool,
) {
    let head = request_head(method, target, headers, body.len(), close);
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
}

/// Reads one answer (head, then `content-length` bytes); `None` when the
/// server closes the connection first or `limit` passes.
pub fn read_answer(stream: &mut TcpStream, limit: Duration) -> Option<HttpAnswer> {
    stream.set_read_timeout(Some(limit)).expect("read timeout");
    try_read_http_message(stream).map(|raw| parse_answer(&raw))
}

/// How long until the server closes `stream` (EOF or reset), reading and
/// discarding anything it sends; `None` if still open after `limit`.
pub fn time_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).expect("read timeout");
    let mut chunk = [0u8; 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(_) => return Some(started.elapsed()),
        }
    }
}

pub fn error_code(answer: &HttpAnswer) -> String {
    answer.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
