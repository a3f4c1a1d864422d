//! Optimisers and schedules, checked against hand-computed steps.

use candle_core::{Device, Tensor, Var};
use skelcam::train::optim::{OptimKind, Optimizer};
use skelcam::train::schedule::{Schedule, ScheduleKind};

fn step_once(kind: OptimKind, steps: usize) -> Vec<f32> {
    let p = Var::from_tensor(&Tensor::new(&[1.0f32, -2.0], &Device::Cpu).unwrap()).unwrap();
    let mut opt = Optimizer::new(kind, vec![("p".into(), p.clone())], 0.9, 0.1);
    for _ in 0..steps {
        // loss = sum(p^2) / 2, gradient p.
        let loss = (p.as_tensor().sqr().unwrap().sum_all().unwrap() * 0.5).unwrap();
        opt.step(&loss.backward().unwrap(), 0.5).unwrap();
    }
    p.as_tensor().to_vec1::<f32>().unwrap()
}

#[test]
fn sgd_nesterov_with_weight_decay_matches_hand_computation() {
    // Step 1: g = p + 0.1 p = 1.1 p; buf = g; d = g + 0.9 buf = 1.9 g = 2.09 p; p1 = p - 0.5 * 2.09 p = -0.045 p.
    let p1 = step_once(OptimKind::Sgd, 1);
    assert!(
        (p1[0] - (-0.045)).abs() < 1e-6 && (p1[1] - 0.09).abs() < 1e-6,
        "{p1:?}"
    );
    // Step 2: g2 = 1.1 p1; buf2 = 0.9 buf + g2; d2 = g2 + 0.9 buf2.
    let (p, p1v) = (1.0f32, -0.045f32);
    let buf = 1.1 * p;
    let g2 = 1.1 * p1v;
    let buf2 = 0.9 * buf + g2;
    let want = p1v - 0.5 * (g2 + 0.9 * buf2);
    let p2 = step_once(OptimKind::Sgd, 2);
    assert!((p2[0] - want).abs() < 1e-6, "{} vs {want}", p2[0]);
}

#[test]
fn decay_for_gives_the_named_parameters_their_own_weight_decay_only() {
    // loss = w·b, so both gradients are 1 and one SGD step is p1 = p − lr·(1 + μ)·(1 + wd·p), each parameter
    // with its own wd.
    let var = |v: f32| Var::from_tensor(&Tensor::new(&[v], &Device::Cpu).unwrap()).unwrap();
    let (w, off) = (var(1.0), var(1.0));
    let params = vec![
        ("st_gcn_networks.0.gcn.conv.weight".into(), w.clone()),
        ("st_gcn_networks.0.gcn.graph_offset".into(), off.clone()),
    ];
    let mut opt =
        Optimizer::new(OptimKind::Sgd, params, 0.9, 0.01).decay_for("gcn.graph_offset", 0.3);
    let loss = (w.as_tensor() * off.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap();
    opt.step(&loss.backward().unwrap(), 0.5).unwrap();
    let got = |v: &Var| v.as_tensor().to_vec1::<f32>().unwrap()[0];
    let want = |wd: f32| 1.0 - 0.5 * 1.9 * (1.0 + wd);
    assert!((got(&w) - want(0.01)).abs() < 1e-6, "{}", got(&w));
    assert!((got(&off) - want(0.3)).abs() < 1e-6, "{}", got(&off));
}

#[test]
fn adamw_first_step_is_lr_times_sign_plus_decoupled_decay() {
    // Bias-corrected first step: m̂/√v̂ = g/|g| = sign; p1 = p (1 - lr·wd) - lr·sign(p).
    let p1 = step_once(OptimKind::Adamw, 1);
    assert!((p1[0] - (1.0 * 0.95 - 0.5)).abs() < 1e-5, "{p1:?}");
    assert!((p1[1] - (-2.0 * 0.95 + 0.5)).abs() < 1e-5, "{p1:?}");
}

#[test]
fn schedules() {
    let cos = Schedule {
        kind: ScheduleKind::Cosine,
        base_lr: 0.1,
        warmup_epochs: 2.0,
        milestones: vec![],
        epochs: 10,
    };
    assert!(cos.lr(0.0) < 0.001);
    assert!((cos.lr(1.0) - 0.05).abs() < 1e-3);
    assert!((cos.lr(2.0) - 0.1).abs() < 1e-9);
    assert!((cos.lr(6.0) - 0.05).abs() < 1e-9);
    assert!(cos.lr(10.0).abs() < 1e-12);
    let step = Schedule {
        kind: ScheduleKind::Step,
        base_lr: 0.1,
        warmup_epochs: 0.0,
        milestones: vec![10, 30],
        epochs: 50,
    };
    for (e, want) in [(9.9, 0.1), (10.0, 0.01), (35.0, 0.001)] {
        assert!(
            (step.lr(e) - want).abs() < 1e-12,
            "epoch {e}: {}",
            step.lr(e)
        );
    }
}

/// Mixup is on by default and recorded; `--mixup 0` (or 0 in a config file) trains without it, and a run
/// written before the option (no field in its config.json) reads back as trained without it.
#[test]
fn mixup_is_on_by_default_recorded_and_off_at_zero() {
    use crate::common::{json, run_tensors, train_tiny};
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        train_tiny(&out, &[&["--epochs", "2"], extra].concat()).success();
        out
    };
    let (on, off) = (run("on", &[]), run("off", &["--mixup", "0"]));
    let cfg = dir.path().join("c.json");
    std::fs::write(&cfg, r#"{"mixup": 0}"#).unwrap();
    let off_by_file = run("file", &["--config", cfg.to_str().unwrap()]);
    assert_eq!(json(&on.join("config.json"))["train"]["mixup"], 0.2);
    assert!(json(&off.join("config.json"))["train"]
        .get("mixup")
        .is_none());
    let weights = |r: &std::path::Path| std::fs::read(r.join("model.safetensors")).unwrap();
    assert_eq!(weights(&off), weights(&off_by_file));
    let name = "st_gcn_networks.0.gcn.conv.weight";
    let (a, b) = (&run_tensors(&on)[name], &run_tensors(&off)[name]);
    assert!(
        crate::common::max_abs_diff(a, b) > 1e-4,
        "mixup changed nothing"
    );
    let old: skelcam::config::SkeletonTrainConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(
        (
            old.mixup,
            skelcam::config::SkeletonTrainConfig::default().mixup
        ),
        (0.0, 0.2)
    );
}

/// RA-GCN streams train without mixup unless `ragcn train --mixup` asks, whatever their baseline used.
#[test]
fn ragcn_streams_train_without_mixup_unless_asked() {
    use crate::common::{json, ragcn_cmd, train_tiny};
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    train_tiny(&base, &["--epochs", "1"]).success();
    assert_eq!(json(&base.join("config.json"))["train"]["mixup"], 0.2);
    for (name, extra, want) in [("off", None, None), ("on", Some("0.3"), Some(0.3))] {
        let out = dir.path().join(name);
        let mixup = extra.map(|a| vec!["--mixup", a]).unwrap_or_default();
        ragcn_cmd(&base, &out, 2, &mixup).assert().success();
        let got = json(&out.join("config.json"))["train"]["mixup"].as_f64();
        assert_eq!(got, want, "{name}");
    }
}
