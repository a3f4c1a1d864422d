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
    for n in 0..2 {
        for c in 0..3 {
            let fi = f
                .index_axis(ndarray::Axis(0), n)
                .insert_axis(ndarray::Axis(3));
            let raw = class_activation(fi.view(), ndarray::ArrayView1::from(&w[c]));
            assert!(
                identity_error(&raw, b[c], l[n][c]) < 1e-4,
                "sample {n} class {c}"
            );
        }
    }
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
