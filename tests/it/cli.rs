//! The `skelcam` command line end to end: training runs and their files, refusing to overwrite,
//! exact resume after a crash, bit-for-bit seeds, config files, eval/info JSON and bad-input errors.

use serde_json::Value;

use crate::common::{json, json_stdout, skelcam, train_tiny as train};

#[test]
fn train_writes_the_run_directory_contract_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &["--epochs", "2"]).success();
    for f in [
        "config.json",
        "model.safetensors",
        "checkpoint.safetensors",
        "metrics.json",
        "curves.png",
        "confusion.png",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let m = json(&run.join("metrics.json"));
    for k in [
        "test_top1",
        "test_top5",
        "train_top1",
        "epochs",
        "classes",
        "seconds",
        "per_class",
        "confusion",
        "history",
    ] {
        assert!(m.get(k).is_some(), "metrics.json lacks {k}");
    }
    assert_eq!(m["epochs"], 2);
    assert_eq!(m["classes"].as_array().unwrap().len(), 4);
    let png = std::fs::read(run.join("confusion.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let cfg = json(&run.join("config.json"));
    assert_eq!(cfg["train"]["model"], "stgcn-tiny");
    assert_eq!(cfg["train"]["epochs"], 2);

    let out = train(&run, &["--epochs", "1"]).failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    train(&run, &["--epochs", "1", "--force"]).success();
    assert_eq!(json(&run.join("metrics.json"))["epochs"], 1);
}

#[test]
fn resume_after_a_crash_matches_an_uninterrupted_run_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    train(&a, &["--epochs", "4", "--seed", "3"]).success();
    // Crash (abort, as kill -9) right after epoch 2's checkpoint.
    crate::common::tiny_cmd(&b, &["--epochs", "4", "--seed", "3"])
        .env("SKELCAM_ABORT_AFTER_EPOCH", "2")
        .assert()
        .failure();
    assert!(!b.join("metrics.json").exists());
    skelcam()
        .args(["skeleton", "train", "--resume"])
        .arg(&b)
        .assert()
        .success();
    let (ma, mb) = (json(&a.join("metrics.json")), json(&b.join("metrics.json")));
    for k in [
        "test_top1",
        "test_top5",
        "train_top1",
        "test_loss",
        "confusion",
    ] {
        assert_eq!(ma[k], mb[k], "{k}");
    }
    let losses = |m: &Value| {
        m["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["train_loss"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(losses(&ma), losses(&mb));
    assert_eq!(
        std::fs::read(a.join("model.safetensors")).unwrap(),
        std::fs::read(b.join("model.safetensors")).unwrap()
    );

    // Same seed again from scratch: the same bytes; another seed: different weights.
    let c = dir.path().join("c");
    train(&c, &["--epochs", "4", "--seed", "3"]).success();
    assert_eq!(
        std::fs::read(a.join("model.safetensors")).unwrap(),
        std::fs::read(c.join("model.safetensors")).unwrap()
    );
    let d = dir.path().join("d");
    train(&d, &["--epochs", "1", "--seed", "4"]).success();
    train(&c, &["--epochs", "1", "--seed", "3", "--force"]).success();
    assert_ne!(
        std::fs::read(c.join("model.safetensors")).unwrap(),
        std::fs::read(d.join("model.safetensors")).unwrap()
    );
}

#[test]
fn a_weight_averaged_run_saves_the_average_it_evaluated_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, raw) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("raw"),
    );
    let opts = ["--epochs", "3", "--seed", "5", "--ema", "0.9"];
    train(&a, &opts).success();
    crate::common::tiny_cmd(&b, &opts)
        .env("SKELCAM_ABORT_AFTER_EPOCH", "1")
        .assert()
        .failure();
    skelcam()
        .args(["skeleton", "train", "--resume"])
        .arg(&b)
        .assert()
        .success();
    let model = |p: &std::path::Path| std::fs::read(p.join("model.safetensors")).unwrap();
    assert_eq!(model(&a), model(&b), "resume lost the weight average");
    assert_eq!(json(&a.join("config.json"))["train"]["ema"], 0.9);
    // The same training without the average saves other weights...
    train(&raw, &["--epochs", "3", "--seed", "5"]).success();
    assert_ne!(model(&a), model(&raw));
    // ...and the saved average is the model that training evaluated last.
    let v = json_stdout(
        skelcam()
            .args(["skeleton", "eval", "--json", "--run"])
            .arg(&a),
    );
    let m = json(&a.join("metrics.json"));
    assert_eq!(v["confusion"], m["confusion"]);
    // A decay outside (0, 1) is refused, naming the option.
    let out = train(&dir.path().join("bad"), &["--ema", "1"]).failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("ema") && err.contains("0.99"), "{err}");
}

#[test]
fn config_file_is_overridden_by_the_command_line_and_unknown_keys_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg.json");
    std::fs::write(&cfg, r#"{"format": "synthetic", "data": "tiny", "model": "stgcn-tiny", "frames": 16, "epochs": 3, "lr": 0.02}"#).unwrap();
    let run = dir.path().join("run");
    skelcam()
        .args(["skeleton", "train", "--config"])
        .arg(&cfg)
        .args(["--epochs", "1", "--out"])
        .arg(&run)
        .assert()
        .success();
    let c = json(&run.join("config.json"));
    assert_eq!(
        (c["train"]["epochs"].as_u64(), c["train"]["lr"].as_f64()),
        (Some(1), Some(0.02))
    );

    std::fs::write(&cfg, r#"{"epochz": 3}"#).unwrap();
    let out = skelcam()
        .args(["skeleton", "train", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(dir.path().join("x"))
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("cfg.json") && err.contains("epochz"), "{err}");
}

#[test]
fn own_kernels_and_plain_candle_ops_evaluate_a_run_alike() {
    // The fused nodes (graph-first spatial unit, conv bias inside the conv, ...) compute the same network
    // as the official composition of candle ops: the same predictions and, up to float order, the same loss.
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &["--epochs", "2"]).success();
    let eval = |kernels: &str| {
        json_stdout(
            skelcam()
                .env("SKELCAM_KERNELS", kernels)
                .args(["skeleton", "eval", "--json", "--run"])
                .arg(&run),
        )
    };
    let (ours, plain) = (eval("skelcam"), eval("candle"));
    assert_eq!(ours["confusion"], plain["confusion"]);
    let (a, b) = (
        ours["loss"].as_f64().unwrap(),
        plain["loss"].as_f64().unwrap(),
    );
    assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "loss {a} vs {b}");
}

#[test]
fn eval_and_info_print_json() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &["--epochs", "1"]).success();
    let v = json_stdout(
        skelcam()
            .args(["skeleton", "eval", "--json", "--run"])
            .arg(&run),
    );
    for k in ["top1", "top5", "per_class", "confusion"] {
        assert!(v.get(k).is_some(), "{k}");
    }
    assert_eq!(v["per_class"].as_object().unwrap().len(), 4);
    // The same numbers as training's final evaluation.
    assert_eq!(v["top1"], json(&run.join("metrics.json"))["test_top1"]);

    let v = json_stdout(skelcam().args([
        "skeleton",
        "info",
        "--model",
        "stgcn",
        "--layout",
        "ntu25",
        "--classes",
        "60",
        "--json",
    ]));
    assert_eq!(v["params"], 3_098_832);

    // Evaluating on data with another layout is refused clearly.
    let out = skelcam()
        .args(["skeleton", "eval", "--layout", "ntu25", "--run"])
        .arg(&run)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("25 joints") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn bad_data_gives_one_clear_error_and_skip_bad_lists_what_it_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("msr");
    std::fs::create_dir(&data).unwrap();
    let frame: String = (0..20).map(|j| format!("{}.0 1.0 2.0 1.0\n", j)).collect();
    for s in 1..=4 {
        for a in 1..=2 {
            std::fs::write(
                data.join(format!("a{a:02}_s{s:02}_e01_skeleton3D.txt")),
                frame.repeat(6),
            )
            .unwrap();
        }
    }
    std::fs::write(
        data.join("a01_s05_e01_skeleton3D.txt"),
        "1.0 2.0 oops 1.0\n",
    )
    .unwrap();
    let args = [
        "skeleton",
        "train",
        "--format",
        "msr",
        "--model",
        "stgcn-tiny",
        "--frames",
        "8",
        "--epochs",
        "1",
        "--data",
    ];
    let out = skelcam()
        .args(args)
        .arg(&data)
        .arg("--out")
        .arg(dir.path().join("r1"))
        .assert()
        .failure()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("a01_s05_e01_skeleton3D.txt:1 (field z)") && !err.contains("panicked"),
        "{err}"
    );

    let out = skelcam()
        .args(args)
        .arg(&data)
        .arg("--skip-bad")
        .arg("--out")
        .arg(dir.path().join("r2"))
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("skipped 1 file") && err.contains("a01_s05_e01"),
        "{err}"
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = skelcam()
        .args(args)
        .arg(&empty)
        .arg("--out")
        .arg(dir.path().join("r3"))
        .assert()
        .failure();
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("no MSR Action3D files"));
}

#[test]
fn synth_writes_a_csv_dataset_that_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("syn");
    skelcam()
        .args(["synth", "--preset", "tiny", "--layout", "ntu25", "--out"])
        .arg(&out)
        .assert()
        .success();
    let gt = json(&out.join("ground_truth.json"));
    assert_eq!(gt["classes"][0]["class"], "wave_right");
    let run = dir.path().join("run");
    skelcam()
        .args([
            "skeleton",
            "train",
            "--format",
            "csv",
            "--layout",
            "ntu25",
            "--train-subjects",
            "1,3",
            "--model",
            "stgcn-tiny",
        ])
        .args(["--frames", "16", "--epochs", "1", "--data"])
        .arg(&out)
        .arg("--out")
        .arg(&run)
        .assert()
        .success();
    assert_eq!(
        json(&run.join("metrics.json"))["classes"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn bench_prints_one_json_object_per_case() {
    let out = skelcam()
        .args([
            "bench",
            "--json",
            "--model",
            "stgcn-tiny",
            "--batch",
            "2",
            "--iters",
            "1",
            "--cases",
            "stgcn_train,stgcn_infer_cam",
        ])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    for (row, case) in rows.iter().zip(["stgcn_train", "stgcn_infer_cam"]) {
        assert_eq!(row["case"], case);
        assert!(
            row["samples_per_sec"].as_f64().unwrap() > 0.0 && row["gflops"].as_f64().unwrap() > 0.0
        );
    }
    let bad = skelcam()
        .args(["bench", "--cases", "nope"])
        .assert()
        .failure();
    assert!(String::from_utf8_lossy(&bad.get_output().stderr).contains("stgcn_train"));
}

#[test]
fn flop_count_matches_a_hand_count() {
    // stgcn-tiny (16, 32 s2, 32 s2; kt 9; K 3) on 20 joints, T = 16, 4 classes, in multiply-adds:
    // block 1: 1x1 16*20*3*48 + graph 16*20*16*60 + temporal 16*20*16*16*9 = 1,090,560
    // block 2: 16*20*16*96 + 16*20*32*60 + 8*20*32*32*9 + residual 8*20*16*32 = 2,662,400
    // block 3: 8*20*32*96 + 8*20*32*60 + 4*20*32*32*9 + residual 4*20*32*32 = 1,617,920; head 32*4 = 128.
    let cfg = skelcam::models::StgcnConfig::preset("stgcn-tiny", 3, 4).unwrap();
    assert_eq!(cfg.forward_flops(20, 16, 1, 3), 2.0 * 5_371_008.0);
    assert_eq!(cfg.forward_flops(20, 16, 2, 3), 4.0 * 5_371_008.0);
}

#[test]
fn output_piped_into_a_reader_that_stops_early_ends_quietly() {
    // `skelcam skeleton info | true`: the reader has closed the pipe before the first line is written.
    let exe = assert_cmd::cargo::cargo_bin("skelcam");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' skeleton info --model stgcn | true",
            exe.display()
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
}

#[test]
fn data_with_the_model_classes_in_another_order_is_labelled_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    crate::common::train_tiny(&run, &["--epochs", "2"]).success();
    // The same sequences written as CSV: labels.csv lists the classes, read back in sorted order, which is
    // not the generator's.
    let out = dir.path().join("syn");
    skelcam()
        .args(["synth", "--preset", "tiny", "--out"])
        .arg(&out)
        .assert()
        .success();
    let eval = |data: &std::path::Path| {
        skelcam()
            .args(["skeleton", "eval", "--json", "--format", "csv", "--run"])
            .arg(&run)
            .args(["--train-subjects", "1,3,5,7,9", "--data"])
            .arg(data)
            .output()
            .unwrap()
    };
    let r = eval(&out);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let ev: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let m = json(&run.join("metrics.json"));
    assert_eq!(ev["top1"], m["test_top1"], "{ev}");
    // A class the model does not have is an error naming it.
    let labels = std::fs::read_to_string(out.join("labels.csv")).unwrap();
    std::fs::write(
        out.join("labels.csv"),
        labels.replacen("wave_right", "somersault", 1),
    )
    .unwrap();
    let r = eval(&out);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("somersault"));
}

/// `skelcam demo`, shortened to one epoch of each model, writes every figure the README lists.
#[test]
fn demo_writes_every_figure_it_promises() {
    let dir = tempfile::tempdir().unwrap();
    let (out, run, image_run) = (
        dir.path().join("plots"),
        dir.path().join("run"),
        dir.path().join("image_run"),
    );
    skelcam()
        .args(["demo", "--epochs", "1", "--image-epochs", "1", "--out"])
        .arg(&out)
        .arg("--run")
        .arg(&run)
        .arg("--image-run")
        .arg(&image_run)
        .assert()
        .success();
    for f in [
        "curves.png",
        "confusion.png",
        "metrics.json",
        "summary",
        "faithfulness",
        "report/index.html",
        "image/localize/localize.json",
        "image/localize/boxes_00.png",
    ] {
        assert!(out.join(f).exists(), "{f} missing from the demo's output");
    }
    for class in ["house", "tree", "sun"] {
        assert!(
            out.join("image/cam")
                .join(class)
                .join("overlay.png")
                .exists(),
            "{class} overlay"
        );
    }
    let train = json(&image_run.join("config.json"))["train"].clone();
    assert_eq!(train["synthetic"]["fresh"], true);
    assert_eq!(train["synthetic"]["empty_fraction"], 0.25);
    assert_eq!(train["synthetic"]["train_per_class"], 180);
}
