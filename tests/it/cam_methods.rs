//! The CAM family: on a skeleton model (GAP + linear head) every method equals its closed form computed here
//! from the features and the class row; on a torchvision-layout ResNet-18 each method gives the same map as
//! pytorch-grad-cam's class of that name (fixture made by tests/fixtures/make_gradcam_fixture.py) and
//! Eigen-CAM the projection of NumPy's SVD.

use crate::cam::{run_dir, sample};
use crate::common::skelcam;
use ndarray::{Array1, Array2, Axis};
use serde_json::Value;
use skelcam::cam::image::explain_picture_classes;
use skelcam::cam::methods::CamMethod;
use skelcam::cam::probes::channels;
use skelcam::cam::skeleton::{explain, model_input, ClassChoice};
use skelcam::models::{Ctx, SkeletonModel};
use std::path::Path;

fn max_rel(a: &Array1<f32>, b: &Array1<f32>) -> f32 {
    let scale = b.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

#[test]
fn every_skeleton_method_equals_its_closed_form_for_a_gap_linear_head() {
    let model = SkeletonModel::load(run_dir()).unwrap();
    let seq = sample(16, true);
    let (x, _, _) = model_input(&model, &seq).unwrap();
    let feats = model.net.features(&x, &mut Ctx::eval()).unwrap();
    let a: Array2<f32> = channels(&feats).unwrap();
    let (w, b) = model.net.head_params().unwrap();
    let map_of = |m: CamMethod| -> (usize, Array1<f32>) {
        let c = explain(&model, &seq, &ClassChoice::Index(1), m).unwrap();
        (c.class, c.raw.iter().copied().collect())
    };
    let (class, cam) = map_of(CamMethod::Cam);
    let wc = Array1::from(w.get(class).unwrap().to_vec1::<f32>().unwrap());
    let bias = b.to_vec1::<f32>().unwrap()[class];
    let z = a.ncols() as f32;
    let relu = |v: Array1<f32>| v.mapv(|x| x.max(0.0));
    assert!(max_rel(&cam, &wc.dot(&a)) < 1e-5);
    let y = cam.mean().unwrap() + bias;
    // HiResCAM = CAM / Z; Grad-CAM = XGrad-CAM = ReLU(CAM) / Z; LayerCAM = ReLU(Σ ReLU(w_k) A_k) / Z.
    let expect = [
        (CamMethod::Hirescam, cam.mapv(|v| v / z)),
        (CamMethod::Gradcam, relu(cam.mapv(|v| v / z))),
        (CamMethod::Xgradcam, relu(cam.mapv(|v| v / z))),
        (
            CamMethod::Layercam,
            relu(wc.mapv(|v| v.max(0.0) / z).dot(&a)),
        ),
    ];
    for (m, want) in expect {
        let (_, got) = map_of(m);
        assert!(
            max_rel(&got, &want) < 1e-4,
            "{m:?}: {:.2e}",
            max_rel(&got, &want)
        );
    }
    // Grad-CAM++ with a constant gradient g_k = w_k / Z per channel.
    let pp: Array1<f32> = (0..a.nrows())
        .map(|k| {
            let g = (wc[k] / z) as f64;
            let s: f64 = a.row(k).iter().map(|&v| v as f64).sum();
            if g == 0.0 {
                return 0.0;
            }
            (z as f64 * g * g / (2.0 * g * g + s * g * g * g + 1e-6) * g.max(0.0)) as f32
        })
        .collect();
    let (_, got) = map_of(CamMethod::GradcamPp);
    assert!(max_rel(&got, &relu(pp.dot(&a))) < 1e-4);
    // Ablation-CAM: zeroing channel k drops the logit by w_k · mean(A_k).
    let drop: Array1<f32> = (0..a.nrows())
        .map(|k| wc[k] * a.row(k).mean().unwrap() / y)
        .collect();
    let (_, got) = map_of(CamMethod::Ablationcam);
    assert!(max_rel(&got, &relu(drop.dot(&a))) < 1e-3);
    // Eigen-CAM: an eigenvector of the centred Gram matrix with the largest eigenvalue, at least as
    // large a Rayleigh quotient as any feature-position direction.
    let (_, eig) = map_of(CamMethod::Eigencam);
    let xc = {
        let x = a.t().mapv(f64::from);
        let mean = x.mean_axis(Axis(0)).unwrap();
        &x - &mean
    };
    let gram = xc.dot(&xc.t());
    let rayleigh = |v: &Array1<f64>| v.dot(&gram.dot(v)) / v.dot(v);
    let e = eig.mapv(f64::from);
    if e.iter().any(|&v| v > 0.0) {
        let full = skelcam::cam::methods::first_component(&a).mapv(f64::from);
        let top = rayleigh(&full);
        for i in 0..gram.nrows() {
            let mut unit = Array1::zeros(gram.nrows());
            unit[i] = 1.0;
            assert!(rayleigh(&unit) <= top * (1.0 + 1e-9));
        }
        assert!(max_rel(&relu(full.mapv(|v| v as f32)), &eig) < 1e-6);
    }
    // Score-CAM: softmax weights (sum 1) of non-negative masks: a non-negative, finite map; random: seeded.
    let (_, sc) = map_of(CamMethod::Scorecam);
    assert!(sc.iter().all(|v| v.is_finite() && *v >= 0.0) && sc.iter().any(|&v| v > 0.0));
    let (_, r1) = map_of(CamMethod::Random);
    let (_, r2) = map_of(CamMethod::Random);
    assert_eq!(r1, r2);
    assert!(r1.iter().all(|v| (0.0..1.0).contains(v)));
}

/// The fixture's picture as the input the Python side computed: (pixel / 255 − mean) / std, f32.
fn picture_input(path: &Path) -> candle_core::Tensor {
    const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
    const STD: [f32; 3] = [0.229, 0.224, 0.225];
    let img = image::open(path).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let mut data = vec![0f32; 3 * (w * h) as usize];
    for (x, y, p) in img.enumerate_pixels() {
        for c in 0..3 {
            data[c * (w * h) as usize + (y * w + x) as usize] =
                (p[c] as f32 / 255.0 - MEAN[c]) / STD[c];
        }
    }
    candle_core::Tensor::from_vec(
        data,
        (1, 3, h as usize, w as usize),
        &candle_core::Device::Cpu,
    )
    .unwrap()
}

#[test]
fn image_methods_give_pytorch_grad_cams_maps_and_eigen_cam_the_svd_projection() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gradcam");
    let want: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("maps.json")).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    skelcam()
        .args([
            "image",
            "import",
            "--classes",
            "a,b",
            "--size",
            "224",
            "--weights",
        ])
        .arg(fixtures.join("resnet18_w4.safetensors"))
        .arg("--out")
        .arg(&run)
        .assert()
        .success();
    let model = skelcam::models::ImageModel::load(&run).unwrap();
    let flat = |v: &Value| -> Array1<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .flat_map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
            })
            .collect()
    };
    let scaled = |m: &Array2<f32>| -> Array1<f32> {
        let r = m.mapv(|x| x.max(0.0));
        let top = r.iter().copied().fold(0f32, f32::max);
        r.iter()
            .map(|&x| if top > 0.0 { x / top } else { x })
            .collect()
    };
    for name in ["house", "sun"] {
        let x = picture_input(&fixtures.join(format!("{name}.png")));
        for (class, maps) in want[name]["classes"].as_array().unwrap().iter().enumerate() {
            for m in [
                CamMethod::Gradcam,
                CamMethod::Hirescam,
                CamMethod::Xgradcam,
                CamMethod::GradcamPp,
                CamMethod::Layercam,
                CamMethod::Scorecam,
                CamMethod::Ablationcam,
            ] {
                // A batch of 5 leaves a remainder of 2 of the 32 channels: the batching must not matter.
                let ours = explain_picture_classes(&model, &x, &[ClassChoice::Index(class)], m, 5)
                    .unwrap()
                    .remove(0);
                let theirs = flat(&maps[m.name()]);
                let got = scaled(&ours.map);
                let d = got
                    .iter()
                    .zip(&theirs)
                    .fold(0f32, |a, (p, q)| a.max((p - q).abs()));
                assert!(
                    d < 1e-3,
                    "{name} class {class} {}: differs by {d:.2e}",
                    m.name()
                );
            }
        }
        // Eigen-CAM: NumPy's SVD projection, up to the sign skelcam fixes.
        let ours =
            explain_picture_classes(&model, &x, &[ClassChoice::Auto], CamMethod::Eigencam, 16)
                .unwrap()
                .remove(0);
        let feats = model.net.features(&x, &mut Ctx::eval()).unwrap();
        let proj = skelcam::cam::methods::first_component(&channels(&feats).unwrap());
        let svd = flat(&want[name]["eigencam_svd"]);
        let sign = if proj.dot(&svd) < 0.0 { -1.0 } else { 1.0 };
        assert!(
            max_rel(&proj.mapv(|v| v * sign), &svd) < 1e-3,
            "{name}: Eigen-CAM"
        );
        let map: Array1<f32> = ours.map.iter().copied().collect();
        assert!(max_rel(&map, &proj.mapv(|v| v.max(0.0))) < 1e-6);
    }
}

#[test]
fn cam_compare_scores_every_method_on_the_same_samples() {
    let out = tempfile::tempdir().unwrap();
    let doc = crate::common::json_stdout(
        skelcam()
            .args(["skeleton", "cam-compare", "--limit", "4", "--json", "--run"])
            .arg(run_dir())
            .arg("--out")
            .arg(out.path()),
    );
    assert_eq!(doc["samples"], 4);
    let methods = doc["methods"].as_object().unwrap();
    assert_eq!(methods.len(), 10);
    for m in CamMethod::ALL {
        let r = &methods[m.name()];
        for k in [
            "deletion_auc",
            "insertion_auc",
            "road_morf",
            "road_lerf",
            "road_combined",
            "average_drop",
            "increase_in_confidence",
            "seconds",
            "topk_hit_rate",
        ] {
            let v = r[k]
                .as_f64()
                .unwrap_or_else(|| panic!("{} lacks {k}", m.name()));
            assert!(v.is_finite(), "{} {k}", m.name());
        }
        let combined = r["road_combined"].as_f64().unwrap();
        let (morf, lerf) = (
            r["road_morf"].as_f64().unwrap(),
            r["road_lerf"].as_f64().unwrap(),
        );
        assert!((combined - (lerf - morf) / 2.0).abs() < 1e-9);
    }
    // The CAM ranking removes evidence faster than the seeded random one.
    let road = |m: &str| methods[m]["road_combined"].as_f64().unwrap();
    assert!(road("cam") > road("random"), "{doc}");
    for f in ["compare.json", "ranking.md", "methods.png", "metrics.png"] {
        assert!(out.path().join(f).is_file(), "{f}");
    }
    let md = std::fs::read_to_string(out.path().join("ranking.md")).unwrap();
    assert_eq!(
        md.lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| method"))
            .count(),
        10
    );
    // A method that does not exist is refused by name.
    let bad = skelcam()
        .args(["skeleton", "cam-compare", "--methods", "cam,nope", "--run"])
        .arg(run_dir())
        .assert()
        .failure();
    assert!(String::from_utf8_lossy(&bad.get_output().stderr).contains("nope"));
}

#[test]
fn image_cam_compare_scores_every_method_with_the_pointing_game() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    skelcam()
        .args(["image", "train", "--config"])
        .arg(crate::common::tiny_image_config(dir.path()))
        .arg("--out")
        .arg(&run)
        .assert()
        .success();
    let out = dir.path().join("cmp");
    let doc = crate::common::json_stdout(
        skelcam()
            .args(["image", "cam-compare", "--limit", "3", "--json", "--run"])
            .arg(&run)
            .arg("--out")
            .arg(&out),
    );
    assert_eq!(doc["samples"], 3);
    for m in CamMethod::ALL {
        let r = &doc["methods"][m.name()];
        let p = r["pointing_game"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p), "{}: pointing game {p}", m.name());
        let (morf, lerf) = (
            r["road_morf"].as_f64().unwrap(),
            r["road_lerf"].as_f64().unwrap(),
        );
        assert!((0.0..=1.0).contains(&morf) && (0.0..=1.0).contains(&lerf));
        assert!(r["seconds"].as_f64().unwrap() >= 0.0);
    }
    for f in ["compare.json", "ranking.md", "methods.png", "metrics.png"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let mosaic = image::open(out.join("methods.png")).unwrap();
    assert!(
        mosaic.width() > mosaic.height(),
        "ten overlays, five per row"
    );
}
