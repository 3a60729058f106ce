//! glibc malloc tuning for the model's large, short-lived buffers.
//!
//! A forward pass allocates and frees buffers of several MiB to tens of MiB per layer (the
//! attention scores of 32 texts of 128 tokens are 25 MiB). With glibc's defaults, the
//! embedder's threads (their own malloc arenas) hand such memory back to the kernel when it is
//! freed — `mmap`/`munmap` above the mmap threshold, `madvise(MADV_DONTNEED)` when a heap's
//! free top exceeds the trim threshold — and fault it in again, zeroed, on the next layer. In
//! the server that cost about a third of batch-ingest throughput (docs/benchmarks.md,
//! "Allocator"); `memory-server embed`, on one thread, did not pay it. Raising both thresholds
//! keeps the memory for reuse: the peak RSS is unchanged, what the process keeps between passes
//! grows by up to the trim threshold per arena.
//!
//! [`tune`] leaves malloc alone when `GLIBC_TUNABLES` sets any `glibc.malloc.` parameter:
//! that is the operator's override. Nothing to do on other C libraries.

/// Allocations from this size up go to `mmap` (the most glibc allows on 64-bit: larger ones
/// always do).
pub const MMAP_THRESHOLD: usize = 32 << 20;

/// Free memory at the top of a heap is returned to the kernel beyond this.
pub const TRIM_THRESHOLD: usize = 256 << 20;

/// What [`tune`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tuning {
    /// Both thresholds were set.
    Tuned,
    /// `GLIBC_TUNABLES` names malloc parameters: left as the environment says.
    FromEnvironment,
    /// Not glibc, or glibc refused a value: the C library's defaults.
    Defaults,
}

/// Sets glibc's mmap and trim thresholds (see the module docs). Call it first thing in
/// `main`, before other threads start.
pub fn tune() -> Tuning {
    if overridden() {
        return Tuning::FromEnvironment;
    }
    set_thresholds()
}

/// Whether `GLIBC_TUNABLES` sets malloc parameters.
fn overridden() -> bool {
    std::env::var("GLIBC_TUNABLES").is_ok_and(|v| v.contains("glibc.malloc."))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_thresholds() -> Tuning {
    let (Ok(mmap), Ok(trim)) = (
        libc::c_int::try_from(MMAP_THRESHOLD),
        libc::c_int::try_from(TRIM_THRESHOLD),
    ) else {
        return Tuning::Defaults;
    };
    // SAFETY: mallopt only changes allocator parameters, under the allocator's own lock; it
    // takes plain integers and touches no memory of ours. Both values are within what glibc
    // accepts (it answers 0, and changes nothing, otherwise).
    let ok = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, mmap) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, trim) == 1
    };
    if ok { Tuning::Tuned } else { Tuning::Defaults }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() -> Tuning {
    Tuning::Defaults
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_accepted_or_left_to_the_environment() {
        let tuning = tune();
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            // glibc answers 0 for a value it refuses: a threshold out of its range fails here.
            let expected = if overridden() {
                Tuning::FromEnvironment
            } else {
                Tuning::Tuned
            };
            assert_eq!(tuning, expected);
        } else {
            assert_eq!(tuning, Tuning::Defaults);
        }
    }
}
