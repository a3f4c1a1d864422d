//! Input modalities and ensembles: bone/motion runs, `skeleton ensemble`'s fused logits and CAMs (the
//! weighted sums of its members', with the GAP identity intact), its refusals, and that the fused CAM still
//! finds the synthetic actions' moving joints.

use crate::cam::flat3;
use crate::common::{json, json_stdout, skelcam, train_tiny};
use serde_json::Value;
use std::path::{Path, PathBuf};

const MODALITIES: [&str; 4] = ["joint", "bone", "joint-motion", "bone-motion"];

fn members(root: &Path) -> Vec<PathBuf> {
    MODALITIES
        .iter()
        .map(|m| {
            let run = root.join(m);
            train_tiny(&run, &["--epochs", "4", "--modality", m]).success();
            run
        })
        .collect()
}

fn ensemble(runs: &[PathBuf], out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    skelcam()
        .args(["skeleton", "ensemble", "--runs"])
        .args(runs)
        .args(extra)
        .arg("--out")
        .arg(out)
        .assert()
}

/// `skeleton cam` on the first 3 test samples for class 0; the cam.json documents by sample name.
fn cams(run: &Path, out: &Path) -> Vec<Value> {
    skelcam()
        .args([
            "skeleton", "cam", "--limit", "3", "--class", "0", "--verify", "--run",
        ])
        .arg(run)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
    let mut docs: Vec<Value> = std::fs::read_dir(out)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path().join("cam.json");
            p.is_file().then(|| json(&p))
        })
        .collect();
    docs.sort_by_key(|d| d["sample"].as_str().unwrap().to_string());
    docs
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn an_ensemble_adds_its_members_logits_and_cams_and_keeps_the_identity() {
    let root = tempfile::tempdir().unwrap();
    let runs = members(root.path());
    for (run, m) in runs.iter().zip(MODALITIES) {
        let info = json_stdout(
            skelcam()
                .args(["skeleton", "info", "--json", "--run"])
                .arg(run),
        );
        assert_eq!(info["input"]["modality"], m, "{info}");
        let channels = if m.ends_with("motion") { 3 } else { 6 };
        assert_eq!(info["channels"], channels, "{info}");
    }
    let weights = [0.5f32, 1.0, 1.5, 0.25];
    let ens = root.path().join("ensemble");
    ensemble(&runs, &ens, &["--weights", "0.5,1,1.5,0.25"]).success();
    let metrics = json(&ens.join("metrics.json"));
    assert_eq!(metrics["streams_top1"].as_array().unwrap().len(), 4);
    let eval = json_stdout(
        skelcam()
            .args(["skeleton", "eval", "--json", "--run"])
            .arg(&ens),
    );
    assert_eq!(eval["top1"], metrics["test_top1"]);

    let fused = cams(&ens, &root.path().join("cam_ensemble"));
    let own: Vec<Vec<Value>> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| cams(r, &root.path().join(format!("cam_{i}"))))
        .collect();
    assert_eq!(fused.len(), 3);
    for (k, doc) in fused.iter().enumerate() {
        let raw = flat3(&doc["raw"]);
        let members = doc["members"].as_array().unwrap();
        assert_eq!(members.len(), 4);
        let mut sum = vec![0f32; raw.len()];
        let mut logits = vec![0f32; floats(&doc["logits"]).len()];
        for (i, m) in members.iter().enumerate() {
            assert_eq!(m["modality"], MODALITIES[i]);
            assert_eq!(m["weight"].as_f64().unwrap() as f32, weights[i]);
            // Each member's map in the ensemble is that run's own map of the same sample and class.
            let alone = &own[i][k];
            assert_eq!(alone["sample"], doc["sample"]);
            let (mine, theirs) = (flat3(&m["raw"]), flat3(&alone["raw"]));
            for (a, b) in mine.iter().zip(&theirs) {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "member {i}: {a} vs {b}"
                );
            }
            for (s, x) in sum.iter_mut().zip(&mine) {
                *s += weights[i] * x;
            }
            for (l, x) in logits.iter_mut().zip(floats(&alone["logits"])) {
                *l += weights[i] * x;
            }
        }
        for (a, b) in raw.iter().zip(&sum) {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "fused map {a} vs {b}"
            );
        }
        for (a, b) in floats(&doc["logits"]).iter().zip(&logits) {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "fused logit {a} vs {b}"
            );
        }
        // mean(CAM) + Σ w_i b_i = fused logit.
        let mean = raw.iter().map(|&x| x as f64).sum::<f64>() / raw.len() as f64;
        let (bias, logit) = (
            doc["bias"].as_f64().unwrap(),
            doc["logit"].as_f64().unwrap(),
        );
        assert!(
            (mean + bias - logit).abs() < 1e-4,
            "{mean} + {bias} vs {logit}"
        );
    }
}

#[test]
fn an_ensemble_refuses_members_that_do_not_share_the_input() {
    let root = tempfile::tempdir().unwrap();
    let a = root.path().join("a");
    let b = root.path().join("b");
    train_tiny(&a, &["--epochs", "1"]).success();
    train_tiny(
        &b,
        &["--epochs", "1", "--modality", "bone", "--persons", "3"],
    )
    .success();
    let out = root.path().join("ens");
    let err = |runs: &[PathBuf], extra: &[&str], out: &Path| {
        String::from_utf8(
            ensemble(runs, out, extra)
                .failure()
                .get_output()
                .stderr
                .clone(),
        )
        .unwrap()
    };
    let e = err(&[a.clone(), b.clone()], &[], &out);
    assert!(e.contains("persons") && e.contains("--modality"), "{e}");
    let e = err(&[a.clone(), a.clone()], &["--weights", "1,2,3"], &out);
    assert!(
        e.contains("--weights") && e.contains("one weight per run"),
        "{e}"
    );
    let e = err(&[a.clone(), a.clone()], &["--weights", "1,NaN"], &out);
    assert!(e.contains("finite"), "{e}");
    let e = err(&[a.clone(), a.clone()], &[], &a);
    assert!(e.contains("not one of the member runs"), "{e}");
    assert!(a.join("model.safetensors").is_file());
    // An ensemble is not trained, and is no RA-GCN baseline.
    ensemble(&[a.clone(), a.clone()], &out, &[]).success();
    let e = String::from_utf8(
        skelcam()
            .args(["ragcn", "train", "--epochs", "1", "--baseline"])
            .arg(&out)
            .arg("--out")
            .arg(root.path().join("rg"))
            .assert()
            .failure()
            .get_output()
            .stderr
            .clone(),
    )
    .unwrap();
    assert!(e.contains("not an RA-GCN run or an ensemble"), "{e}");
}

#[test]
fn the_fused_cam_of_a_joint_and_bone_ensemble_finds_the_moving_joints() {
    let root = tempfile::tempdir().unwrap();
    let runs: Vec<PathBuf> = ["joint", "bone"]
        .iter()
        .map(|m| {
            let run = root.path().join(m);
            skelcam()
                .args([
                    "skeleton",
                    "train",
                    "--format",
                    "synthetic",
                    "--epochs",
                    "20",
                ])
                .args(["--modality", m, "--out"])
                .arg(&run)
                .assert()
                .success();
            run
        })
        .collect();
    let ens = root.path().join("ensemble");
    ensemble(&runs, &ens, &[]).success();
    let v = json_stdout(
        skelcam()
            .args(["skeleton", "faithfulness", "--json", "--run"])
            .arg(&ens),
    );
    let f = |k: &str| v[k].as_f64().unwrap();
    assert!(f("topk_hit_rate") >= 0.9, "{v}");
    assert!(f("deletion_auc") < f("random_deletion_auc"), "{v}");
}
