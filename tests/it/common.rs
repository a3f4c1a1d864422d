//! Helpers shared by the command-line tests.
#![allow(dead_code)]

use assert_cmd::Command;
use std::path::Path;

/// The `skelcam` binary with progress bars off.
pub fn skelcam() -> Command {
    let mut c = Command::cargo_bin("skelcam").unwrap();
    c.env("SKELCAM_QUIET", "1");
    c
}

/// The command that trains the tiny model on the tiny synthetic preset (T = 16) into `out`.
pub fn tiny_cmd(out: &Path, extra: &[&str]) -> Command {
    let mut c = skelcam();
    c.args([
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
    ])
    .args(extra)
    .arg("--out")
    .arg(out);
    c
}

/// `ragcn train` of `streams` streams for one epoch from the run `base` into `out`, with `extra` options.
pub fn ragcn_cmd(base: &Path, out: &Path, streams: usize, extra: &[&str]) -> Command {
    let mut c = skelcam();
    c.args(["ragcn", "train", "--streams", &streams.to_string()])
        .args(["--epochs", "1"])
        .args(extra)
        .arg("--baseline")
        .arg(base)
        .arg("--out")
        .arg(out);
    c
}

/// Train it and return the assertion.
pub fn train_tiny(out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    tiny_cmd(out, extra).assert()
}

/// The tensors a run saved in its `model.safetensors`, by name.
pub fn run_tensors(run: &Path) -> std::collections::HashMap<String, candle_core::Tensor> {
    candle_core::safetensors::load(run.join("model.safetensors"), &candle_core::Device::Cpu)
        .unwrap()
}

pub fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// A tensor of standard normal values from a seeded generator.
pub fn randn(shape: &[usize], seed: u64) -> candle_core::Tensor {
    let mut r = skelcam::rng::rng_for(seed, 0);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| skelcam::rng::normal(&mut r)).collect();
    candle_core::Tensor::from_vec(v, shape, &candle_core::Device::Cpu).unwrap()
}

/// Give every batch norm in `vm` statistics and an affine map far from their initial (0, 1) values: running
/// means N(0, 0.5²), variances in [0.25, 2.25], weights near 1, biases N(0, 0.3²), so that eval-mode paths are
/// compared on non-trivial normalisations.
pub fn randomise_batch_norms(vm: &candle_nn::VarMap, seed: u64) {
    let data = vm.data().lock().unwrap();
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for (i, name) in names.into_iter().enumerate() {
        let Some((layer, field)) = name.rsplit_once('.') else {
            continue;
        };
        if !data.contains_key(&format!("{layer}.running_var")) {
            continue;
        }
        let var = &data[name];
        let z = randn(&[var.elem_count()], seed * 1000 + i as u64);
        let value = match field {
            "running_mean" => (z * 0.5).unwrap(),
            "running_var" => (z.sqr().unwrap().tanh().unwrap() * 2.0)
                .unwrap()
                .affine(1.0, 0.25)
                .unwrap(),
            "weight" => z.affine(0.2, 1.0).unwrap(),
            "bias" => (z * 0.3).unwrap(),
            _ => continue,
        };
        var.set(&value.reshape(var.shape()).unwrap()).unwrap();
    }
}

/// A tensor's values, flattened, as f32.
pub fn flat(t: &candle_core::Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

/// Panics unless `a` and `b` hold the same floats bit for bit, naming how many differ and the first.
pub fn assert_same_bits(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    let differ: Vec<usize> = (0..a.len())
        .filter(|&i| a[i].to_bits() != b[i].to_bits())
        .collect();
    if let Some(&i) = differ.first() {
        panic!(
            "{what}: {} of {} values differ, first at {i}: {} vs {}",
            differ.len(),
            a.len(),
            a[i],
            b[i]
        );
    }
}

/// max |a − b| over all elements.
pub fn max_abs_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Gradients of Σ(t ⊙ proj): every output element gets its own random weight, so a wrong gradient anywhere shows.
pub fn grads_of(
    t: candle_core::Tensor,
    proj: &candle_core::Tensor,
) -> candle_core::backprop::GradStore {
    (t * proj).unwrap().sum_all().unwrap().backward().unwrap()
}

/// Run `cmd`, require success (stderr is shown otherwise) and parse its stdout as one JSON value.
pub fn json_stdout(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// A config for a quick run: 2 synthetic classes, 24 + 6 pictures each, 32-px input, narrow ResNet.
pub fn tiny_image_config(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("tiny.json");
    let cfg = serde_json::json!({
        "format": "synthetic", "model": "resnet18-narrow", "size": 32, "epochs": 3, "batch_size": 16,
        "synthetic": {"classes": 2, "train_per_class": 24, "test_per_class": 6, "side": 64, "seed": 4}
    });
    std::fs::write(&p, cfg.to_string()).unwrap();
    p
}
