//! glibc's allocator, tuned for each mode: one invocation at a time
//! (Lambda), or many bodies at once within a memory budget (server mode).
//!
//! By default glibc serves every allocation over 128 KiB (raising that bound
//! only after such a block is freed) with its own `mmap`, and hands the top
//! of the heap back to the kernel once 128 KiB of it are free. A push of a
//! few hundred KiB to a few MiB allocates its buffers (the event, the body,
//! the SDK's request) afresh each time, so each invocation paid for fresh
//! zeroed pages: page faults, page clearing and unmapping were over a
//! quarter of the CPU of a 1 MiB push. With a fixed 4 MiB `mmap` threshold
//! and an 8 MiB trim threshold, buffers up to 4 MiB come from the heap and
//! its pages are reused by the next invocation; larger ones (a 6 MB body)
//! still get their own mapping, returned when freed. The price is up to 8
//! MiB of free heap kept between invocations (0.4–0.6 MiB more peak RSS on
//! small pushes).
//!
//! Server mode needs the opposite. glibc's default raises its `mmap`
//! threshold to the size of each mapped block freed (up to 32 MiB), so
//! after one 10 MB body the next ones come from the heap of whichever
//! arena the thread uses, and stay there once freed: three concurrent 20
//! MB pushes (five times) peaked at 128 MiB and left 71 MiB resident,
//! where the memory budget (`REDOX_BODY_MEMORY_BYTES`) assumes a freed
//! body is gone. A fixed 1 MiB threshold (which also stops the raising)
//! gives every body that goes to S3 its own mapping, returned when freed:
//! the same pushes peaked at 71 MiB and left 14 MiB
//! (`scripts/server_mode_measure.py`).

/// Largest allocation served from the heap rather than its own mapping.
pub const MMAP_THRESHOLD: usize = 4 * 1024 * 1024;
/// Free memory at the top of the heap kept for reuse before trimming.
pub const TRIM_THRESHOLD: usize = 8 * 1024 * 1024;

/// Server mode: the largest allocation served from the heap.
pub const SERVER_MMAP_THRESHOLD: usize = 1024 * 1024;

/// Applies the Lambda thresholds; `false` when the allocator refused them
/// (or is not glibc's), in which case its defaults stay.
pub fn tune_for_one_invocation_at_a_time() -> bool {
    set_mmap_threshold(MMAP_THRESHOLD) && set_trim_threshold(TRIM_THRESHOLD)
}

/// Applies the server-mode threshold; `false` when refused (or not glibc).
pub fn tune_for_bodies_in_flight() -> bool {
    set_mmap_threshold(SERVER_MMAP_THRESHOLD)
}

fn set_mmap_threshold(bytes: usize) -> bool {
    mallopt(MallocParameter::MmapThreshold, bytes)
}

fn set_trim_threshold(bytes: usize) -> bool {
    mallopt(MallocParameter::TrimThreshold, bytes)
}

enum MallocParameter {
    MmapThreshold,
    TrimThreshold,
}

fn mallopt(parameter: MallocParameter, bytes: usize) -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let parameter = match parameter {
            MallocParameter::MmapThreshold => libc::M_MMAP_THRESHOLD,
            MallocParameter::TrimThreshold => libc::M_TRIM_THRESHOLD,
        };
        let Ok(value) = libc::c_int::try_from(bytes) else {
            return false;
        };
        // SAFETY: mallopt only sets allocator parameters; it is called
        // before any request is handled, and glibc serialises it with the
        // allocator's own lock.
        unsafe { libc::mallopt(parameter, value) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = (parameter, bytes);
        false
    }
}
