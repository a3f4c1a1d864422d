//! skelcam: Class Activation Maps for skeleton-action and image models, trained and explained from the command line.
//!
//! The library holds everything; the `skelcam` binary only parses arguments and dispatches to [`cli::run`].

pub mod cam;
pub mod cli;
pub mod config;
pub mod data;
pub mod error;
pub mod graph;
pub mod io;
pub mod models;
pub mod plot;
pub mod report;
pub mod rng;
pub mod train;

pub use error::{Error, Result};

/// Keep freed memory in the process: candle allocates a fresh buffer for every op, and glibc's default of
/// handing large blocks back to the OS makes every op page-fault its output in again (measured: ~20 % of
/// training time in the kernel's page clearing).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        // 32 MiB is glibc's ceiling for this setting (a larger value is rejected and leaves the default).
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}
