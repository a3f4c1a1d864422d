//! The `skelcam` binary: parse the command line and dispatch; errors are printed without a backtrace.

use clap::Parser;

fn main() {
    // Output piped into a program that stops reading (`skelcam skeleton info | head`) ends the process quietly,
    // as for other command-line tools, instead of a panic on the failed write.
    // SAFETY: restores the default action of one signal before any thread is started.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    skelcam::tune_allocator();
    let cli = skelcam::cli::Cli::parse();
    if let Err(e) = skelcam::run_in_pool(|| skelcam::cli::run(cli)) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
