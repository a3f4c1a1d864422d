//! skelcam: Class Activation Maps for skeleton-action and image models, trained and explained from the command line.
//!
//! The library holds everything; the `skelcam` binary only parses arguments and dispatches to [`cli::run`].

pub mod cam;
pub mod cli;
pub mod commands;
pub mod config;
pub mod data;
pub mod error;
pub mod graph;
pub mod io;
pub mod limits;
pub mod models;
pub mod plot;
pub mod progress;
pub mod rng;
pub mod run_dir;
pub mod train;

pub use error::{Error, Result};

/// mimalloc, told never to hand freed memory back to the OS: candle allocates a fresh buffer for every op, and an
/// allocator that returns large blocks makes every op page-fault its output in again (glibc's mmap threshold
/// tops out at 32 MiB, so the largest tensors were always fresh mappings). Measured by `skelcam bench`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`: its position in `mi_option_e`, the same in both sources libmimalloc-sys
/// bundles (v3, the default, and v2).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Set the allocator's options; call first thing in `main` (tests run with mimalloc's defaults).
pub fn tune_allocator() {
    // SAFETY: sets an integer option; mimalloc reads options lazily and accepts changes at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// Run `f` with the allocator handing freed memory back to the OS after its usual short delay, whatever
/// [`tune_allocator`] said: for phases that allocate and free many small buffers while a long-lived index
/// grows between them (reading a dataset file by file), where keeping every freed page would make the peak
/// grow with the number of files.
pub fn returning_freed_memory<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: reads and sets an integer option (see `tune_allocator`).
    let before = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) };
    let out = f();
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, before) };
    out
}

/// Run `f` on a worker of a fresh rayon pool (as many threads as the global one would have, so
/// `RAYON_NUM_THREADS` applies): every parallel op inside then starts on a pool thread that takes its own
/// share, instead of a caller that parks while the workers run and is woken after each op. Measured by
/// `skelcam bench`, alternated four times: `stgcn_train` +3–7 %, `resnet18_train_112` −1 to +10 %.
pub fn run_in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match rayon::ThreadPoolBuilder::new().build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}
