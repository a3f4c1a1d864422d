//! Robustness perturbations: exactly the documented cells are zeroed or jittered, random patterns are fixed
//! per seed, bad specifications are refused, and `eval --occlude` / `robustness` report them.

use crate::common::{json_stdout, skelcam};
use candle_core::{Device, Tensor};
use serde_json::Value;
use skelcam::data::perturb::{apply, centred_frames, Perturbation};
use skelcam::data::Layout;

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn part_and_frame_occlusion_zero_exactly_their_cells() {
    let l = Layout::resolve("kinect20").unwrap();
    let (keep, add) = Perturbation::Part("hands".into())
        .pattern(&l, 8, 2, 1)
        .unwrap();
    assert_eq!(keep.dims(), &[1, 1, 8, 20, 2]);
    let k = values(&keep);
    let hands = l.part("hands").unwrap();
    for t in 0..8 {
        for v in 0..20 {
            for m in 0..2 {
                assert_eq!(
                    k[(t * 20 + v) * 2 + m],
                    if hands.contains(&v) { 0.0 } else { 1.0 }
                );
            }
        }
    }
    assert!(values(&add).iter().all(|&a| a == 0.0));
    // frames:50 on T = 32: 16 frames, centred.
    assert_eq!(centred_frames(50, 32), (8, 16));
    assert_eq!(centred_frames(10, 300), (135, 30));
    let (keep, _) = Perturbation::Frames(50).pattern(&l, 32, 1, 1).unwrap();
    let k = values(&keep);
    for t in 0..32 {
        let zero = (8..24).contains(&t);
        assert!((0..20).all(|v| (k[t * 20 + v] == 0.0) == zero), "frame {t}");
    }
    // Applying the pattern multiplies every channel.
    let x = Tensor::ones((2, 6, 32, 20, 1), candle_core::DType::F32, &Device::Cpu).unwrap();
    let y = apply(
        &x,
        &(
            keep,
            Tensor::zeros((1, 1, 32, 20, 1), candle_core::DType::F32, &Device::Cpu).unwrap(),
        ),
    )
    .unwrap();
    assert_eq!(
        y.sum_all().unwrap().to_scalar::<f32>().unwrap(),
        (2 * 6 * 16 * 20) as f32
    );
}

#[test]
fn random_patterns_are_drawn_once_per_seed() {
    let l = Layout::resolve("ntu25").unwrap();
    let a = values(&Perturbation::Random(0.3).pattern(&l, 64, 2, 7).unwrap().0);
    let b = values(&Perturbation::Random(0.3).pattern(&l, 64, 2, 7).unwrap().0);
    let c = values(&Perturbation::Random(0.3).pattern(&l, 64, 2, 8).unwrap().0);
    assert_eq!(a, b);
    assert_ne!(a, c);
    let frac = a.iter().filter(|&&x| x == 0.0).count() as f64 / a.len() as f64;
    assert!((frac - 0.3).abs() < 0.03, "{frac}");
    let (keep, add) = Perturbation::Jitter(0.1, 0.5)
        .pattern(&l, 64, 2, 7)
        .unwrap();
    assert!(values(&keep).iter().all(|&k| k == 1.0));
    let add = values(&add);
    let picked = add.iter().filter(|&&x| x != 0.0).count() as f64 / add.len() as f64;
    assert!((picked - 0.1).abs() < 0.02, "{picked}");
    let sd = (add
        .iter()
        .filter(|&&x| x != 0.0)
        .map(|x| (x * x) as f64)
        .sum::<f64>()
        / (picked * add.len() as f64))
        .sqrt();
    assert!((sd - 0.5).abs() < 0.05, "{sd}");
}

#[test]
fn bad_specifications_are_refused() {
    for s in ["part", "frames:x", "random:1.5", "blur:3"] {
        assert!(Perturbation::parse_occlusion(s).is_err(), "{s}");
    }
    assert_eq!(
        Perturbation::parse_occlusion("frames:20").unwrap(),
        Perturbation::Frames(20)
    );
    assert_eq!(
        Perturbation::parse_jitter("0.02, 0.1").unwrap(),
        Perturbation::Jitter(0.02, 0.1)
    );
    assert!(Perturbation::parse_jitter("0.02").is_err());
    let l = Layout::resolve("msr20").unwrap();
    let e = Perturbation::Part("tail".into())
        .pattern(&l, 8, 1, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("left_arm"), "{e}");
}

#[test]
fn eval_occlude_and_robustness_commands() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    crate::common::train_tiny(&run, &["--epochs", "2"]).success();
    let v = json_stdout(
        skelcam()
            .args([
                "skeleton",
                "eval",
                "--json",
                "--occlude",
                "part:legs",
                "--run",
            ])
            .arg(&run),
    );
    assert_eq!(v["perturbation"], "part:legs");
    let bad = skelcam()
        .args(["skeleton", "eval", "--occlude", "part:tail", "--run"])
        .arg(&run)
        .assert()
        .failure();
    assert!(String::from_utf8_lossy(&bad.get_output().stderr).contains("known parts"));
    let rob = dir.path().join("rob");
    skelcam()
        .args(["skeleton", "robustness", "--runs"])
        .arg(&run)
        .arg(&run)
        .arg("--out")
        .arg(&rob)
        .assert()
        .success();
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(rob.join("robustness.json")).unwrap())
            .unwrap();
    assert_eq!(r["conditions"].as_array().unwrap().len(), 16);
    assert_eq!(r["runs"].as_array().unwrap().len(), 2);
    // Same run twice, same seed: identical rows.
    assert_eq!(r["runs"][0]["top1"], r["runs"][1]["top1"]);
    assert!(std::fs::read_to_string(rob.join("robustness.md"))
        .unwrap()
        .contains("part:left_arm"));
    assert!(rob.join("robustness.png").is_file());
}
