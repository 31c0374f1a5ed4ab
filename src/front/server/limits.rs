//! What the host allows server mode, and the defaults derived from it:
//! the connection cap from the open-files limit, the body memory budget
//! from the container's memory limit (cgroup v2 `memory.max`, v1
//! `memory.limit_in_bytes`).
//!
//! [`HostLimits::read`] is the only I/O (a few files under `/proc` and
//! `/sys/fs/cgroup`); parsing and the formulas are pure, so they are
//! tested with text. Settings given explicitly are never overridden.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::path::PathBuf;

const MIB: u64 = 1024 * 1024;

/// `REDOX_MAX_CONNECTIONS` when unset and descriptors allow it.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Descriptors kept for the process itself: standard streams, the
/// listener, the runtime's own, the spool's files.
pub const DESCRIPTOR_RESERVE: u64 = 64;

/// Memory the process needs whatever it serves: code, the async runtime,
/// the AWS clients and TLS, and allocator slack. It idles near 10 MiB; the
/// rest is headroom.
pub const PROCESS_BASE_BYTES: u64 = 32 * MIB;
/// Each open connection's fixed share: a request head of up to 64 KiB in
/// the HTTP parser's buffer, plus a body under the budget's free allowance.
pub const PER_CONNECTION_BYTES: u64 = 128 * 1024;
/// The budget when no memory limit is found (a developer machine).
pub const UNLIMITED_BODY_MEMORY_BYTES: u64 = 256 * MIB;

/// What the host allows, as read at start-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostLimits {
    /// The container's memory limit, when there is one.
    pub memory_bytes: Option<u64>,
    /// The soft limit on open files (`RLIMIT_NOFILE`).
    pub open_files: Option<u64>,
}

impl HostLimits {
    /// Reads the limits of this process; anything unreadable is `None`.
    pub fn read() -> HostLimits {
        let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let memory_bytes = memory_limit_files(&cgroup)
            .into_iter()
            .find_map(|file| parse_memory_limit(&std::fs::read_to_string(file).ok()?));
        let open_files = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|text| parse_open_files_limit(&text));
        HostLimits {
            memory_bytes,
            open_files,
        }
    }
}

/// The files that may hold this process's memory limit, most specific
/// first: its own cgroup's (named in `/proc/self/cgroup`), then the mount
/// root's (inside a container with its own cgroup namespace, the root is
/// the container's cgroup).
pub fn memory_limit_files(proc_self_cgroup: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for line in proc_self_cgroup.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let relative = path.trim_start_matches('/');
        if relative.is_empty() || relative.split('/').any(|part| part == "..") {
            continue;
        }
        if controllers.is_empty() {
            files.push(
                PathBuf::from("/sys/fs/cgroup")
                    .join(relative)
                    .join("memory.max"),
            );
        } else if controllers.split(',').any(|c| c == "memory") {
            files.push(
                PathBuf::from("/sys/fs/cgroup/memory")
                    .join(relative)
                    .join("memory.limit_in_bytes"),
            );
        }
    }
    files.push(PathBuf::from("/sys/fs/cgroup/memory.max"));
    files.push(PathBuf::from("/sys/fs/cgroup/memory/memory.limit_in_bytes"));
    files
}

/// A cgroup memory limit: a number of bytes, or `None` for `max` (v2) and
/// the page-rounded `i64::MAX` that v1 reports for "no limit".
pub fn parse_memory_limit(text: &str) -> Option<u64> {
    let bytes: u64 = text.trim().parse().ok()?;
    // Anything past 2^60 bytes (an exbibyte) is the "unlimited" marker.
    (bytes < 1 << 60).then_some(bytes)
}

/// The soft `Max open files` from `/proc/self/limits`; `None` when
/// unlimited or unreadable.
pub fn parse_open_files_limit(proc_self_limits: &str) -> Option<u64> {
    let line = proc_self_limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The connection cap when `REDOX_MAX_CONNECTIONS` is unset: 1024, or
/// fewer when descriptors are short. Each connection may need a second
/// descriptor for an outbound AWS connection while it is answered, and
/// the process keeps [`DESCRIPTOR_RESERVE`].
pub fn default_max_connections(open_files: Option<u64>) -> usize {
    let Some(open_files) = open_files else {
        return DEFAULT_MAX_CONNECTIONS;
    };
    let fitting = open_files.saturating_sub(DESCRIPTOR_RESERVE) / 2;
    usize::try_from(fitting)
        .unwrap_or(usize::MAX)
        .clamp(1, DEFAULT_MAX_CONNECTIONS)
}

/// The most connections the descriptor limit leaves room for, when that
/// is less than `wanted` (for a warning at start-up).
pub fn descriptors_short_of(wanted: usize, open_files: Option<u64>) -> Option<u64> {
    let room = open_files?.saturating_sub(DESCRIPTOR_RESERVE) / 2;
    (room < wanted as u64).then_some(room)
}

/// The body budget when `REDOX_BODY_MEMORY_BYTES` is unset.
///
/// Peak memory is about the fixed part (the process base and each
/// connection's share) plus twice the bodies in flight: a body is held
/// once in its own buffer, and while it is sent on it may briefly exist a
/// second time (a chunked body's buffer as it grows, the SQS request of an
/// inline body). So half of what the limit leaves after the fixed part is
/// what bodies may reserve; peak RSS then stays under the limit, and a
/// push that would cross it waits or gets a 503 instead of an OOM kill.
/// `None` (no limit found) gives [`UNLIMITED_BODY_MEMORY_BYTES`].
pub fn default_body_memory(memory_bytes: Option<u64>, max_connections: usize) -> u64 {
    let Some(limit) = memory_bytes else {
        return UNLIMITED_BODY_MEMORY_BYTES;
    };
    let fixed = PROCESS_BASE_BYTES
        .saturating_add(PER_CONNECTION_BYTES.saturating_mul(max_connections as u64));
    limit.saturating_sub(fixed) / 2
}

/// The most clients one address may keep in flight when
/// `REDOX_MAX_CLIENT_REQUESTS` is unset.
pub const DEFAULT_MAX_CLIENT_REQUESTS: usize = 32;

/// Requests in flight per client address when `REDOX_MAX_CLIENT_REQUESTS`
/// is unset: a quarter of the connection cap, at most
/// [`DEFAULT_MAX_CLIENT_REQUESTS`]. Redox keeps one push in flight per
/// feed, so even many feeds from one Redox address stay under it, while
/// one address can never take the whole cap.
pub fn default_max_client_requests(max_connections: usize) -> usize {
    (max_connections / 4).clamp(1, DEFAULT_MAX_CLIENT_REQUESTS)
}

/// The body budget one client address may hold when
/// `REDOX_CLIENT_BODY_MEMORY_BYTES` is unset: a quarter of the budget, but
/// at least two of the largest bodies (a feed's push and its retry) when
/// the budget has room for them.
pub fn default_client_body_memory(body_memory_bytes: usize, max_body_bytes: usize) -> usize {
    (body_memory_bytes / 4)
        .max(max_body_bytes.saturating_mul(2))
        .min(body_memory_bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn memory_limits_parse_from_both_cgroup_versions() {
        assert_eq!(parse_memory_limit("536870912\n"), Some(512 * MIB));
        assert_eq!(parse_memory_limit("max\n"), None);
        assert_eq!(parse_memory_limit("9223372036854771712\n"), None);
        assert_eq!(parse_memory_limit(""), None);
        assert_eq!(parse_memory_limit("-1"), None);
    }

    #[test]
    fn the_process_cgroup_is_looked_up_before_the_mount_root() {
        let v2 = memory_limit_files("0::/ecs/task-1/app\n");
        assert_eq!(
            v2[0],
            PathBuf::from("/sys/fs/cgroup/ecs/task-1/app/memory.max")
        );
        let v1 = memory_limit_files("4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n");
        assert_eq!(
            v1[0],
            PathBuf::from("/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes")
        );
        assert_eq!(v1.len(), 3, "one candidate, then the two roots: {v1:?}");
        // A namespaced container sees itself at the root.
        let root = memory_limit_files("0::/\n");
        assert_eq!(
            root,
            vec![
                PathBuf::from("/sys/fs/cgroup/memory.max"),
                PathBuf::from("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
            ]
        );
        assert_eq!(memory_limit_files("0::/../../etc\n").len(), 2);
    }

    #[test]
    fn the_open_files_limit_is_the_soft_one() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             127734               127734               processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_open_files_limit(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_files_limit(unlimited), None);
    }

    #[test]
    fn the_connection_cap_leaves_room_for_outbound_connections() {
        assert_eq!(default_max_connections(None), 1024);
        assert_eq!(default_max_connections(Some(65_535)), 1024);
        assert_eq!(default_max_connections(Some(1024)), 480);
        assert_eq!(default_max_connections(Some(64)), 1);
        assert_eq!(descriptors_short_of(1024, Some(1024)), Some(480));
        assert_eq!(descriptors_short_of(100, Some(1024)), None);
        assert_eq!(descriptors_short_of(100, None), None);
    }

    #[test]
    fn the_body_budget_is_half_of_what_the_fixed_part_leaves() {
        // A 1 GiB Fargate task with the default cap: 32 MiB + 1024 x 128
        // KiB = 160 MiB fixed, so (1024 - 160) / 2 = 432 MiB of bodies:
        // nine 45 MiB pushes at once.
        assert_eq!(default_body_memory(Some(1024 * MIB), 1024), 432 * MIB);
        // 512 MiB: 176 MiB, three 45 MiB pushes.
        assert_eq!(default_body_memory(Some(512 * MIB), 1024), 176 * MIB);
        assert_eq!(default_body_memory(Some(64 * MIB), 1024), 0);
        assert_eq!(default_body_memory(None, 1024), 256 * MIB);
    }
}
