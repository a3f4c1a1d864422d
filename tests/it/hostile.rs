//! Hostile input, one test per class of docs/bad-input.md: sizes beyond the limits, paths that are not regular
//! files, values that would be accepted and give a meaningless result, and files that would lose data. Every
//! case must end in a clear error (named file, line, field or flag, and what to do), never a panic, a hang or
//! an allocation of what a size field claims.

use crate::common::{skelcam, train_tiny};
use std::path::{Path, PathBuf};

/// Run skelcam with `args`, require a failure without a panic, and return stderr.
fn refused(args: &[&str]) -> String {
    let out = skelcam()
        .args(args)
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A csv dataset folder with `labels` (after the header) and two 4-frame sequences a.csv, b.csv.
fn csv_dir(root: &Path, labels: &str) -> PathBuf {
    let dir = root.join("csv");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("labels.csv"),
        format!("file,label,subject\n{labels}"),
    )
    .unwrap();
    for name in ["a.csv", "b.csv"] {
        let mut text = String::from("frame,person,joint,x,y,z\n");
        for t in 0..4 {
            for j in 0..20 {
                text.push_str(&format!("{t},0,{j},{},{},1\n", j as f32 * 0.1, t));
            }
        }
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

fn train_csv(dir: &Path, out: &Path) -> String {
    refused(&[
        "skeleton",
        "train",
        "--format",
        "csv",
        "--data",
        s(dir),
        "--epochs",
        "1",
        "--out",
        s(out),
    ])
}

#[test]
fn sizes_beyond_the_limits_are_refused_before_anything_is_allocated() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    // A CSV row claiming frame 2^40.
    let dir = csv_dir(r, "a.csv,x,1\nb.csv,y,2\n");
    std::fs::write(
        dir.join("a.csv"),
        "frame,person,joint,x,y,z\n1099511627776,0,0,1,2,3\n",
    )
    .unwrap();
    let e = train_csv(&dir, &r.join("run"));
    assert!(
        e.contains("a.csv") && e.contains("frame") && e.contains("SKELCAM_MAX_FRAMES"),
        "{e}"
    );
    // Config sizes.
    for (cfg, flag) in [
        (r#"{"frames": 4000000}"#, "frames"),
        (r#"{"persons": 1000}"#, "persons"),
    ] {
        let path = r.join("cfg.json");
        std::fs::write(&path, cfg).unwrap();
        let e = refused(&[
            "skeleton",
            "train",
            "--config",
            s(&path),
            "--data",
            "tiny",
            "--out",
            s(&r.join("r2")),
        ]);
        assert!(e.contains(flag) && e.contains("SKELCAM_MAX_"), "{e}");
    }
    // A layout of 5,000 joints.
    let joints: Vec<String> = (0..5000).map(|i| format!("\"j{i}\"")).collect();
    let edges: Vec<String> = (1..5000).map(|i| format!("[{},{i}]", i - 1)).collect();
    let layout = r.join("big.json");
    std::fs::write(
        &layout,
        format!(
            r#"{{"name":"big","joints":[{}],"edges":[{}],"center":0,"parts":{{"left_arm":[1],"right_arm":[2],"hands":[3],"legs":[4],"trunk":[0]}}}}"#,
            joints.join(","),
            edges.join(",")
        ),
    )
    .unwrap();
    let e = refused(&[
        "skeleton",
        "train",
        "--format",
        "csv",
        "--data",
        s(&dir),
        "--layout",
        s(&layout),
        "--out",
        s(&r.join("r3")),
    ]);
    assert!(
        e.contains("joints") && e.contains("SKELCAM_MAX_JOINTS"),
        "{e}"
    );
    // Picture sides.
    let e = refused(&[
        "image",
        "synth",
        "--side",
        "100000",
        "--out",
        s(&r.join("pics")),
    ]);
    assert!(
        e.contains("side") && e.contains("SKELCAM_MAX_IMAGE_SIDE"),
        "{e}"
    );
    assert!(!r.join("pics").exists());
    let e = refused(&[
        "image",
        "train",
        "--data",
        s(r),
        "--size",
        "100000",
        "--out",
        s(&r.join("r4")),
    ]);
    assert!(
        e.contains("--size") && e.contains("SKELCAM_MAX_IMAGE_SIDE"),
        "{e}"
    );
    // The limit can be raised when the request is real.
    let with_limit = |limit: &str, out: &str| {
        let mut c = skelcam();
        c.env("SKELCAM_MAX_FRAMES", limit)
            .args([
                "skeleton",
                "train",
                "--data",
                "tiny",
                "--model",
                "stgcn-tiny",
            ])
            .args(["--frames", "48", "--epochs", "1", "--out"])
            .arg(r.join(out));
        c.assert()
    };
    let out = with_limit("40", "r5").failure();
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("at most 40"));
    with_limit("48", "r6").success();
}

/// A picture folder made by `image synth` (PNG), 2 classes.
fn pictures(root: &Path) -> PathBuf {
    let out = root.join("pics");
    skelcam()
        .args([
            "image",
            "synth",
            "--classes",
            "2",
            "--train-per-class",
            "3",
            "--test-per-class",
            "2",
        ])
        .args(["--side", "64", "--out"])
        .arg(&out)
        .assert()
        .success();
    out
}

#[test]
fn broken_pictures_impossible_boxes_and_overlays_among_pictures_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let pics = pictures(r);
    let train = |data: &Path, extra: &[&str], out: &str| {
        let mut a = vec![
            "image",
            "train",
            "--data",
            s(data),
            "--model",
            "resnet18-narrow",
            "--size",
            "32",
        ];
        a.extend(["--epochs", "1", "--batch-size", "2"]);
        a.extend(extra);
        a.extend(["--out", out]);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    // A JPEG cut in half.
    let img = image::open(pics.join("train/houses/house.00000.png")).unwrap();
    let mut jpeg = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut jpeg),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    let cut = pics.join("train/houses/house.cut.jpg");
    std::fs::write(&cut, &jpeg[..jpeg.len() / 2]).unwrap();
    let run = r.join("run");
    let args = train(&pics, &[], s(&run));
    let e = refused(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        e.contains("house.cut.jpg") && e.contains("truncated JPEG"),
        "{e}"
    );
    std::fs::remove_file(&cut).unwrap();
    // --skip-bad on a folder where every picture is bad: an error, not a run on nothing.
    let bad = r.join("bad");
    for class in ["cats", "dogs"] {
        std::fs::create_dir_all(bad.join(class)).unwrap();
        std::fs::write(bad.join(class).join("x.jpg"), &jpeg[..100]).unwrap();
        std::fs::write(bad.join(class).join("y.png"), b"not a png").unwrap();
    }
    let args = train(&bad, &["--skip-bad"], s(&r.join("run_bad")));
    let e = refused(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(e.contains("usable picture"), "{e}");
    // A box of 1e30 pixels.
    let boxes = pics.join("test/boxes.json");
    let original = std::fs::read_to_string(&boxes).unwrap();
    let key = original.split('"').nth(1).unwrap().to_string();
    std::fs::write(&boxes, format!(r#"{{"{key}": [[0, 0, 1e30, 1e30]]}}"#)).unwrap();
    let args = train(&pics, &[], s(&run));
    let e = refused(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        e.contains("boxes.json") && e.contains("finite pixel positions"),
        "{e}"
    );
    std::fs::write(&boxes, original).unwrap();
    // Overlays are never written among the pictures a run reads.
    let args = train(&pics, &[], s(&run));
    skelcam().args(&args).assert().success();
    let e = refused(&[
        "image",
        "cam",
        "--run",
        s(&run),
        "--input",
        s(&pics.join("test")),
        "--out",
        s(&pics.join("train/overlays")),
    ]);
    assert!(
        e.contains("--out") && e.contains("outside the picture folder"),
        "{e}"
    );
}

#[test]
fn paths_that_are_not_regular_files_are_errors_naming_them() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let fifo = r.join("pipe");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let e = refused(&[
        "skeleton",
        "train",
        "--config",
        s(&fifo),
        "--out",
        s(&r.join("run")),
    ]);
    assert!(e.contains("pipe") && e.contains("FIFO"), "{e}");
    // Sequence files that are a FIFO, a folder, a link to /dev/zero and a link loop: named, not dropped.
    for (i, make) in ["fifo", "dir", "dev", "loop"].iter().enumerate() {
        let dir = csv_dir(&r.join(format!("d{i}")), "a.csv,x,1\nb.csv,y,2\n");
        let b = dir.join("b.csv");
        std::fs::remove_file(&b).unwrap();
        match *make {
            "fifo" => assert!(std::process::Command::new("mkfifo")
                .arg(&b)
                .status()
                .unwrap()
                .success()),
            "dir" => std::fs::create_dir(&b).unwrap(),
            "dev" => std::os::unix::fs::symlink("/dev/zero", &b).unwrap(),
            _ => std::os::unix::fs::symlink(&b, &b).unwrap(),
        }
        let e = train_csv(&dir, &r.join(format!("run{i}")));
        assert!(e.contains("b.csv"), "{make}: {e}");
    }
    let msr = r.join("msr");
    std::fs::create_dir_all(&msr).unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(msr.join("a01_s01_e01_skeleton3D.txt"))
        .status()
        .unwrap()
        .success());
    let e = refused(&[
        "skeleton",
        "train",
        "--format",
        "msr",
        "--data",
        s(&msr),
        "--out",
        s(&r.join("m")),
    ]);
    assert!(
        e.contains("a01_s01_e01_skeleton3D.txt") && e.contains("FIFO"),
        "{e}"
    );
}

#[test]
fn label_files_with_duplicates_empty_labels_or_one_class_name_the_lines() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for (i, (labels, want)) in [
        (
            "a.csv,x,1\nb.csv,y,2\na.csv,x,1\n",
            "listed again (first on line 2)",
        ),
        ("a.csv,x,1\nb.csv,y,2\na.csv,y,1\n", "with another label"),
        ("a.csv,,1\nb.csv,y,2\n", "label"),
        ("a.csv,x,1\nb.csv,x,2\n", "1 class(es) only (x)"),
    ]
    .iter()
    .enumerate()
    {
        let dir = csv_dir(&r.join(format!("d{i}")), labels);
        let e = train_csv(&dir, &r.join(format!("run{i}")));
        assert!(e.contains(want), "{labels}: {e}");
        assert!(
            e.contains("labels.csv") || want.contains("class(es)"),
            "{labels}: {e}"
        );
    }
    // Two rows for one frame, person and joint.
    let dir = csv_dir(&r.join("dup"), "a.csv,x,1\nb.csv,y,2\n");
    let mut text = std::fs::read_to_string(dir.join("a.csv")).unwrap();
    text.push_str("0,0,3,9,9,9\n");
    std::fs::write(dir.join("a.csv"), text).unwrap();
    let e = train_csv(&dir, &r.join("rundup"));
    assert!(
        e.contains("a.csv") && e.contains("already given on line 5"),
        "{e}"
    );
}

#[test]
fn meaningless_option_values_are_refused_naming_the_flag() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let out = r.join("run");
    let e = refused(&[
        "skeleton",
        "train",
        "--data",
        "tiny",
        "--weight-decay",
        "NaN",
        "--out",
        s(&out),
    ]);
    assert!(e.contains("--weight-decay") && e.contains("finite"), "{e}");
    let cfg = r.join("c.json");
    for (text, field) in [
        (r#"{"dropout": 1.5}"#, "dropout"),
        (r#"{"momentum": 2}"#, "momentum"),
        (r#"{"warmup_epochs": 40, "epochs": 10}"#, "warmup_epochs"),
        (r#"{"warmup_epochs": -1}"#, "warmup_epochs"),
        (r#"{"label_smoothing": 1.0}"#, "label_smoothing"),
        (r#"{"graph_offset_decay": 0.1}"#, "--adaptive-graph"),
        (r#"{"temporal_kernel": 4}"#, "temporal-kernel"),
        (r#"{"max_hop": 0}"#, "max-hop"),
        (r#"{"mixup": 1.5}"#, "--mixup"),
        (r#"{"mixup": -0.2}"#, "--mixup"),
        (
            r#"{"augment": {"crop_min": 0}}"#,
            "augment.crop_min (in the --config file)",
        ),
        (r#"{"augment": {"scale": 1.5}}"#, "augment.scale"),
        (r#"{"augment": {"rotate_deg": -5}}"#, "augment.rotate_deg"),
        (r#"{"augment": {"jitter": -0.01}}"#, "augment.jitter"),
        (r#"{"augment": {"axis_scale": 1}}"#, "augment.axis_scale"),
        (r#"{"augment": {"tilt_deg": 1e9}}"#, "augment.tilt_deg"),
        (
            r#"{"adaptive_graph": true, "graph_offset_decay": -1}"#,
            "graph-offset-decay",
        ),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let e = refused(&[
            "skeleton",
            "train",
            "--data",
            "tiny",
            "--config",
            s(&cfg),
            "--out",
            s(&out),
        ]);
        assert!(e.contains(field), "{text}: {e}");
    }
    train_tiny(&out, &["--epochs", "1"]).success();
    for (flag, value, want) in [
        ("--occlude", "frames:500", "0 <= N <= 100"),
        ("--jitter", "0.1,1e39", "SIGMA <= 10"),
        ("--jitter", "NaN,0.1", "0 <= P <= 1"),
    ] {
        let e = refused(&["skeleton", "eval", "--run", s(&out), flag, value]);
        assert!(e.contains(want), "{flag} {value}: {e}");
    }
    let e = refused(&[
        "skeleton",
        "cam-summary",
        "--run",
        s(&out),
        "--bins",
        "0",
        "--out",
        s(&r.join("c")),
    ]);
    assert!(e.contains("--bins"), "{e}");
}

#[test]
fn ntu_actions_beyond_a120_are_named_not_an_internal_error() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ntu");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("S001C001P001R001A121.skeleton"), "1\n0\n").unwrap();
    let e = refused(&[
        "skeleton",
        "train",
        "--format",
        "ntu",
        "--data",
        s(&dir),
        "--out",
        s(&root.path().join("r")),
    ]);
    assert!(e.contains("A121") && e.contains("A001–A120"), "{e}");
}

#[test]
fn a_run_with_non_finite_weights_or_another_layout_is_refused_and_other_float_types_load() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let run = r.join("run");
    train_tiny(&run, &["--epochs", "1"]).success();
    // Data of another 20-joint layout (msr20 against the run's kinect20).
    let e = refused(&["skeleton", "eval", "--run", s(&run), "--layout", "msr20"]);
    assert!(e.contains("layout msr20") && e.contains("kinect20"), "{e}");
    // Weights as f64: read as f32, same predictions.
    let model = run.join("model.safetensors");
    let bytes = std::fs::read(&model).unwrap();
    let tensors = candle_core::safetensors::load_buffer(&bytes, &candle_core::Device::Cpu).unwrap();
    let eval = |dir: &Path| {
        crate::common::json_stdout(
            skelcam()
                .args(["skeleton", "eval", "--json", "--run"])
                .arg(dir),
        )
    };
    let before = eval(&run);
    let f64s: std::collections::HashMap<String, candle_core::Tensor> = tensors
        .iter()
        .map(|(k, t)| (k.clone(), t.to_dtype(candle_core::DType::F64).unwrap()))
        .collect();
    candle_core::safetensors::save(&f64s, &model).unwrap();
    assert_eq!(eval(&run)["top1"], before["top1"]);
    // One NaN weight: refused by every command that loads the run.
    let mut bad = tensors.clone();
    let name = bad.keys().find(|k| k.ends_with("weight")).unwrap().clone();
    let t = &bad[&name];
    let mut v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    v[0] = f32::NAN;
    bad.insert(
        name.clone(),
        candle_core::Tensor::from_vec(v, t.shape(), &candle_core::Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&bad, &model).unwrap();
    for args in [
        vec!["skeleton", "eval"],
        vec!["skeleton", "cam", "--verify", "--out", s(&r.join("c"))],
    ] {
        let mut a = args.clone();
        a.extend(["--run", s(&run)]);
        let e = refused(&a);
        assert!(e.contains(&name) && e.contains("NaN"), "{e}");
    }
}

/// NumPy files found by fuzzing: a format-2 `.npy` header length of 626 MB in a 77-byte file (which the `npy`
/// reader would allocate and zero before reading it), a header nested 20 brackets deep (its parser
/// backtracks exponentially), and a CTR-GCN archive whose `x_train` claims 10^12 frames: each is an error
/// naming the file, before anything of that size is allocated or parsed.
#[test]
fn npy_header_lengths_nesting_and_npz_shapes_beyond_the_file_are_refused() {
    use skelcam::data::{self, Layout};
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stgcn");
    let dir = tempfile::tempdir().unwrap();
    for f in ["train_label.pkl", "val_data.npy", "val_label.pkl"] {
        std::fs::copy(fixtures.join(f), dir.path().join(f)).unwrap();
    }
    let refused_npy = |npy: &[u8]| {
        std::fs::write(dir.path().join("train_data.npy"), npy).unwrap();
        data::stgcn_npy::load_dir(dir.path(), &Layout::resolve("ntu25").unwrap(), 2)
            .unwrap_err()
            .to_string()
    };
    // Version 2.0, header length bytes "', '" = 0x27202c27.
    let mut npy =
        b"\x93NUMPY\x02\x00', 'fortran_order': False, 'shape': (8, 3, 20, 25, 2), }".to_vec();
    npy.extend(std::iter::repeat_n(b' ', 8));
    let e = refused_npy(&npy);
    assert!(
        e.contains("train_data.npy") && e.contains("656419879 bytes long"),
        "{e}"
    );
    // A header of 18 unclosed braces, which the header parser would take minutes over (found by fuzzing).
    let mut header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (8, 3, 20, 25, ".to_vec();
    header.extend([b'{'; 18]);
    header.extend(b"2), }");
    header.resize(117, b' ');
    header.push(b'\n');
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(&header);
    let e = refused_npy(&npy);
    // Refused by the check before the parser runs (the parser's own errors read differently).
    assert!(
        e.contains("train_data.npy") && e.contains("nests brackets"),
        "{e}"
    );

    // The fixture archive is stored uncompressed: its x_train header can be edited in place (same length).
    let mut npz = std::fs::read(fixtures.join("ctrgcn.npz")).unwrap();
    let from = b"'shape': (8, 20, 150), }           ";
    let to = b"'shape': (8, 1000000000000, 150), }";
    assert_eq!(from.len(), to.len());
    let at = npz.windows(from.len()).position(|w| w == from).unwrap();
    npz[at..at + to.len()].copy_from_slice(to);
    let path = dir.path().join("huge.npz");
    std::fs::write(&path, &npz).unwrap();
    let e = data::ctrgcn_npz::load_file(&path, &Layout::resolve("ntu25").unwrap(), 2)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("huge.npz") && e.contains("x_train") && e.contains("damaged"),
        "{e}"
    );
}
