//! PyTorch ST-GCNs and the Python tools' data files: checkpoints with the official ST-GCN's and pyskl's key
//! names imported by `skeleton import` give PyTorch's logits and raw CAMs (fixtures made by
//! tests/fixtures/make_stgcn_fixtures.py), the ST-GCN feeder's `.npy` + `.pkl` files read as a dataset, and
//! bad checkpoints and files are refused with errors that name them.

use crate::common::{json_stdout, skelcam};
use serde_json::Value;
use skelcam::cam::skeleton::{explain, ClassChoice, Method};
use skelcam::data::{self, preprocess::Preprocess, Format, LoadOptions};
use skelcam::models::SkeletonModel;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stgcn")
}

fn npy(name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(fixtures().join(name)).unwrap();
    let f = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = f.shape().iter().map(|&d| d as usize).collect();
    (shape, f.into_vec::<f32>().unwrap())
}

fn import(weights: &str, out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    skelcam()
        .args([
            "skeleton",
            "import",
            "--layout",
            "ntu25",
            "--frames",
            "20",
            "--weights",
        ])
        .arg(fixtures().join(weights))
        .args(extra)
        .arg("--out")
        .arg(out)
        .assert()
}

/// `data` in `format` on `layout`, coordinates as stored, two persons.
fn load_raw(format: Format, data: &Path, layout: &str) -> skelcam::Result<data::Dataset> {
    data::load(&LoadOptions {
        format,
        data: Some(data.to_string_lossy().into_owned()),
        layout: Some(layout.into()),
        skip_bad: false,
        max_persons: 2,
        seed: 1,
        preprocess: Preprocess::Raw,
        keep_data: true,
    })
}

fn fixture_data() -> data::Dataset {
    load_raw(Format::StgcnNpy, &fixtures(), "ntu25").unwrap()
}

/// Largest |a − b| relative to the largest |b|.
fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-6);
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// Logits and raw CAMs of an imported checkpoint on the fixture's val split against PyTorch's.
fn check_against_pytorch(run: &Path, prefix: &str) {
    let model = SkeletonModel::load(run).unwrap();
    let ds = fixture_data();
    let test = ds.parts["val"].clone();
    let (logits, _, _) = skelcam::train::skeleton::predict(&model, &ds, &test).unwrap();
    let (shape, want) = npy(&format!("{prefix}_logits.npy"));
    assert_eq!(shape, vec![12, 5]);
    let got: Vec<f32> = logits.concat();
    let d = rel_diff(&got, &want);
    assert!(
        d < 1e-4,
        "{prefix}: logits differ from PyTorch's by {d:.2e} (relative)"
    );
    // Raw CAM of the predicted class, (T', V, M) per sample, against PyTorch's features · class weights.
    let (cshape, cams) = npy(&format!("{prefix}_cam.npy"));
    let per = cshape[1] * cshape[2] * cshape[3];
    let mut two_person = 0;
    for (k, &i) in test.iter().enumerate() {
        let s = &ds.samples[i];
        let cam = explain(&model, s, &ClassChoice::Auto, Method::Cam).unwrap();
        assert_eq!(cam.raw.dim(), (cshape[1], cshape[2], cshape[3]));
        let ours: Vec<f32> = cam.raw.iter().copied().collect();
        let d = rel_diff(&ours, &cams[k * per..(k + 1) * per]);
        assert!(d < 1e-4, "{prefix} sample {k}: raw CAM differs by {d:.2e}");
        two_person += usize::from(cam.persons_present.iter().filter(|&&p| p).count() == 2);
    }
    assert!(
        two_person > 0 && two_person < test.len(),
        "both one- and two-person samples are checked"
    );
}

#[test]
fn an_official_stgcn_checkpoint_gives_pytorchs_logits_and_cams() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("off");
    let out = import("official.safetensors", &run, &[]).success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("adjacency from the file") && err.contains("Stgcn"),
        "{err}"
    );
    check_against_pytorch(&run, "official");
    // The same weights with DataParallel's `module.` prefix and without batch-norm counters.
    let run2 = dir.path().join("off2");
    import("official_module_no_counters.safetensors", &run2, &[]).success();
    check_against_pytorch(&run2, "official");
    // info --run prints the inferred architecture.
    let info = json_stdout(
        skelcam()
            .args(["skeleton", "info", "--json", "--run"])
            .arg(&run),
    );
    assert_eq!(info["classes"], 5);
    let blocks: Vec<(u64, u64)> = info["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b[0].as_u64().unwrap(), b[1].as_u64().unwrap()))
        .collect();
    assert_eq!(blocks, vec![(8, 1), (8, 1), (16, 2), (16, 1), (24, 2)]);
    assert_eq!(info["input"]["preprocess"], "raw");
    assert_eq!(info["adjacency"], "from the checkpoint");
}

#[test]
fn a_pyskl_checkpoint_with_per_person_data_bn_gives_pytorchs_logits_and_cams() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("pyskl");
    // The fixture's PyTorch logits are of the stored coordinates, at their own 20 frames.
    let raw = [
        "--classes",
        "a,b,c,d,e",
        "--preprocess",
        "raw",
        "--length-mode",
        "pad",
    ];
    let out = import("pyskl.safetensors", &run, &raw).success();
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("Pyskl"));
    check_against_pytorch(&run, "pyskl");
    let info = json_stdout(
        skelcam()
            .args(["skeleton", "info", "--json", "--run"])
            .arg(&run),
    );
    assert!(
        info["data_bn"].as_str().unwrap().contains("2 persons"),
        "{}",
        info["data_bn"]
    );
}

#[test]
fn eval_on_the_feeders_files_equals_the_pytorch_accuracy_and_cam_json_has_every_logit() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("off");
    import("official.safetensors", &run, &[]).success();
    let want: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
            .unwrap();
    let ev = json_stdout(
        skelcam()
            .args([
                "skeleton",
                "eval",
                "--json",
                "--format",
                "stgcn-npy",
                "--run",
            ])
            .arg(&run)
            .arg("--data")
            .arg(fixtures()),
    );
    assert_eq!(ev["samples"], 12);
    assert!(
        (ev["top1"].as_f64().unwrap() - want["official_val_top1"].as_f64().unwrap()).abs() < 1e-9
    );
    let cams = dir.path().join("cams");
    skelcam()
        .args([
            "skeleton",
            "cam",
            "--format",
            "stgcn-npy",
            "--limit",
            "2",
            "--run",
        ])
        .arg(&run)
        .arg("--data")
        .arg(fixtures())
        .arg("--out")
        .arg(&cams)
        .assert()
        .success();
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(cams.join("index.json")).unwrap()).unwrap();
    let first = index["samples"][0]["folder"].as_str().unwrap();
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(cams.join(first).join("cam.json")).unwrap())
            .unwrap();
    let (_, logits) = npy("official_logits.npy");
    let got: Vec<f32> = doc["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert!(
        rel_diff(&got, &logits[..5]) < 1e-4,
        "{got:?} vs {:?}",
        &logits[..5]
    );
}

#[test]
fn an_imported_run_is_a_baseline_for_ragcn_training() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("off");
    import("official.safetensors", &run, &[]).success();
    let rag = dir.path().join("rag");
    let data = fixtures();
    let extra = ["--format", "stgcn-npy", "--data", data.to_str().unwrap()];
    crate::common::ragcn_cmd(&run, &rag, 2, &extra)
        .assert()
        .success();
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(rag.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(m["streams_top1"].as_array().unwrap().len(), 2);
}

/// The error of an import that must fail.
fn import_failure(weights: &Path, out: &Path, layout: &str) -> String {
    let out = skelcam()
        .args([
            "skeleton",
            "import",
            "--frames",
            "20",
            "--layout",
            layout,
            "--weights",
        ])
        .arg(weights)
        .arg("--out")
        .arg(out)
        .assert()
        .failure();
    let e = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(!e.contains("panicked"), "{e}");
    e
}

/// A copy of the fixture data folder to damage.
fn data_copy(dir: &Path) -> PathBuf {
    let d = dir.join("data");
    std::fs::create_dir_all(&d).unwrap();
    for f in [
        "train_data.npy",
        "train_label.pkl",
        "val_data.npy",
        "val_label.pkl",
    ] {
        std::fs::copy(fixtures().join(f), d.join(f)).unwrap();
    }
    d
}

fn eval_err(run: &Path, data: &Path, layout: &str) -> String {
    let out = skelcam()
        .args([
            "skeleton",
            "eval",
            "--format",
            "stgcn-npy",
            "--layout",
            layout,
            "--run",
        ])
        .arg(run)
        .arg("--data")
        .arg(data)
        .assert()
        .failure();
    let e = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(!e.contains("panicked"), "{e}");
    e
}

#[test]
fn bad_data_files_and_checkpoints_are_refused_with_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("off");
    import("official.safetensors", &run, &[]).success();
    let d = data_copy(dir.path());
    // Truncated array.
    let bytes = std::fs::read(d.join("val_data.npy")).unwrap();
    std::fs::write(d.join("val_data.npy"), &bytes[..bytes.len() - 1000]).unwrap();
    let e = eval_err(&run, &d, "ntu25");
    assert!(e.contains("val_data.npy") && e.contains("truncated"), "{e}");
    // float64 instead of float32: the header says <f8 and the file is twice as long.
    let f = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape: Vec<u64> = f.shape().to_vec();
    let vals: Vec<f64> = f
        .into_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect();
    let mut out = Vec::new();
    {
        use npyz::WriterBuilder;
        let mut w = npyz::WriteOptions::<f64>::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut out)
            .begin_nd()
            .unwrap();
        w.extend(vals).unwrap();
        w.finish().unwrap();
    }
    std::fs::write(d.join("val_data.npy"), out).unwrap();
    let e = eval_err(&run, &d, "ntu25");
    assert!(e.contains("val_data.npy") && e.contains("float32"), "{e}");
    std::fs::write(d.join("val_data.npy"), &bytes).unwrap();
    // A layout of another joint count.
    let e = eval_err(&run, &d, "kinect20");
    assert!(e.contains("25 joints") && e.contains("kinect20"), "{e}");
    // A label file with another count.
    std::fs::copy(fixtures().join("train_label.pkl"), d.join("val_label.pkl")).unwrap();
    let e = eval_err(&run, &d, "ntu25");
    assert!(e.contains("12 samples") && e.contains("8 labels"), "{e}");
    // A label pickle that asks for os.system is refused before anything runs.
    let marker = dir.path().join("ran");
    let cmd = format!("touch {}", marker.display());
    let mut evil = b"\x80\x02cos\nsystem\nX".to_vec();
    evil.extend_from_slice(&(cmd.len() as u32).to_le_bytes());
    evil.extend_from_slice(cmd.as_bytes());
    evil.extend_from_slice(b"\x85R.");
    std::fs::write(d.join("val_label.pkl"), evil).unwrap();
    let e = eval_err(&run, &d, "ntu25");
    assert!(
        e.contains("val_label.pkl") && e.contains("os.system") && e.contains("refuses"),
        "{e}"
    );
    assert!(!marker.exists(), "the pickle ran code");
    // A checkpoint with a key missing, and one with a misshaped key.
    let (mut t, _) =
        skelcam::models::weights::load(&fixtures().join("official.safetensors")).unwrap();
    let dropped = t.remove("st_gcn_networks.2.tcn.2.weight").unwrap();
    let missing = dir.path().join("missing.safetensors");
    skelcam::models::weights::save(&missing, &t, None).unwrap();
    let e = import_failure(&missing, &dir.path().join("m"), "ntu25");
    assert!(
        e.contains("missing.safetensors") && e.contains("st_gcn_networks.2.tcn.2.weight"),
        "{e}"
    );
    t.insert(
        "st_gcn_networks.2.tcn.2.weight".into(),
        dropped.narrow(0, 0, 8).unwrap(),
    );
    let bad = dir.path().join("bad.safetensors");
    skelcam::models::weights::save(&bad, &t, None).unwrap();
    let e = import_failure(&bad, &dir.path().join("b"), "ntu25");
    assert!(
        e.contains("st_gcn_networks.2.tcn.2.weight")
            && e.contains("[8, 16, 9, 1]")
            && e.contains("[16, 16, 9, 1]"),
        "{e}"
    );
    // The wrong layout for the checkpoint.
    let e = import_failure(
        &fixtures().join("official.safetensors"),
        &dir.path().join("o"),
        "openpose18",
    );
    assert!(e.contains("data_bn") && e.contains("18 joints"), "{e}");
}

#[test]
fn a_pyskl_pickle_of_protocol_2_with_float16_keypoints_is_a_dataset() {
    let pkl = fixtures().join("pyskl_ntu.pkl");
    let from_pickle = load_raw(Format::Pyskl, &pkl, "ntu25").unwrap();
    let from_npy = fixture_data();
    assert_eq!(from_pickle.samples.len(), from_npy.samples.len());
    assert_eq!(from_pickle.parts["xsub_val"].len(), 12);
    for (p, n) in from_pickle.samples.iter().zip(&from_npy.samples) {
        assert_eq!((p.label, p.name.as_str()), (n.label, n.name.as_str()));
        // The npy copy drops trailing zero frames; the pickle keeps the padding: compare the common frames
        // to float16's precision.
        let f = n.frames();
        for (a, b) in p
            .data
            .slice(ndarray::s![.., ..f, .., ..])
            .iter()
            .zip(n.data.iter())
        {
            assert!((a - b).abs() <= 2e-3 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
    // From the command line, as any other dataset; an unknown part is named with the ones there are.
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    skelcam()
        .args([
            "skeleton",
            "train",
            "--format",
            "pyskl",
            "--model",
            "stgcn-tiny",
            "--frames",
            "16",
        ])
        .args(["--epochs", "2", "--data"])
        .arg(&pkl)
        .arg("--out")
        .arg(&run)
        .assert()
        .success();
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(
        (m["train_samples"].as_u64(), m["test_samples"].as_u64()),
        (Some(8), Some(12))
    );
    let out = skelcam()
        .args(["skeleton", "eval", "--split-test", "xset_val", "--run"])
        .arg(&run)
        .assert()
        .failure();
    let e = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        e.contains("--split-test") && e.contains("xset_val") && e.contains("xsub_train, xsub_val"),
        "{e}"
    );
}

#[test]
fn ctrgcn_archives_and_kinetics_json_read_as_their_tools_read_them() {
    // CTR-GCN's (N, T, M·V·C) archive holds the same samples as the feeder files.
    let npz = load_raw(Format::CtrgcnNpz, &fixtures().join("ctrgcn.npz"), "ntu25").unwrap();
    let feeder = fixture_data();
    assert_eq!((npz.parts["train"].len(), npz.parts["test"].len()), (8, 12));
    for (a, b) in npz.samples.iter().zip(&feeder.samples) {
        assert_eq!(a.label, b.label);
        assert_eq!(a.data, b.data);
    }
    // Kinetics: centred, score-zero joints zeroed, persons ranked by summed score in every frame.
    let kin = load_raw(
        Format::KineticsJson,
        &fixtures().join("kinetics"),
        "openpose18",
    )
    .unwrap();
    assert_eq!(
        (kin.parts["train"].len(), kin.parts["val"].len()),
        (3, 2),
        "videos without skeleton skipped"
    );
    let (shape, want) = npy("kinetics/val_expected.npy");
    let per: usize = shape[1..].iter().product();
    for (k, &i) in kin.parts["val"].iter().enumerate() {
        let got: Vec<f32> = kin.samples[i].data.iter().copied().collect();
        assert_eq!(
            kin.samples[i].data.dim(),
            (shape[1], shape[2], shape[3], shape[4])
        );
        assert!(
            rel_diff(&got, &want[k * per..(k + 1) * per]) < 1e-6,
            "video {k}"
        );
    }
    // A truncated archive and a broken video file are errors naming them.
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixtures().join("ctrgcn.npz")).unwrap();
    let cut = dir.path().join("cut.npz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = load_raw(Format::CtrgcnNpz, &cut, "ntu25")
        .unwrap_err()
        .to_string();
    assert!(e.contains("cut.npz"), "{e}");
    let k2 = dir.path().join("kin");
    for part in ["train", "val"] {
        std::fs::create_dir_all(k2.join(format!("kinetics_{part}"))).unwrap();
        let label = format!("kinetics_{part}_label.json");
        std::fs::copy(fixtures().join("kinetics").join(&label), k2.join(&label)).unwrap();
        for v in 0..3 {
            let f = format!("kinetics_{part}/{part}{v}.json");
            let _ = std::fs::copy(fixtures().join("kinetics").join(&f), k2.join(&f));
        }
    }
    std::fs::write(
        k2.join("kinetics_val/val1.json"),
        "{\"data\": [{\"frame_index\": 2, ",
    )
    .unwrap();
    let e = load_raw(Format::KineticsJson, &k2, "openpose18")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("val1.json") && e.contains("Kinetics-skeleton"),
        "{e}"
    );
}

#[test]
fn pickles_written_by_numpy_1_name_numpy_core_and_read_the_same() {
    // NumPy 2 writes `numpy._core.multiarray`, NumPy 1 `numpy.core.multiarray`: the same file under both
    // names (protocol 2 spells globals as newline-ended text) gives the same dataset.
    let bytes = std::fs::read(fixtures().join("pyskl_ntu.pkl")).unwrap();
    let (new, old) = (
        &b"cnumpy._core.multiarray\n"[..],
        &b"cnumpy.core.multiarray\n"[..],
    );
    let at = bytes
        .windows(new.len())
        .position(|w| w == new)
        .expect("the fixture names numpy._core");
    let mut v1 = bytes[..at].to_vec();
    v1.extend_from_slice(old);
    v1.extend_from_slice(&bytes[at + new.len()..]);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("numpy1.pkl");
    std::fs::write(&p, v1).unwrap();
    let load = |path: &Path| load_raw(Format::Pyskl, path, "ntu25").unwrap();
    let (a, b) = (load(&p), load(&fixtures().join("pyskl_ntu.pkl")));
    assert_eq!(a.samples.len(), b.samples.len());
    assert!(a
        .samples
        .iter()
        .zip(&b.samples)
        .all(|(x, y)| x.data == y.data && x.label == y.label));
}

/// `tests/fixtures/prenorm3d/{name}` (made by tests/fixtures/make_prenorm3d_fixture.py).
fn prenorm_npy(name: &str) -> (Vec<usize>, Vec<f32>) {
    npy(&format!("../prenorm3d/{name}"))
}

#[test]
fn pyskl_3d_prenormalisation_equals_an_independent_numpy_computation() {
    let (shape, input) = prenorm_npy("input.npy");
    let (_, expected) = prenorm_npy("expected.npy");
    let bytes = std::fs::read(fixtures().join("../prenorm3d/frames.npy")).unwrap();
    let frames = npyz::NpyFile::new(&bytes[..])
        .unwrap()
        .into_vec::<i64>()
        .unwrap();
    let per: usize = shape[1..].iter().product();
    let dims = (shape[1], shape[2], shape[3], shape[4]);
    let layout = skelcam::data::Layout::resolve("ntu25").unwrap();
    for (i, &keep) in frames.iter().enumerate() {
        let data = ndarray::Array4::from_shape_vec(dims, input[i * per..(i + 1) * per].to_vec());
        let mut seq = data::Sequence::labelled(format!("case{i}"), 0, data.unwrap());
        Preprocess::Pyskl3d.apply(&mut seq, &layout).unwrap();
        assert_eq!(seq.data.dim().1, keep as usize, "case {i}: frames kept");
        let want = ndarray::Array4::from_shape_vec(dims, expected[i * per..(i + 1) * per].to_vec());
        let want = want.unwrap();
        let want = want.slice(ndarray::s![.., ..keep as usize, .., ..]);
        let d = seq
            .data
            .iter()
            .zip(want.iter())
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(d < 1e-5, "case {i}: differs from NumPy by {d:.2e}");
    }
}

/// `skeleton import` of `weights` with every default, and the input `info --run` reports for the run.
fn import_defaults(weights: &str, run: &Path) -> Value {
    skelcam()
        .args(["skeleton", "import", "--layout", "ntu25", "--weights"])
        .arg(fixtures().join(weights))
        .arg("--out")
        .arg(run)
        .assert()
        .success();
    json_stdout(
        skelcam()
            .args(["skeleton", "info", "--json", "--run"])
            .arg(run),
    )["input"]
        .clone()
}

#[test]
fn a_pyskl_checkpoint_imports_with_pyskls_input_by_default_and_explains_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("pyskl");
    let input = import_defaults("pyskl.safetensors", &run);
    assert_eq!(input["preprocess"], "pyskl-3d");
    assert_eq!(input["frames"], 100);
    assert_eq!(input["length_mode"], "resample");
    let out = dir.path().join("cam");
    skelcam()
        .args([
            "skeleton",
            "cam",
            "--format",
            "stgcn-npy",
            "--limit",
            "2",
            "--verify",
        ])
        .arg("--run")
        .arg(&run)
        .arg("--data")
        .arg(fixtures())
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    // The official ST-GCN keeps the stored coordinates at 300 frames.
    let input = import_defaults("official.safetensors", &dir.path().join("off"));
    assert_eq!(input["preprocess"], "raw");
    assert_eq!(input["frames"], 300);
}
