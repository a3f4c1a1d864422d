//! RA-GCN per-sample masks: exactly the intended joints / cells are hidden, absent persons and flat maps are
//! left alone, masks follow the ground-truth class in training, and no gradient reaches an earlier stream
//! through a mask.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use ndarray::Array4;
use skelcam::data::Layout;
use skelcam::models::ragcn::{
    class_maps, forward, mask_tensor, per_sample_mask, present_persons, LossKind, MaskUnit,
    RagcnConfig,
};
use skelcam::models::{init, Ctx, Stgcn, StgcnConfig};
use skelcam::rng::{normal, rng_for};

fn cfg(unit: MaskUnit, threshold: Option<f32>, top: Option<f32>) -> RagcnConfig {
    RagcnConfig {
        mode: Default::default(),
        streams: 2,
        threshold,
        top_fraction: top,
        unit,
        loss: LossKind::V2,
        baseline: String::new(),
    }
}

#[test]
fn joint_masks_hide_the_top_joints_of_present_persons_only() {
    // 1 sample, T' = 2, V = 4, M = 2 (person 2 absent). Joint sums over time: j0 = 3, j1 = 1, j2 = 5, j3 = -4.
    let mut cam = Array4::<f32>::zeros((1, 2, 4, 2));
    for (j, vals) in [
        (0, [1.0, 2.0]),
        (1, [0.5, 0.5]),
        (2, [2.0, 3.0]),
        (3, [-2.0, -2.0]),
    ] {
        cam[[0, 0, j, 0]] = vals[0];
        cam[[0, 1, j, 0]] = vals[1];
        cam[[0, 0, j, 1]] = 9.0; // absent person: must be ignored
    }
    let present = vec![vec![true, false]];
    let keep = per_sample_mask(&cam, &present, &cfg(MaskUnit::Joint, None, Some(0.25)));
    for t in 0..2 {
        for j in 0..4 {
            assert_eq!(
                keep[[0, t, j, 0]],
                if j == 2 { 0.0 } else { 1.0 },
                "t {t} j {j}"
            );
            assert_eq!(keep[[0, t, j, 1]], 1.0);
        }
    }
    // Threshold 0.5 on min-max of ReLU'd sums (0..5): j0 = 0.6 and j2 = 1.0 are hidden.
    let keep = per_sample_mask(&cam, &present, &cfg(MaskUnit::Joint, Some(0.5), None));
    let hidden: Vec<usize> = (0..4).filter(|&j| keep[[0, 0, j, 0]] == 0.0).collect();
    assert_eq!(hidden, vec![0, 2]);
}

#[test]
fn cell_masks_and_flat_maps() {
    let mut cam = Array4::<f32>::zeros((2, 2, 3, 1));
    cam[[0, 1, 2, 0]] = 4.0;
    cam[[0, 0, 1, 0]] = 2.0; // normalised 0.5
    cam[[0, 0, 0, 0]] = -3.0; // ReLU → 0
    let present = vec![vec![true], vec![true]];
    let keep = per_sample_mask(&cam, &present, &cfg(MaskUnit::Cell, Some(0.5), None));
    let hidden: Vec<(usize, usize)> = (0..2)
        .flat_map(|t| (0..3).map(move |j| (t, j)))
        .filter(|&(t, j)| keep[[0, t, j, 0]] == 0.0)
        .collect();
    assert_eq!(hidden, vec![(0, 1), (1, 2)]);
    // Sample 2 is flat (all zero): nothing is hidden.
    assert!(keep
        .index_axis(ndarray::Axis(0), 1)
        .iter()
        .all(|&k| k == 1.0));
    // The time repeat covers `stride` input frames per feature step.
    let m = mask_tensor(&keep, 4).unwrap();
    assert_eq!(m.dims(), &[2, 1, 8, 3, 1]);
    let v: Vec<f32> = m.flatten_all().unwrap().to_vec1().unwrap();
    for t in 0..8 {
        assert_eq!(v[t * 3 + 1], if t < 4 { 0.0 } else { 1.0 }, "frame {t}");
        assert_eq!(v[t * 3 + 2], if t >= 4 { 0.0 } else { 1.0 }, "frame {t}");
    }
}

fn streams(vm: &VarMap) -> Vec<Stgcn> {
    let l = Layout::resolve("kinect20").unwrap();
    let mut c = StgcnConfig::preset("stgcn-tiny", 3, 4).unwrap();
    c.dropout = 0.0;
    let vb = VarBuilder::from_varmap(vm, DType::F32, &Device::Cpu);
    let nets = (0..2)
        .map(|s| Stgcn::new(&c, 20, &l.edges, l.center, vb.pp(format!("stream{s}"))).unwrap())
        .collect();
    init::seeded_init(vm, 3).unwrap();
    nets
}

fn input() -> Tensor {
    let mut r = rng_for(5, 0);
    let n = 4 * 3 * 8 * 20 * 2;
    let mut v: Vec<f32> = (0..n).map(|_| normal(&mut r)).collect();
    // Person 2 of sample 0 is absent.
    for c in 0..3 {
        for t in 0..8 {
            for j in 0..20 {
                v[(((c * 8) + t) * 20 + j) * 2 + 1] = 0.0;
            }
        }
    }
    Tensor::from_vec(v, (4, 3, 8, 20, 2), &Device::Cpu).unwrap()
}

#[test]
fn training_masks_follow_the_true_class_and_block_gradients() {
    let vm = VarMap::new();
    let nets = streams(&vm);
    let refs: Vec<&Stgcn> = nets.iter().collect();
    let c = cfg(MaskUnit::Joint, None, Some(0.2));
    let x = input();
    let labels = [3usize, 0, 1, 2];
    let out = forward(&refs, &c, &x, Some(&labels), &mut Ctx::eval()).unwrap();
    // Stream 2's mask = the per-sample mask of stream 1's CAM for the given labels.
    let f = nets[0].features(&x, &mut Ctx::eval()).unwrap();
    let (w, _) = nets[0].head_params().unwrap();
    let want = mask_tensor(
        &per_sample_mask(
            &class_maps(&f, &w, &labels).unwrap(),
            &present_persons(&x).unwrap(),
            &c,
        ),
        4,
    )
    .unwrap();
    let got = out.masks[1].as_ref().unwrap();
    assert_eq!(
        got.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        want.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
    // 20 % of 20 joints = 4 joints hidden per present person: 4/20 of the present cells.
    assert!(
        (out.masked_fraction[1] - 0.2).abs() < 1e-9,
        "{}",
        out.masked_fraction[1]
    );
    // A loss on stream 2 alone gives no gradient to any parameter of stream 1.
    let yt = Tensor::new(&[3u32, 0, 1, 2], &Device::Cpu).unwrap();
    let loss = candle_nn::loss::cross_entropy(&out.logits[1], &yt).unwrap();
    let grads = loss.backward().unwrap();
    let params = init::trainable(&vm);
    let (s0, s1): (Vec<_>, Vec<_>) = params.iter().partition(|(n, _)| n.starts_with("stream0."));
    assert!(
        s0.iter().all(|(_, v)| grads.get(v).is_none()),
        "a stream-1 parameter got a gradient through the mask"
    );
    assert!(s1.iter().any(|(_, v)| grads.get(v).is_some()));
}

#[test]
fn ragcn_train_command_writes_per_stream_metrics_and_checks_its_baseline() {
    use crate::common::skelcam;
    let dir = tempfile::tempdir().unwrap();
    let (base, run) = (dir.path().join("base"), dir.path().join("ragcn"));
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
            "--frames",
            "16",
            "--epochs",
            "2",
            "--out",
        ])
        .arg(&base)
        .assert()
        .success();
    crate::common::ragcn_cmd(&base, &run, 3, &[])
        .assert()
        .success();
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(m["streams_top1"].as_array().unwrap().len(), 3);
    let frac = m["history"][0]["masked_fraction"].as_array().unwrap();
    assert_eq!(frac[0], 0.0);
    assert!(
        frac[2].as_f64().unwrap() >= frac[1].as_f64().unwrap(),
        "masks of earlier streams combine"
    );
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["ragcn"]["streams"], 3);
    // Official mode from the same baseline: the stored masks are buffers, not baseline parameters.
    let official = dir.path().join("official");
    crate::common::ragcn_cmd(&base, &official, 2, &["--mode", "official"])
        .assert()
        .success();
    let oc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(official.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(oc["ragcn"]["mode"], "official");
    // Each stream's CAM beside the mask it received.
    let cam_dir = dir.path().join("cam");
    skelcam()
        .args(["ragcn", "cam", "--run"])
        .arg(&run)
        .arg("--out")
        .arg(&cam_dir)
        .assert()
        .success();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cam_dir.join("ragcn_cam.json")).unwrap())
            .unwrap();
    assert_eq!(doc["streams"].as_array().unwrap().len(), 3);
    assert!(cam_dir.join("ragcn_cam.png").is_file());
    for s in 1..=3 {
        let gif = cam_dir.join(format!("skeleton_stream{s}.gif"));
        assert!(image::open(&gif).is_ok(), "{}", gif.display());
    }
    // Any method of the family explains each stream.
    let lc = dir.path().join("cam_layercam");
    skelcam()
        .args(["ragcn", "cam", "--method", "layercam", "--no-gif", "--run"])
        .arg(&run)
        .arg("--out")
        .arg(&lc)
        .assert()
        .success();
    assert!(lc.join("ragcn_cam.png").is_file() && !lc.join("skeleton_stream1.gif").exists());
    // The run evaluates like any skeleton run.
    skelcam()
        .args(["skeleton", "eval", "--json", "--run"])
        .arg(&run)
        .assert()
        .success();
    let bad = skelcam()
        .args(["ragcn", "train", "--baseline"])
        .arg(dir.path().join("nope"))
        .arg("--out")
        .arg(dir.path().join("x"))
        .assert()
        .failure();
    assert!(String::from_utf8_lossy(&bad.get_output().stderr).contains("not a skeleton run"));
}

#[test]
fn official_map_batch_mean_softmax_and_thresholds_by_hand() {
    use skelcam::models::ragcn::{official_map, repeat_time};
    // Two samples whose mean CAM over the batch is [0, ln 4]: softmax [0.2, 0.8], 1 − softmax [0.8, 0.2].
    let l4 = 4f32.ln();
    let cam = Array4::from_shape_vec((2, 1, 2, 1), vec![-1.0, l4 - 1.0, 1.0, l4 + 1.0]).unwrap();
    let v1 = official_map(&cam, LossKind::V1);
    assert!(
        (v1[[0, 0, 0]] - 0.8).abs() < 1e-6 && (v1[[0, 1, 0]] - 0.2).abs() < 1e-6,
        "{v1:?}"
    );
    let v2 = official_map(&cam, LossKind::V2);
    assert_eq!(v2.iter().copied().collect::<Vec<_>>(), vec![1.0, 0.0]);
    // v1 zeroes values at or below 0.1: mean [0, ln 9] gives 1 − softmax [0.9, 0.1].
    let l9 = 9f32.ln();
    let cam9 = Array4::from_shape_vec((1, 1, 2, 1), vec![0.0, l9]).unwrap();
    let m = official_map(&cam9, LossKind::V1);
    assert!(
        (m[[0, 0, 0]] - 0.9).abs() < 1e-6 && m[[0, 1, 0]] == 0.0,
        "{m:?}"
    );
    // The ×stride repeat in time.
    let r = repeat_time(&v2, 4).unwrap();
    assert_eq!(r.dims(), &[4, 2, 1]);
    assert_eq!(
        r.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    );
}

#[test]
fn official_masks_lag_one_batch_multiply_and_freeze_at_test() {
    use skelcam::models::ragcn::{forward_official, official_map, repeat_time, Mode};
    let vm = VarMap::new();
    let l = Layout::resolve("kinect20").unwrap();
    let mut c = StgcnConfig::preset("stgcn-tiny", 3, 4).unwrap();
    c.dropout = 0.0;
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let nets: Vec<Stgcn> = (0..3)
        .map(|s| Stgcn::new(&c, 20, &l.edges, l.center, vb.pp(format!("stream{s}"))).unwrap())
        .collect();
    let masks: Vec<candle_core::Var> = (1..3)
        .map(|s| {
            candle_core::Var::from_tensor(
                &vb.pp(format!("stream{s}"))
                    .get_with_hints((8, 20, 2), "input_mask", candle_nn::Init::Const(1.0))
                    .unwrap(),
            )
            .unwrap()
        })
        .collect();
    init::seeded_init(&vm, 4).unwrap();
    let refs: Vec<&Stgcn> = nets.iter().collect();
    let mut rc = cfg(MaskUnit::Cell, None, None);
    rc.mode = Mode::Official;
    rc.streams = 3;
    rc.loss = LossKind::V1; // soft v1 maps, so the product of masks is not trivially all ones
    let x = input();
    let labels = [3usize, 0, 1, 2];
    let out = forward_official(&refs, &rc, &masks, &x, Some(&labels), &mut Ctx::eval()).unwrap();
    // This batch used the stored (initial, all-ones) masks: the new ones only apply from the next batch.
    for m in out.masks.iter().skip(1) {
        assert!(m
            .as_ref()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .all(|&k| k == 1.0));
    }
    // Stored now: stream 2 ← map of stream 1; stream 3 ← map 1 × map 2 (maps from this batch).
    let map = |net: &Stgcn, input: &Tensor| {
        let f = net.features(input, &mut Ctx::eval()).unwrap();
        official_map(
            &class_maps(&f, &net.head_params().unwrap().0, &labels).unwrap(),
            LossKind::V1,
        )
    };
    let m1 = map(&nets[0], &x);
    let m2 = map(&nets[1], &x);
    let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(
        flat(masks[0].as_tensor()),
        flat(&repeat_time(&m1, 4).unwrap())
    );
    assert_eq!(
        flat(masks[1].as_tensor()),
        flat(&repeat_time(&(&m1 * &m2), 4).unwrap())
    );
    assert!(flat(masks[1].as_tensor()).iter().any(|&k| k < 1.0));
    // Test time: the stored masks are used and left unchanged.
    let before = flat(masks[1].as_tensor());
    let test = forward_official(&refs, &rc, &masks, &x, None, &mut Ctx::eval()).unwrap();
    assert_eq!(flat(masks[1].as_tensor()), before);
    assert_eq!(flat(test.masks[2].as_ref().unwrap()), before);
}

#[test]
fn an_interrupted_ragcn_run_resumes_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    crate::common::train_tiny(&base, &["--epochs", "2"]).success();
    // Official mode also restores its stored masks from the checkpoint.
    for mode in ["per-sample", "official"] {
        let (a, b) = (
            dir.path().join(format!("a-{mode}")),
            dir.path().join(format!("b-{mode}")),
        );
        let args = [
            "ragcn",
            "train",
            "--mode",
            mode,
            "--streams",
            "2",
            "--epochs",
            "3",
            "--baseline",
        ];
        crate::common::skelcam()
            .args(args)
            .arg(&base)
            .arg("--out")
            .arg(&a)
            .assert()
            .success();
        crate::common::skelcam()
            .args(args)
            .arg(&base)
            .arg("--out")
            .arg(&b)
            .env("SKELCAM_ABORT_AFTER_EPOCH", "1")
            .assert()
            .failure();
        crate::common::skelcam()
            .args(["ragcn", "train", "--resume"])
            .arg(&b)
            .assert()
            .success();
        let bytes = |d: &std::path::Path| std::fs::read(d.join("model.safetensors")).unwrap();
        assert_eq!(bytes(&a), bytes(&b), "{mode}");
        let (ma, mut mb) = (
            crate::common::json(&a.join("metrics.json")),
            crate::common::json(&b.join("metrics.json")),
        );
        // Epoch wall times differ between the two runs; everything else must match.
        for (x, y) in mb["history"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .zip(ma["history"].as_array().unwrap())
        {
            x["seconds"] = y["seconds"].clone();
        }
        mb["seconds"] = ma["seconds"].clone();
        assert_eq!(ma, mb, "{mode}");
    }
}
