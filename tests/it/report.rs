//! `skelcam report` rendered in headless Chromium: the page of a synthetic skeleton run and of an image run
//! loads offline, every image on it loads, and the class filter of the gallery shows exactly that class.

use crate::common::{skelcam, tiny_image_config, train_tiny};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Chromium binary, or `None` (the test then skips, except in CI, which installs it).
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let out = Command::new("which").arg(name).output().ok()?;
            out.status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        });
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have Chromium (.ci/run installs Debian's chromium)"
        );
        eprintln!("skipping the browser check: no chromium on this machine (apt install chromium)");
    }
    found
}

/// What the page reports about itself once loaded, after choosing `class` in the class filter.
const CHECK: &str = r#"<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                   .map(function (i) { return i.getAttribute('src'); });
  var f = document.getElementById('f-class');
  var cards = Array.prototype.slice.call(document.querySelectorAll('.card'));
  f.value = f.options[1].value;
  f.dispatchEvent(new Event('change'));
  var shown = cards.filter(function (c) { return c.style.display !== 'none'; });
  var r = document.createElement('pre');
  r.id = 'check-result';
  r.textContent = JSON.stringify({
    images: imgs.length, broken: broken, cards: cards.length, chosen: f.value,
    shown: shown.length,
    shown_other: shown.filter(function (c) { return c.dataset.class !== f.value; }).length,
    of_class: cards.filter(function (c) { return c.dataset.class === f.value; }).length,
    wrong: cards.filter(function (c) { return c.dataset.right === 'wrong'; }).length
  });
  document.body.appendChild(r);
});
</script>"#;

/// Load `dir/index.html` (with the check script appended) in headless Chromium; the check's result.
fn render(browser: &Path, dir: &Path) -> Value {
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing from the network"
    );
    let check = dir.join("check.html");
    std::fs::write(&check, page.replace("</body>", &format!("{CHECK}</body>"))).unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=20000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", check.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom
        .find("<pre id=\"check-result\">")
        .expect("the page ran its check")
        + 23;
    let end = start + dom[start..].find("</pre>").unwrap();
    serde_json::from_str(&dom[start..end].replace("&quot;", "\"")).unwrap()
}

fn check(result: &Value, min_images: u64) {
    assert!(result["images"].as_u64().unwrap() >= min_images, "{result}");
    assert_eq!(result["broken"], serde_json::json!([]), "{result}");
    assert!(result["cards"].as_u64().unwrap() > 0);
    assert_eq!(result["shown"], result["of_class"], "{result}");
    assert_eq!(result["shown_other"], 0, "{result}");
    assert!(
        result["shown"].as_u64() < result["cards"].as_u64(),
        "the filter hides the other classes: {result}"
    );
}

#[test]
fn the_report_of_a_skeleton_run_loads_with_every_image_and_filters_by_class() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train_tiny(&run, &["--epochs", "3"]).success();
    let out = dir.path().join("report");
    skelcam()
        .args(["report", "--limit", "8", "--run"])
        .arg(&run)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    for f in [
        "run/curves.png",
        "run/confusion.png",
        "summary/summary.png",
        "samples/index.html",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let r = render(&browser, &out);
    // curves, confusion, two summary figures and one heatmap per sample
    check(&r, 4 + 8);
    assert_eq!(r["cards"], 8);
    // The folder of `skeleton cam` has its own gallery page.
    check(&render(&browser, &out.join("samples")), 8);
    // An existing report is kept unless --force.
    skelcam()
        .args(["report", "--limit", "2", "--run"])
        .arg(&run)
        .arg("--out")
        .arg(&out)
        .assert()
        .failure();
}

#[test]
fn the_report_of_an_image_run_loads_with_every_image_and_filters_by_class() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    skelcam()
        .args(["image", "train", "--config"])
        .arg(tiny_image_config(dir.path()))
        .arg("--out")
        .arg(&run)
        .assert()
        .success();
    let out = dir.path().join("report");
    skelcam()
        .args(["report", "--method", "gradcam++", "--run"])
        .arg(&run)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let r = render(&browser, &out);
    // curves, confusion, 12 overlays, localisation examples
    check(&r, 2 + 12 + 1);
    assert_eq!(r["cards"], 12);
    assert!(std::fs::read_to_string(out.join("index.html"))
        .unwrap()
        .contains("pointing game"));
    // A method the run's kind does not have is refused by name.
    let bad = skelcam()
        .args(["report", "--method", "nope", "--force", "--run"])
        .arg(&run)
        .arg("--out")
        .arg(&out)
        .assert()
        .failure();
    assert!(String::from_utf8_lossy(&bad.get_output().stderr).contains("gradcam++"));
}
