//! Skeleton CAM through a trained model: the identities (mean CAM + bias = logit, Grad-CAM ∝ ReLU(CAM)), the
//! T'→T mapping, absent persons, flat maps, and the files `skeleton cam` / `faithfulness` write.

use ndarray::{Array3, Array4};
use serde_json::Value;
use skelcam::cam::core::{minmax, TimeMap};
use skelcam::cam::skeleton::{explain, ClassChoice, Method};
use skelcam::data::Sequence;
use skelcam::models::SkeletonModel;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::common::{json_stdout, skelcam};

/// One small trained run shared by the tests of this file (trained once, 2 persons so absence shows). It
/// lives in Cargo's scratch directory under `target/` (a static is never dropped, so nothing would remove
/// it from the system's temporary directory), where `cargo clean` clears it.
pub(crate) fn run_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("skelcam-cam-test-{}", std::process::id()));
        skelcam()
            .args([
                "skeleton",
                "train",
                "--format",
                "synthetic",
                "--data",
                "tiny",
                "--model",
                "stgcn-tiny",
            ])
            .args([
                "--frames",
                "16",
                "--epochs",
                "6",
                "--persons",
                "2",
                "--force",
                "--out",
            ])
            .arg(&dir)
            .assert()
            .success();
        dir
    })
}

pub(crate) fn sample(frames: usize, two_persons: bool) -> Sequence {
    let mut data = Array4::<f32>::zeros((3, frames, 20, 2));
    for t in 0..frames {
        for v in 0..20 {
            data[[0, t, v, 0]] = 0.1 * v as f32 + 0.05 * (t as f32).sin();
            data[[1, t, v, 0]] = 0.2 * (v % 5) as f32;
            data[[2, t, v, 0]] = 0.01 * t as f32;
            if two_persons {
                data[[0, t, v, 1]] = 1.0 + 0.1 * v as f32;
            }
        }
    }
    Sequence {
        name: "s".into(),
        label: 1,
        subject: 2,
        camera: None,
        setup: None,
        data,
    }
}

#[test]
fn identity_holds_for_every_class_and_absent_persons_are_reported() {
    let model = SkeletonModel::load(run_dir()).unwrap();
    let seq = sample(20, false);
    for c in 0..model.run.classes.len() {
        let cam = explain(&model, &seq, &ClassChoice::Index(c), Method::Cam).unwrap();
        assert!(
            cam.identity_error < 1e-4 * (1.0 + cam.logit.abs() as f64),
            "class {c}: {}",
            cam.identity_error
        );
        assert_eq!(cam.persons_present, vec![true, false]);
        // The absent person keeps its raw values (the head averages over it) but is blank when displayed.
        let (norm, _) = cam.normalized(skelcam::cam::core::Normalization::Minmax, None);
        assert!(norm
            .index_axis(ndarray::Axis(2), 1)
            .iter()
            .all(|&x| x == 0.0));
        assert!(norm
            .iter()
            .all(|x| x.is_finite() && (0.0..=1.0).contains(x)));
    }
    let both = explain(&model, &sample(20, true), &ClassChoice::Auto, Method::Cam).unwrap();
    assert_eq!(both.persons_present, vec![true, true]);
    assert_eq!(both.class, both.predicted);
}

#[test]
fn gradcam_equals_relu_of_cam_over_the_pooled_size() {
    let model = SkeletonModel::load(run_dir()).unwrap();
    let seq = sample(16, true);
    for c in 0..model.run.classes.len() {
        let cam = explain(&model, &seq, &ClassChoice::Index(c), Method::Cam).unwrap();
        let grad = explain(&model, &seq, &ClassChoice::Index(c), Method::Gradcam).unwrap();
        let z = cam.raw.len() as f32; // T'·V·M positions averaged by the head
        for (g, m) in grad.raw.iter().zip(cam.raw.iter()) {
            assert!(
                (g * z - m.max(0.0)).abs() < 1e-4 * (1.0 + m.abs()),
                "{} vs {}",
                g * z,
                m.max(0.0)
            );
        }
    }
}

#[test]
fn time_map_uses_the_real_stride_and_the_true_length() {
    // Padded input: 10 real frames of T = 16, stride 4, T' = 4.
    let pad = TimeMap {
        frames: 10,
        input_frames: 16,
        feature_frames: 4,
        stride: 4,
        resampled: false,
    };
    let idx: Vec<usize> = (0..10).map(|f| pad.feature_index(f)).collect();
    assert_eq!(idx, vec![0, 0, 0, 0, 1, 1, 1, 1, 2, 2]);
    // Resampled: 40 original frames stretched to T = 16; the last original frame maps to the last cell.
    let res = TimeMap {
        frames: 40,
        input_frames: 16,
        feature_frames: 4,
        stride: 4,
        resampled: true,
    };
    assert_eq!((res.feature_index(0), res.feature_index(39)), (0, 3));
    let map = Array3::from_shape_fn((4, 2, 1), |(t, _, _)| t as f32);
    let frames = res.to_frames(&map);
    assert_eq!(frames.dim(), (40, 2, 1));
    assert!(frames.index_axis(ndarray::Axis(0), 20)[[0, 0]] >= 1.0);
    // From the model: T' = T / stride, the shown frames = the sequence's own frames.
    let model = SkeletonModel::load(run_dir()).unwrap();
    let cam = explain(&model, &sample(23, false), &ClassChoice::Auto, Method::Cam).unwrap();
    assert_eq!(
        (cam.time.stride, cam.time.feature_frames, cam.time.frames),
        (4, 4, 23)
    );
    assert_eq!(cam.raw_frames.dim(), (23, 20, 2));
}

#[test]
fn flat_maps_become_uniform_not_nan() {
    let flat = Array3::<f32>::from_elem((4, 3, 2), 0.7);
    let (n, is_flat) = minmax(&flat, &[true, true]);
    assert!(is_flat && n.iter().all(|&x| x == 0.0));
    let model = SkeletonModel::load(run_dir()).unwrap();
    let mut cam = explain(&model, &sample(16, false), &ClassChoice::Auto, Method::Cam).unwrap();
    cam.raw_frames.fill(2.5);
    let dir = tempfile::tempdir().unwrap();
    let was_flat = skelcam::commands::skeleton_cam::write_sample(
        dir.path(),
        &cam,
        &model,
        &skelcam::commands::skeleton_cam::SampleFiles::new(
            skelcam::cam::core::Normalization::Minmax,
        ),
    )
    .unwrap();
    assert!(was_flat);
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("cam.json")).unwrap())
            .unwrap();
    assert_eq!(doc["flat"], true);
    assert!(doc["normalized"]
        .to_string()
        .split(['[', ']', ','])
        .filter(|s| !s.is_empty())
        .all(|s| s == "0.0"));
    assert!(dir.path().join("heatmap.png").is_file());
}

/// `skeleton cam` of the shared run's test split into `out` with `extra` options; its index.json.
fn cam_of_split(out: &Path, extra: &[&str]) -> Value {
    skelcam()
        .args(["skeleton", "cam"])
        .args(extra)
        .arg("--run")
        .arg(run_dir())
        .arg("--out")
        .arg(out)
        .assert()
        .success();
    serde_json::from_str(&std::fs::read_to_string(out.join("index.json")).unwrap()).unwrap()
}

#[test]
fn cam_command_writes_every_file_with_the_documented_schema() {
    let out = tempfile::tempdir().unwrap();
    let index = cam_of_split(out.path(), &["--verify", "--limit", "2"]);
    let samples = index["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 2);
    let sub = out.path().join(samples[0]["folder"].as_str().unwrap());
    for f in [
        "heatmap.png",
        "heatmap.svg",
        "joints.png",
        "skeleton.png",
        "cam.json",
    ] {
        assert!(sub.join(f).is_file(), "{f}");
    }
    assert!(std::fs::read_to_string(sub.join("heatmap.svg"))
        .unwrap()
        .contains("<svg"));
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(sub.join("cam.json")).unwrap()).unwrap();
    for k in [
        "schema_version",
        "class",
        "probability",
        "logit",
        "bias",
        "raw",
        "normalized",
        "layout",
        "joints",
        "stride",
        "frames",
        "frames_feature",
        "persons_present",
    ] {
        assert!(doc.get(k).is_some(), "cam.json lacks {k}");
    }
    let (tf, frames) = (
        doc["frames_feature"].as_u64().unwrap() as usize,
        doc["frames"].as_u64().unwrap() as usize,
    );
    assert_eq!(doc["raw"].as_array().unwrap().len(), tf);
    assert_eq!(doc["raw"][0].as_array().unwrap().len(), 20);
    assert_eq!(doc["raw"][0][0].as_array().unwrap().len(), 2);
    assert_eq!(doc["normalized"].as_array().unwrap().len(), frames);
    assert_eq!(doc["persons_present"], serde_json::json!([true, false]));
    // mean(raw) + bias = logit, from the file alone.
    let raw: Vec<f64> = doc["raw"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| {
            a.as_array()
                .unwrap()
                .iter()
                .flat_map(|b| b.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
        })
        .collect();
    let mean = raw.iter().sum::<f64>() / raw.len() as f64;
    assert!((mean + doc["bias"].as_f64().unwrap() - doc["logit"].as_f64().unwrap()).abs() < 1e-4);

    // A named class and an unknown one.
    let one = tempfile::tempdir().unwrap();
    skelcam()
        .args([
            "skeleton",
            "cam",
            "--class",
            "kick_right",
            "--limit",
            "1",
            "--run",
        ])
        .arg(run_dir())
        .arg("--out")
        .arg(one.path())
        .assert()
        .success();
    let bad = skelcam()
        .args(["skeleton", "cam", "--class", "nope", "--run"])
        .arg(run_dir())
        .arg("--out")
        .arg(one.path())
        .assert()
        .failure();
    assert!(String::from_utf8_lossy(&bad.get_output().stderr).contains("wave_right"));
}

#[test]
fn faithfulness_and_summary_commands() {
    let v = json_stdout(
        skelcam()
            .args([
                "skeleton",
                "faithfulness",
                "--json",
                "--limit",
                "6",
                "--run",
            ])
            .arg(run_dir()),
    );
    for k in [
        "deletion_auc",
        "random_deletion_auc",
        "insertion_auc",
        "random_insertion_auc",
        "topk_hit_rate",
    ] {
        let x = v[k].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&x), "{k} = {x}");
    }
    let dir = tempfile::tempdir().unwrap();
    skelcam()
        .args(["skeleton", "cam-summary", "--export", "npy,csv", "--run"])
        .arg(run_dir())
        .arg("--out")
        .arg(dir.path())
        .assert()
        .success();
    let bytes = std::fs::read(dir.path().join("class_means.npy")).unwrap();
    let means = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = means.shape().to_vec();
    assert_eq!((shape[0], shape[2]), (4, 20), "classes × bins × joints");
    let csv = std::fs::read_to_string(dir.path().join("class_means.csv")).unwrap();
    assert_eq!(
        csv.lines().count() as u64,
        1 + shape.iter().product::<u64>()
    );
    for f in [
        "summary.png",
        "summary.svg",
        "class_joints.png",
        "top_joints.json",
    ] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    let top: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("top_joints.json")).unwrap())
            .unwrap();
    assert_eq!(
        top["classes"]["wave_right"]["top_joints"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[test]
fn cam_finds_the_moving_joints_of_synthetic_actions_and_beats_a_random_ranking() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    skelcam()
        .args([
            "skeleton",
            "train",
            "--format",
            "synthetic",
            "--epochs",
            "30",
            "--out",
        ])
        .arg(&run)
        .assert()
        .success();
    let v = json_stdout(
        skelcam()
            .args(["skeleton", "faithfulness", "--json", "--run"])
            .arg(&run),
    );
    let f = |k: &str| v[k].as_f64().unwrap();
    assert!(f("topk_hit_rate") >= 0.9, "{v}");
    assert!(f("deletion_auc") < f("random_deletion_auc") - 0.05, "{v}");
    assert!(f("insertion_auc") > f("random_insertion_auc") + 0.05, "{v}");
}

/// A (A, B, C) nested JSON array, flattened as f32 (cam.json writes each f32 so that it reads back exactly).
pub(crate) fn flat3(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a.as_array().unwrap().iter())
        .flat_map(|b| b.as_array().unwrap().iter())
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn exported_arrays_equal_cam_json_and_the_animation_shows_every_frame() {
    use image::AnimationDecoder;
    let out = tempfile::tempdir().unwrap();
    let index = cam_of_split(out.path(), &["--limit", "1", "--export", "npy,csv"]);
    let sub = out
        .path()
        .join(index["samples"][0]["folder"].as_str().unwrap());
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(sub.join("cam.json")).unwrap()).unwrap();
    let read = |name: &str| {
        let bytes = std::fs::read(sub.join(name)).unwrap();
        let f = npyz::NpyFile::new(&bytes[..]).unwrap();
        let shape: Vec<usize> = f.shape().iter().map(|&d| d as usize).collect();
        (shape, f.into_vec::<f32>().unwrap())
    };
    let (tf, frames) = (
        doc["frames_feature"].as_u64().unwrap() as usize,
        doc["frames"].as_u64().unwrap() as usize,
    );
    let (shape, raw) = read("raw.npy");
    assert_eq!(shape, vec![tf, 20, 2]);
    assert_eq!(
        raw,
        flat3(&doc["raw"]),
        "raw.npy is cam.json's raw, exactly"
    );
    let (shape, norm) = read("normalized.npy");
    assert_eq!(shape, vec![frames, 20, 2]);
    assert_eq!(norm, flat3(&doc["normalized"]));
    // cam.csv: one row per (frame, joint, person) cell, with the joint's name and the raw value.
    let csv = std::fs::read_to_string(sub.join("cam.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("frame,person,joint,joint_name,value"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), tf * 20 * 2);
    let joints = doc["joints"].as_array().unwrap();
    for r in &rows {
        let (t, m, v): (usize, usize, usize) = (
            r[0].parse().unwrap(),
            r[1].parse().unwrap(),
            r[2].parse().unwrap(),
        );
        assert_eq!(r[3], joints[v].as_str().unwrap());
        assert_eq!(r[4].parse::<f32>().unwrap(), raw[(t * 20 + v) * 2 + m]);
    }
    // skeleton.gif: one frame per frame of the sequence (it has fewer than 100), looping.
    let gif = std::fs::File::open(sub.join("skeleton.gif")).unwrap();
    let decoder = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(gif)).unwrap();
    let shown = decoder.into_frames().collect_frames().unwrap();
    assert_eq!(shown.len(), frames);
    assert!(shown.windows(2).any(|w| w[0].buffer() != w[1].buffer()));
    // --no-gif leaves it out.
    let quiet = tempfile::tempdir().unwrap();
    skelcam()
        .args(["skeleton", "cam", "--limit", "1", "--no-gif", "--run"])
        .arg(run_dir())
        .arg("--out")
        .arg(quiet.path())
        .assert()
        .success();
    assert!(!quiet
        .path()
        .join(index["samples"][0]["folder"].as_str().unwrap())
        .join("skeleton.gif")
        .exists());
}

/// `--temporal-kernel` and `--max-hop` override the preset: recorded in the run, and the saved temporal
/// convolutions have that many taps.
#[test]
fn temporal_kernel_and_max_hop_options_shape_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let opts = ["--epochs", "1", "--temporal-kernel", "3", "--max-hop", "2"];
    crate::common::train_tiny(&run, &opts).success();
    let config = crate::common::json(&run.join("config.json"));
    assert_eq!(config["model"]["temporal_kernel"], 3);
    assert_eq!(config["model"]["max_hop"], 2);
    let tcn = &crate::common::run_tensors(&run)["st_gcn_networks.0.tcn.2.weight"];
    assert_eq!(tcn.dims()[2..], [3, 1]);
}

/// `--adaptive-graph`: every block learns its adjacency offset (saved, non-zero after training, absent
/// without the option), the run reloads to the metrics it reported, and the CAM identity still holds,
/// since the head is still global pooling and one linear layer.
#[test]
fn an_adaptive_graph_learns_its_offsets_and_keeps_the_cam_identity() {
    let dir = tempfile::tempdir().unwrap();
    let (adaptive, fixed) = (dir.path().join("adaptive"), dir.path().join("fixed"));
    let opts = ["--epochs", "2", "--seed", "4"];
    crate::common::train_tiny(&adaptive, &[&opts[..], &["--adaptive-graph"]].concat()).success();
    crate::common::train_tiny(&fixed, &opts).success();
    let config = crate::common::json(&adaptive.join("config.json"));
    assert_eq!(config["model"]["adaptive"], true);
    assert_eq!(config["train"]["adaptive_graph"], true);
    assert_eq!(
        config["train"]["graph_offset_decay"], 0.1,
        "the default is recorded"
    );
    let info = json_stdout(
        skelcam()
            .args(["skeleton", "info", "--json", "--run"])
            .arg(&adaptive),
    );
    assert_eq!(
        (&info["adaptive_graph"], &info["graph_offset_decay"]),
        (&Value::Bool(true), &serde_json::json!(0.1))
    );
    let tensors = crate::common::run_tensors;
    let offsets: Vec<_> = tensors(&adaptive)
        .into_iter()
        .filter(|(name, _)| name.ends_with("gcn.graph_offset"))
        .collect();
    assert_eq!(offsets.len(), 3, "one offset per block of stgcn-tiny");
    for (name, t) in &offsets {
        let largest = t
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(largest > 0.0, "{name} stayed at its initial zero");
    }
    assert!(tensors(&fixed).keys().all(|n| !n.contains("graph_offset")));
    assert!(crate::common::json(&fixed.join("config.json"))["model"]
        .get("adaptive")
        .is_none());

    // The offsets' own decay holds them nearer zero the stronger it is.
    let mean_offset = |run: &Path| {
        let all: Vec<f32> = tensors(run)
            .into_iter()
            .filter(|(name, _)| name.ends_with("gcn.graph_offset"))
            .flat_map(|(_, t)| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
            .collect();
        all.iter().map(|x| x.abs()).sum::<f32>() / all.len() as f32
    };
    let (loose, tight) = (dir.path().join("loose"), dir.path().join("tight"));
    for (run, decay) in [(&loose, "0"), (&tight, "2")] {
        crate::common::train_tiny(
            run,
            &[
                &opts[..],
                &["--adaptive-graph", "--graph-offset-decay", decay],
            ]
            .concat(),
        )
        .success();
    }
    let (l, d, t) = (
        mean_offset(&loose),
        mean_offset(&adaptive),
        mean_offset(&tight),
    );
    assert!(
        l > d && d > t,
        "mean |offset| with decay 0, 0.1, 2: {l} {d} {t}"
    );

    let v = json_stdout(
        skelcam()
            .args(["skeleton", "eval", "--json", "--run"])
            .arg(&adaptive),
    );
    let m = crate::common::json(&adaptive.join("metrics.json"));
    assert_eq!(v["confusion"], m["confusion"]);
    let model = SkeletonModel::load(&adaptive).unwrap();
    for c in 0..model.run.classes.len() {
        let cam = explain(
            &model,
            &sample(16, false),
            &ClassChoice::Index(c),
            Method::Cam,
        )
        .unwrap();
        assert!(
            cam.identity_error < 1e-4 * (1.0 + cam.logit.abs() as f64),
            "class {c}: {}",
            cam.identity_error
        );
    }
}
