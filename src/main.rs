//! The `skelcam` binary: parse the command line and dispatch; errors are printed without a backtrace.

use clap::Parser;

fn main() {
    skelcam::tune_allocator();
    let cli = skelcam::cli::Cli::parse();
    if let Err(e) = skelcam::run_in_pool(|| skelcam::cli::run(cli)) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
