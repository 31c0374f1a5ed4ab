//! glibc's allocator, tuned for one invocation at a time (Lambda mode).
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

/// Largest allocation served from the heap rather than its own mapping.
pub const MMAP_THRESHOLD: usize = 4 * 1024 * 1024;
/// Free memory at the top of the heap kept for reuse before trimming.
pub const TRIM_THRESHOLD: usize = 8 * 1024 * 1024;

/// Applies the thresholds; `false` when the allocator refused them (or is
/// not glibc's), in which case its defaults stay.
pub fn tune_for_one_invocation_at_a_time() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets allocator parameters; it is called
        // before any request is handled, and glibc serialises it with the
        // allocator's own lock.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
