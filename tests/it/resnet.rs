//! ResNet-18: torchvision's parameter count and names, features/head decomposition and the CAM identity.

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use skelcam::cam::core::{class_activation, identity_error};
use skelcam::cam::gradcam::to_array4;
use skelcam::models::{init, Ctx, Resnet, ResnetConfig};
use skelcam::rng::rng_for;

fn build(preset: &str, classes: usize) -> (VarMap, Resnet) {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let net = Resnet::new(&ResnetConfig::preset(preset, classes).unwrap(), vb).unwrap();
    init::seeded_init(&vm, 7).unwrap();
    (vm, net)
}

#[test]
fn resnet18_with_two_classes_has_torchvision_parameter_count_and_names() {
    let (vm, _) = build("resnet18", 2);
    assert_eq!(init::num_trainable(&vm), 11_177_538);
    let names: Vec<String> = vm.data().lock().unwrap().keys().cloned().collect();
    for key in [
        "conv1.weight",
        "bn1.running_mean",
        "layer1.0.conv1.weight",
        "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.running_var",
        "layer4.1.bn2.bias",
        "fc.weight",
        "fc.bias",
    ] {
        assert!(names.iter().any(|n| n == key), "missing {key}");
    }
    // torchvision's state dict has 122 tensors: these 102 and 20 num_batches_tracked counters.
    assert_eq!(names.len(), 102);
}

#[test]
fn inference_gives_the_tracked_eval_features_bit_for_bit() {
    // Inference ends each basic block (batch norm, the downsampling skip's batch norm, sum, ReLU) in one fused
    // pass; the tracked eval graph runs the separate ops. Both must give the same bits.
    let (vm, net) = build("resnet18-narrow", 3);
    crate::common::randomise_batch_norms(&vm, 5);
    let x = crate::common::randn(&[2, 3, 64, 64], 6);
    let f = |ctx: &mut Ctx| crate::common::flat(&net.features(&x, ctx).unwrap());
    let (tracked, inferred) = (f(&mut Ctx::eval_with_grad()), f(&mut Ctx::eval()));
    assert!(tracked.iter().any(|&v| v > 0.0));
    crate::common::assert_same_bits(&tracked, &inferred, "features");
}

#[test]
fn head_of_features_is_forward_and_cam_identity_holds() {
    let (_, net) = build("resnet18-narrow", 3);
    let x = crate::common::randn(&[2, 3, 64, 64], 5);
    let logits = net.forward(&x, &mut Ctx::eval()).unwrap();
    let feats = net.features(&x, &mut Ctx::eval()).unwrap();
    assert_eq!(feats.dims(), &[2, 128, 2, 2]);
    let via_head = net.head(&feats).unwrap();
    let d = crate::common::max_abs_diff(&logits, &via_head);
    assert!(d < 1e-5, "{d}");
    let (w, b) = net.head_params();
    let (w, b): (Vec<Vec<f32>>, Vec<f32>) = (w.to_vec2().unwrap(), b.to_vec1().unwrap());
    let l: Vec<Vec<f32>> = logits.to_vec2().unwrap();
    let f = to_array4(&feats).unwrap();
    for (n, ln) in l.iter().enumerate().take(2) {
        for c in 0..3 {
            let fi = f
                .index_axis(ndarray::Axis(0), n)
                .insert_axis(ndarray::Axis(3));
            let raw = class_activation(fi.view(), ndarray::ArrayView1::from(&w[c]));
            assert!(
                identity_error(&raw, b[c], ln[c]) < 1e-4,
                "sample {n} class {c}"
            );
        }
    }
}

/// The tensor mirrored along its last dimension.
fn mirror(x: &candle_core::Tensor) -> candle_core::Tensor {
    let w = x.dim(candle_core::D::Minus1).unwrap();
    let idx: Vec<u32> = (0..w as u32).rev().collect();
    let idx = candle_core::Tensor::from_vec(idx, w, &Device::Cpu).unwrap();
    x.index_select(&idx, candle_core::D::Minus1).unwrap()
}

#[test]
fn flip_averaging_makes_predictions_mirror_invariant_and_maps_mirror_with_the_picture() {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let mut cfg = ResnetConfig::preset("resnet18-narrow-os16", 3).unwrap();
    cfg.flip_average = true;
    let net = Resnet::new(&cfg, vb).unwrap();
    init::seeded_init(&vm, 7).unwrap();
    let plain_vm = VarMap::new();
    cfg.flip_average = false;
    let plain = Resnet::new(
        &cfg,
        VarBuilder::from_varmap(&plain_vm, DType::F32, &Device::Cpu),
    )
    .unwrap();
    init::seeded_init(&plain_vm, 7).unwrap();
    let x = crate::common::randn(&[2, 3, 64, 96], 5);
    let (fx, fm) = (
        net.features(&x, &mut Ctx::eval()).unwrap(),
        net.features(&mirror(&x), &mut Ctx::eval()).unwrap(),
    );
    // The map of the mirror image is the mirrored map; the logits are the same.
    assert!(crate::common::max_abs_diff(&fm, &mirror(&fx)) < 1e-5);
    let l = net.forward(&x, &mut Ctx::eval()).unwrap();
    let lm = net.forward(&mirror(&x), &mut Ctx::eval()).unwrap();
    assert!(crate::common::max_abs_diff(&l, &lm) < 1e-4);
    // It is the mean of the plain network's maps of the picture and of its mirror (mirrored back),
    // head(features) is still forward, and the plain network is not mirror invariant.
    let (px, pm) = (
        plain.features(&x, &mut Ctx::eval()).unwrap(),
        plain.features(&mirror(&x), &mut Ctx::eval()).unwrap(),
    );
    let mean = ((px + mirror(&pm)).unwrap() * 0.5).unwrap();
    assert!(crate::common::max_abs_diff(&fx, &mean) < 1e-5);
    assert!(crate::common::max_abs_diff(&net.head(&fx).unwrap(), &l) < 1e-5);
    let pl = plain.forward(&x, &mut Ctx::eval()).unwrap();
    let plm = plain.forward(&mirror(&x), &mut Ctx::eval()).unwrap();
    assert!(crate::common::max_abs_diff(&pl, &plm) > 1e-4);
    // Training sees the picture alone.
    let mut rng = rng_for(1, 1);
    let t = net.forward(&x, &mut Ctx::train(&mut rng)).unwrap();
    let mut rng = rng_for(1, 1);
    let tp = plain.forward(&x, &mut Ctx::train(&mut rng)).unwrap();
    assert_eq!(crate::common::max_abs_diff(&t, &tp), 0.0);
}

#[test]
fn train_mode_forward_backward_runs_and_input_size_is_checked() {
    let (vm, net) = build("resnet18-narrow", 2);
    let x = crate::common::randn(&[2, 3, 32, 32], 5);
    let mut rng = rng_for(1, 1);
    let logits = net.forward(&x, &mut Ctx::train(&mut rng)).unwrap();
    let grads = logits.sum_all().unwrap().backward().unwrap();
    let trainable = init::trainable(&vm);
    let with_grad = trainable
        .iter()
        .filter(|(_, v)| grads.get(v).is_some())
        .count();
    assert_eq!(
        with_grad,
        trainable.len(),
        "every trainable parameter gets a gradient"
    );
    let e = net
        .forward(&crate::common::randn(&[1, 3, 16, 16], 5), &mut Ctx::eval())
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least 32"), "{e}");
    // torchvision's sizes for a 112-px input: layer4 is 4×4.
    let f = net
        .features(
            &crate::common::randn(&[1, 3, 112, 112], 5),
            &mut Ctx::eval(),
        )
        .unwrap();
    assert_eq!(f.dims(), &[1, 128, 4, 4]);
}

#[test]
fn imported_torchvision_weights_give_the_reference_logits() {
    // tests/fixtures/make_resnet_fixture.py: random torchvision-named weights (width 4) with running
    // statistics and num_batches_tracked counters, an input, and logits from an independent NumPy forward.
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/resnet18_w4.safetensors");
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let st = assert_cmd::Command::cargo_bin("skelcam")
        .unwrap()
        .args([
            "image",
            "import",
            "--classes",
            "a,b",
            "--size",
            "64",
            "--weights",
        ])
        .arg(&fixture)
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let model = skelcam::models::ImageModel::load(&run).unwrap();
    assert_eq!(model.run.model.width, 4);
    let t = candle_core::safetensors::load(&fixture, &Device::Cpu).unwrap();
    let ours: Vec<f32> = model
        .net
        .forward(&t["fixture.input"], &mut Ctx::eval())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let reference: Vec<f32> = t["fixture.logits"]
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    for (o, r) in ours.iter().zip(&reference) {
        assert!(
            (o - r).abs() <= 1e-4 * (1.0 + r.abs()),
            "ours {ours:?} vs reference {reference:?}"
        );
    }
}
