//! The image commands end to end on small synthetic sets: the run directory contract, bit-identical seeds
//! and exact resume, CAM overlays and cam.json (identity, Grad-CAM ∝ ReLU(CAM)), import of a torchvision-named
//! state dict, localisation output, and corrupt folders that never panic.

use crate::common::{json, json_stdout, skelcam, tiny_image_config as tiny_config};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn train(cfg: &Path, out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    train_env(cfg, out, extra, &[])
}

/// `image train` with extra environment variables.
fn train_env(
    cfg: &Path,
    out: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> assert_cmd::assert::Assert {
    skelcam()
        .args(["image", "train", "--config"])
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .args(extra)
        .envs(env.iter().copied())
        .assert()
}

/// `image train` killed (as by `kill -9`) right after epoch `epoch`, then resumed to its end.
fn crash_and_resume(cfg: &Path, out: &Path, epoch: &str, extra: &[&str]) {
    train_env(cfg, out, extra, &[("SKELCAM_ABORT_AFTER_EPOCH", epoch)]).failure();
    assert!(!out.join("model.safetensors").exists());
    skelcam()
        .args(["image", "train", "--resume"])
        .arg(out)
        .assert()
        .success();
}

fn synth_pictures(dir: &Path, side: &str, train_per_class: &str) -> PathBuf {
    let out = dir.join(format!("pics{side}_{train_per_class}"));
    skelcam()
        .args([
            "image",
            "synth",
            "--classes",
            "2",
            "--train-per-class",
            train_per_class,
            "--test-per-class",
            "1",
            "--side",
            side,
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    out
}

fn no_panic(a: &assert_cmd::assert::Assert) -> String {
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn image_run_directory_seeds_are_bit_identical_and_resume_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    train(&cfg, &a, &[]).success();
    for f in [
        "config.json",
        "model.safetensors",
        "metrics.json",
        "curves.png",
        "confusion.png",
        "checkpoint.safetensors",
    ] {
        assert!(a.join(f).is_file(), "{f}");
    }
    let m = json(&a.join("metrics.json"));
    assert_eq!(m["params"], 702_354); // width 16, 2 classes
    assert!(m["test_top1"].as_f64().unwrap() >= 0.0 && m["test_samples"] == 12);
    // An existing run is not overwritten without --force.
    let refused = train(&cfg, &a, &[]).failure();
    assert!(no_panic(&refused).contains("--force"));
    // Crash after epoch 1, resume: the same bytes as the uninterrupted run with the same seed.
    crash_and_resume(&cfg, &b, "1", &[]);
    let bytes = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert_eq!(bytes(&a), bytes(&b));
    let mb = json(&b.join("metrics.json"));
    assert_eq!(m["test_top1"], mb["test_top1"]);
    assert_eq!(m["confusion"], mb["confusion"]);
    // eval reproduces the test accuracy.
    let ev = json_stdout(skelcam().args(["image", "eval", "--json", "--run"]).arg(&a));
    assert_eq!(ev["top1"], m["test_top1"]);
}

#[test]
fn progressive_resizing_trains_small_first_resumes_across_the_switch_and_explains_finely() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg: Value = json(&tiny_config(dir.path()));
    cfg["model"] = "resnet18-narrow-os16".into();
    cfg["size"] = 64.into();
    cfg["early_fraction"] = 0.667.into(); // 2 of the 3 epochs
    cfg["early_size"] = 32.into();
    let path = dir.path().join("progressive.json");
    std::fs::write(&path, cfg.to_string()).unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let done = train(&path, &a, &[]).success();
    assert!(no_panic(&done).contains("epochs 1-2 at 32x32 px"));
    // A crash right after the last small epoch; the resumed run switches size as the whole run did.
    crash_and_resume(&path, &b, "2", &[]);
    let bytes = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert_eq!(bytes(&a), bytes(&b));
    // The small epochs train the weights the final model is saved with: two runs whose one small epoch
    // differs only in its size, and whose last epoch is the same, end with different weights.
    let c = dir.path().join("c");
    train(&path, &c, &["--epochs", "2"]).success();
    cfg["early_size"] = 48.into();
    let other = dir.path().join("other.json");
    std::fs::write(&other, cfg.to_string()).unwrap();
    let d = dir.path().join("d");
    train(&other, &d, &["--epochs", "2"]).success();
    assert_ne!(bytes(&c), bytes(&d));
    // The finished model explains at its own size and stride: a 64-px picture gives a 4 × 4 map.
    let pics = synth_pictures(dir.path(), "64", "2");
    let m = cam_json(
        &a,
        &pics.join("test/trees/tree.00002.png"),
        &dir.path().join("cam"),
        "cam",
    );
    assert_eq!(grid(&m["raw"]).len(), 16);
    // A run begun by a version without progressive resizing (no `early_fraction` in its config.json)
    // resumes at one size, as it began.
    cfg["early_size"] = 32.into();
    cfg["early_fraction"] = 0.into();
    std::fs::write(&path, cfg.to_string()).unwrap();
    let (p, q) = (dir.path().join("p"), dir.path().join("q"));
    train(&path, &p, &[]).success();
    train_env(&path, &q, &[], &[("SKELCAM_ABORT_AFTER_EPOCH", "1")]).failure();
    let mut old: Value = json(&q.join("config.json"));
    old["train"]
        .as_object_mut()
        .unwrap()
        .remove("early_fraction");
    std::fs::write(q.join("config.json"), old.to_string()).unwrap();
    skelcam()
        .args(["image", "train", "--resume"])
        .arg(&q)
        .assert()
        .success();
    assert_eq!(bytes(&p), bytes(&q));
    // A share of the epochs outside [0, 1) is refused, naming the field.
    cfg["early_fraction"] = 1.5.into();
    std::fs::write(&path, cfg.to_string()).unwrap();
    let refused = train(&path, &dir.path().join("e"), &[]).failure();
    assert!(no_panic(&refused).contains("early-fraction"));
}

#[test]
fn fresh_synthetic_pictures_are_new_each_epoch_and_repeat_with_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let with_fresh = |on: bool| {
        let mut c: Value = json(&tiny_config(dir.path()));
        c["synthetic"]["fresh"] = Value::Bool(on);
        let p = dir.path().join(format!("fresh_{on}.json"));
        std::fs::write(&p, c.to_string()).unwrap();
        p
    };
    let (cfg, fresh_cfg) = (with_fresh(false), with_fresh(true));
    let runs = ["fixed", "fresh1", "fresh2"].map(|n| dir.path().join(n));
    train(&cfg, &runs[0], &["--epochs", "2"]).success();
    train(&fresh_cfg, &runs[1], &["--epochs", "2"]).success();
    // A crash after the first epoch and a resume draw the second epoch's pictures as the whole run did.
    crash_and_resume(&fresh_cfg, &runs[2], "1", &["--epochs", "2"]);
    let bytes = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert_eq!(bytes(&runs[1]), bytes(&runs[2]));
    assert_ne!(
        bytes(&runs[0]),
        bytes(&runs[1]),
        "new pictures change training"
    );
    assert_eq!(
        json(&runs[1].join("config.json"))["train"]["synthetic"]["fresh"],
        true
    );
    // The test pictures are the fixed set's in both: the same count, the same names.
    for r in &runs[..2] {
        assert_eq!(json(&r.join("metrics.json"))["test_samples"], 12);
    }
}

#[test]
fn synthetic_pictures_get_their_own_recipe_for_what_the_file_and_options_leave_unset() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, v: Value| {
        let p = dir.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p
    };
    let small = serde_json::json!({"batch_size": 8, "synthetic": {"classes": 2, "train_per_class": 6, "test_per_class": 2}});
    let train_cfg = |run: &str, cfg: &Path, extra: &[&str]| {
        let out = dir.path().join(run);
        train(cfg, &out, &[&["--epochs", "1"], extra].concat()).success();
        json(&out.join("config.json"))["train"].clone()
    };
    // Nothing set: the synthetic recipe, with the file's own synthetic fields kept.
    let t = train_cfg("recipe", &write("small.json", small.clone()), &[]);
    assert_eq!(t["model"], "resnet18-narrow-os8");
    assert_eq!(t["size"], 96);
    assert_eq!(t["augment"], false);
    assert_eq!(t["cutmix"], 0.0);
    assert_eq!(t["early_fraction"], 0.0);
    assert_eq!(t["synthetic"]["fresh"], true);
    assert_eq!(t["synthetic"]["empty_fraction"], 0.2);
    assert_eq!(t["synthetic"]["classes"], 2);
    assert_eq!(t["synthetic"]["train_per_class"], 6);
    // What a file or an option sets wins over the recipe.
    let mut mine = small.clone();
    mine["synthetic"]["fresh"] = Value::Bool(false);
    mine["cutmix"] = 0.5.into();
    let t = train_cfg(
        "mine",
        &write("mine.json", mine),
        &["--model", "resnet18-narrow", "--size", "64"],
    );
    assert_eq!(t["model"], "resnet18-narrow");
    assert_eq!(t["size"], 64);
    assert_eq!(t["cutmix"], 0.5);
    assert_eq!(t["synthetic"]["fresh"], false);
    assert_eq!(t["augment"], false, "the rest still follows the recipe");
    // A folder of pictures keeps the photo recipe.
    let pics = synth_pictures(dir.path(), "64", "3");
    let out = dir.path().join("folder");
    skelcam()
        .args(["image", "train", "--epochs", "1", "--data"])
        .arg(&pics)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let t = json(&out.join("config.json"))["train"].clone();
    assert_eq!(t["model"], "resnet18-os16");
    assert_eq!(t["augment"], true);
    assert!(t["synthetic"].get("empty_fraction").is_none());
}

fn cam_json(run: &Path, input: &Path, out: &Path, method: &str) -> Value {
    skelcam()
        .args(["image", "cam", "--method", method, "--run"])
        .arg(run)
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
    json(&out.join("cam.json"))
}

fn grid(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
        .collect()
}

#[test]
fn cam_overlay_shows_the_photo_at_a_readable_size_and_cam_json_satisfies_the_identities() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&tiny_config(dir.path()), &run, &[]).success();
    let pics = synth_pictures(dir.path(), "80", "2");
    let pic = pics.join("test/suns/sun.00002.png");
    assert!(!pic.exists(), "2 classes: house and tree only");
    let pic = pics.join("test/trees/tree.00002.png");
    let out = dir.path().join("cam");
    let c = cam_json(&run, &pic, &out, "cam");
    for k in [
        "schema_version",
        "class",
        "probability",
        "logit",
        "bias",
        "raw",
    ] {
        assert!(!c[k].is_null(), "{k}");
    }
    // An 80-px picture is drawn 3× (the largest whole factor within 288 px), each pixel a block.
    let overlay = image::open(out.join("overlay.png")).unwrap();
    assert_eq!((overlay.width(), overlay.height()), (240, 240));
    let heat = image::open(out.join("heatmap.png")).unwrap();
    assert_eq!((heat.width(), heat.height()), (240, 240));
    assert!(out.join("heatmap.png").is_file());
    let raw = grid(&c["raw"]);
    let mean = raw.iter().sum::<f64>() / raw.len() as f64;
    let logit = c["logit"].as_f64().unwrap();
    assert!((mean + c["bias"].as_f64().unwrap() - logit).abs() < 1e-4 * (1.0 + logit.abs()));
    let p = c["probability"].as_f64().unwrap();
    assert!(p > 0.0 && p <= 1.0);
    // Grad-CAM = ReLU(CAM) / Z for this GAP + linear head.
    let g = grid(&cam_json(&run, &pic, &dir.path().join("g"), "gradcam")["map"]);
    let z = raw.len() as f64;
    for (gv, rv) in g.iter().zip(&raw) {
        assert!(
            (gv - rv.max(0.0) / z).abs() < 1e-5 * (1.0 + rv.abs()),
            "{gv} vs {rv}"
        );
    }
    // --export npy: raw.npy and map.npy are cam.json's raw and map, exactly.
    let ex = dir.path().join("ex");
    skelcam()
        .args([
            "image", "cam", "--method", "gradcam", "--export", "npy", "--run",
        ])
        .arg(&run)
        .arg("--input")
        .arg(&pic)
        .arg("--out")
        .arg(&ex)
        .assert()
        .success();
    let doc = json(&ex.join("cam.json"));
    for (file, key) in [("raw.npy", "raw"), ("map.npy", "map")] {
        let bytes = std::fs::read(ex.join(file)).unwrap();
        let f = npyz::NpyFile::new(&bytes[..]).unwrap();
        let rows = doc[key].as_array().unwrap().len() as u64;
        assert_eq!(f.shape()[0], rows);
        let got = f.into_vec::<f32>().unwrap();
        let want: Vec<f32> = grid(&doc[key]).iter().map(|&x| x as f32).collect();
        assert_eq!(got, want, "{file}");
    }
    let pp = grid(&cam_json(&run, &pic, &dir.path().join("pp"), "gradcam++")["map"]);
    assert!(pp.iter().all(|v| v.is_finite() && *v >= 0.0));
    // A folder: one overlay per picture and a gallery.
    let all = dir.path().join("all");
    skelcam()
        .args(["image", "cam", "--run"])
        .arg(&run)
        .arg("--input")
        .arg(pics.join("test"))
        .arg("--out")
        .arg(&all)
        .assert()
        .success();
    let html = std::fs::read_to_string(all.join("index.html")).unwrap();
    assert_eq!(html.matches("class=\"card").count(), 2);
    assert!(html.contains("trees_tree.00002/overlay.png"));
    assert!(all.join("trees_tree.00002/overlay.png").is_file());
}

#[test]
fn import_of_a_torchvision_state_dict_reproduces_the_logits_and_a_flat_map_gives_a_warning() {
    use candle_core::{Device, Tensor};
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // Imported weights run as PyTorch does, on the picture alone: compare with a run that does the same.
    let mut cfg: Value = json(&tiny_config(dir.path()));
    cfg["flip_average"] = Value::Bool(false);
    let cfg_path = dir.path().join("no_flip.json");
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    train(&cfg_path, &run, &["--epochs", "1"]).success();
    // torchvision's state dict also holds num_batches_tracked counters (int64 scalars): they are ignored.
    let mut sd = crate::common::run_tensors(&run);
    sd.insert(
        "bn1.num_batches_tracked".into(),
        Tensor::new(7i64, &Device::Cpu).unwrap(),
    );
    let weights = dir.path().join("tv.safetensors");
    candle_core::safetensors::save(&sd, &weights).unwrap();
    let imported = dir.path().join("imported");
    skelcam()
        .args([
            "image",
            "import",
            "--classes",
            "house,tree",
            "--size",
            "32",
            "--weights",
        ])
        .arg(&weights)
        .arg("--out")
        .arg(&imported)
        .assert()
        .success();
    // Test pictures only: no train/ folder is written.
    let pics = synth_pictures(dir.path(), "64", "0");
    assert!(!pics.join("train").exists());
    let pic = pics.join("test/houses/house.00000.png");
    let a = cam_json(&run, &pic, &dir.path().join("c1"), "cam");
    let b = cam_json(&imported, &pic, &dir.path().join("c2"), "cam");
    assert_eq!(a["logit"], b["logit"]);
    assert_eq!(a["raw"], b["raw"]);
    // Wrong class count: a clear error.
    let bad = skelcam()
        .args(["image", "import", "--classes", "a,b,c", "--weights"])
        .arg(&weights)
        .arg("--out")
        .arg(dir.path().join("x"))
        .assert()
        .failure();
    assert!(no_panic(&bad).contains("fc.weight has 2 rows"));
    // Zero class weights: a flat CAM, a warning, a uniform overlay, no NaN.
    sd.insert("fc.weight".into(), sd["fc.weight"].zeros_like().unwrap());
    candle_core::safetensors::save(&sd, &weights).unwrap();
    let flat = dir.path().join("flat");
    skelcam()
        .args([
            "image",
            "import",
            "--classes",
            "house,tree",
            "--size",
            "32",
            "--weights",
        ])
        .arg(&weights)
        .arg("--out")
        .arg(&flat)
        .assert()
        .success();
    let out = dir.path().join("c3");
    let assert = skelcam()
        .args(["image", "cam", "--run"])
        .arg(&flat)
        .arg("--input")
        .arg(&pic)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    assert!(no_panic(&assert).contains("flat"));
    let c = json(&out.join("cam.json"));
    assert_eq!(c["flat"], true);
    let heat = image::open(out.join("heatmap.png")).unwrap().to_rgb8();
    let first = *heat.get_pixel(0, 0);
    assert!(
        heat.pixels().all(|p| *p == first),
        "a flat map is drawn uniformly"
    );
}

#[test]
fn localize_reports_every_metric_on_synthetic_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&tiny_config(dir.path()), &run, &["--epochs", "1"]).success();
    let localize = |extra: &[&str]| {
        let mut c = skelcam();
        c.args(["image", "localize", "--json", "--run"])
            .arg(&run)
            .args(extra);
        c
    };
    let r = json_stdout(&mut localize(&["--limit", "4"]));
    for k in [
        "pointing_game",
        "box_iou50_rate",
        "whole_picture_iou50_rate",
        "deletion_auc",
        "random_deletion_auc",
        "insertion_auc",
        "random_insertion_auc",
    ] {
        let v = r[k].as_f64().unwrap_or_else(|| panic!("{k}: {r}"));
        assert!((0.0..=1.0).contains(&v), "{k} = {v}");
    }
    // Synthetic objects cover under half the picture: the whole picture is never a good enough box.
    assert_eq!(r["whole_picture_iou50_rate"], 0.0);
    assert_eq!(r["samples"], 4);
    // A folder with only test/ (boxes.json inside) is all test pictures, not a validation split of them.
    let pics = synth_pictures(dir.path(), "64", "0");
    let r = json_stdout(localize(&["--data"]).arg(&pics));
    assert_eq!(
        (r["samples"].as_u64(), r["with_boxes"].as_u64()),
        (Some(2), Some(2))
    );
    // The centre baseline hits exactly the boxes that hold the picture's centre (with the tolerance).
    let boxes_path = pics.join("test/boxes.json");
    let names: Vec<String> = json(&boxes_path)
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for (corner, centre_rate) in [([0.0, 0.0, 8.0, 8.0], 0.0), ([0.0, 0.0, 64.0, 64.0], 1.0)] {
        let boxes: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .map(|n| (n.clone(), serde_json::json!([corner])))
            .collect();
        std::fs::write(&boxes_path, serde_json::Value::Object(boxes).to_string()).unwrap();
        let r = json_stdout(localize(&["--data"]).arg(&pics));
        assert_eq!(r["centre_pointing_game"], centre_rate, "{corner:?}: {r}");
        assert_eq!(
            r["whole_picture_iou50_rate"], centre_rate,
            "{corner:?}: {r}"
        );
    }
    // A larger side is used and reported with the map it gives (1/32 of the side for this model);
    // a side that is not a multiple of 32 is refused by name.
    let r = json_stdout(&mut localize(&["--limit", "2", "--size", "96"]));
    assert_eq!(r["size"], 96);
    assert_eq!(r["map_side"], serde_json::json!([3, 3]));
    let bad = localize(&["--limit", "2", "--size", "100"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("--size must be a multiple of 32"), "{err}");
}

#[test]
fn corrupt_pictures_are_named_and_skipped_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let pics = synth_pictures(dir.path(), "64", "2");
    // A flat folder of CLASS.N.png files with a zero-byte and a garbage picture among them.
    let data = dir.path().join("flat");
    std::fs::create_dir_all(&data).unwrap();
    for (i, f) in [
        "train/houses/house.00000.png",
        "train/houses/house.00001.png",
        "test/houses/house.00002.png",
    ]
    .iter()
    .enumerate()
    {
        std::fs::copy(pics.join(f), data.join(format!("house.{i}.png"))).unwrap();
        std::fs::copy(
            pics.join(f.replace("house", "tree")),
            data.join(format!("tree.{i}.png")),
        )
        .unwrap();
    }
    std::fs::write(data.join("tree.7.png"), b"").unwrap();
    std::fs::write(data.join("house.9.jpg"), b"not a jpeg at all").unwrap();
    let base = [
        "image",
        "train",
        "--model",
        "resnet18-narrow",
        "--size",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--data",
    ];
    let failed = skelcam()
        .args(base)
        .arg(&data)
        .arg("--out")
        .arg(dir.path().join("r1"))
        .assert()
        .failure();
    let err = no_panic(&failed);
    assert!(
        err.contains("house.9.jpg") || err.contains("tree.7.png"),
        "{err}"
    );
    assert!(err.contains("--skip-bad"), "{err}");
    let run = dir.path().join("r2");
    let ok = skelcam()
        .args(base)
        .arg(&data)
        .arg("--skip-bad")
        .arg("--out")
        .arg(&run)
        .assert()
        .success();
    no_panic(&ok);
    assert_eq!(
        json(&run.join("metrics.json"))["skipped_files"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // CAM over the same folder: an error naming the file, or skipping it with --skip-bad.
    let cam = |skip: bool| {
        let mut c = skelcam();
        c.args(["image", "cam", "--run"])
            .arg(&run)
            .arg("--input")
            .arg(&data)
            .arg("--out")
            .arg(dir.path().join("cams"));
        if skip {
            c.arg("--skip-bad");
        }
        c.assert()
    };
    assert!(no_panic(&cam(false).failure()).contains("--skip-bad"));
    no_panic(&cam(true).success());
    assert!(dir.path().join("cams/index.html").is_file());
    // A badly named flat file is explained.
    std::fs::write(data.join("photo.png"), b"x").unwrap();
    let named = skelcam()
        .args(base)
        .arg(&data)
        .arg("--out")
        .arg(dir.path().join("r3"))
        .assert()
        .failure();
    assert!(no_panic(&named).contains("CLASS.N.jpg"));
}

#[test]
fn the_shipped_picture_configs_are_valid() {
    // data/configs/*.json are the README's recipes: they must keep parsing and validating.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let cfg: skelcam::config::ImageTrainConfig = skelcam::io::read_json(&path).unwrap();
        cfg.validate().unwrap();
        seen += 1;
    }
    assert!(seen >= 1, "no configs in {}", dir.display());
}

/// JPEGs decode to exactly the pixels the `image` crate gives (colour and grey), and damage inside the
/// compressed data that the decoder can see is an error naming the file, where `image` alone would hand back
/// a picture patched with grey blocks and training would go on.
#[test]
fn jpegs_decode_like_the_image_crate_and_damage_mid_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let colour = image::RgbImage::from_fn(96, 64, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 3) as u8, ((x * y) % 251) as u8])
    });
    let grey = image::DynamicImage::ImageRgb8(colour.clone()).to_luma8();
    let mut files = vec![];
    for (name, img) in [
        ("colour.jpg", image::DynamicImage::ImageRgb8(colour)),
        ("grey.jpg", image::DynamicImage::ImageLuma8(grey)),
    ] {
        let p = dir.path().join(name);
        img.save(&p).unwrap();
        let ours = skelcam::data::images::decode(&p).unwrap();
        assert_eq!(ours, image::open(&p).unwrap().to_rgb8(), "{name}");
        files.push(p);
    }
    // An unknown marker (FF 42) written into the middle of the scan data.
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let mid = sos + (bytes.len() - sos) / 2;
    bytes[mid..mid + 2].copy_from_slice(&[0xFF, 0x42]);
    let damaged = dir.path().join("damaged.jpg");
    std::fs::write(&damaged, &bytes).unwrap();
    assert!(
        image::load_from_memory(&bytes).is_ok(),
        "the image crate alone accepts this file"
    );
    let e = skelcam::data::images::decode(&damaged)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("damaged.jpg") && e.contains("damaged") && e.contains("--skip-bad"),
        "{e}"
    );
}
