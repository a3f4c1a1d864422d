//! Progress bars (indicatif): drawn on a terminal, hidden when stderr is not one (CI, pipes) or with SKELCAM_QUIET.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub fn bar(len: u64, what: &str) -> ProgressBar {
    let b = ProgressBar::new(len);
    if std::env::var_os("SKELCAM_QUIET").is_some() {
        b.set_draw_target(ProgressDrawTarget::hidden());
    } else {
        b.set_draw_target(ProgressDrawTarget::stderr());
    }
    b.set_style(
        ProgressStyle::with_template(
            "{prefix:>10} [{bar:30}] {pos}/{len} {msg} ({elapsed} / eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    b.set_prefix(what.to_string());
    b
}
