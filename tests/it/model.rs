//! ST-GCN: parameter count against the reference implementation, its convolutions against candle's
//! reference ops and explicit sums, gradients against finite differences, the CAM identity of its
//! GAP + linear head, batch-norm statistics and seeded initialisation.

use crate::common::{assert_same_bits, grads_of, max_abs_diff, randn, randomise_batch_norms};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use skelcam::data::Layout;
use skelcam::models::stgcn::{graph_conv, temporal_conv};
use skelcam::models::{init, Ctx, Stgcn, StgcnConfig};
use skelcam::rng::rng_for;

fn build(preset: &str, layout: &str, classes: usize, seed: u64) -> (VarMap, Stgcn) {
    let l = Layout::resolve(layout).unwrap();
    let cfg = StgcnConfig::preset(preset, 3, classes).unwrap();
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let net = Stgcn::new(&cfg, l.num_joints(), &l.edges, l.center, vb).unwrap();
    init::seeded_init(&vm, seed).unwrap();
    (vm, net)
}

#[test]
fn full_stgcn_on_ntu25_has_the_reference_parameter_count() {
    let (vm, _) = build("stgcn", "ntu25", 60, 1);
    assert_eq!(init::num_trainable(&vm), 3_098_832);
}

#[test]
fn temporal_conv_matches_candle_conv2d() {
    for (stride, t) in [(1, 12), (2, 12), (2, 8)] {
        let x = randn(&[5, 3, t, 4], 1); // (Cin, B, T, V)
        let w = randn(&[6, 5, 9, 1], 2);
        let b = randn(&[6], 3);
        let ours = temporal_conv(&x, &w, &b, stride).unwrap();
        // Reference: PyTorch layout (B, Cin, T, V), T-only zero padding, stride applied to T only.
        let xr = x.transpose(0, 1).unwrap().pad_with_zeros(2, 4, 4).unwrap();
        let r = xr
            .conv2d(&w, 0, 1, 1, 1)
            .unwrap()
            .broadcast_add(&b.reshape((1, 6, 1, 1)).unwrap())
            .unwrap();
        let r = r
            .index_select(
                &Tensor::arange_step(0u32, t as u32, stride as u32, &Device::Cpu).unwrap(),
                2,
            )
            .unwrap();
        let r = r.transpose(0, 1).unwrap();
        assert_eq!(ours.dims(), r.dims());
        assert!(max_abs_diff(&ours, &r) < 1e-4, "stride {stride}");
    }
}

#[test]
fn graph_conv_matches_explicit_sum() {
    let (k, c, b, t, v) = (3, 2, 2, 3, 5);
    let y = randn(&[k * c, b, t, v], 4);
    let a = randn(&[k, v, v], 5);
    let out = graph_conv(&y, &a).unwrap();
    let yv = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let av = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let ov = out.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    for ci in 0..c {
        for bi in 0..b {
            for ti in 0..t {
                for w in 0..v {
                    let mut s = 0f32;
                    for ki in 0..k {
                        for vi in 0..v {
                            s += yv[(((ki * c + ci) * b + bi) * t + ti) * v + vi]
                                * av[(ki * v + vi) * v + w];
                        }
                    }
                    let got = ov[((ci * b + bi) * t + ti) * v + w];
                    assert!((got - s).abs() < 1e-4);
                }
            }
        }
    }
}

#[test]
fn inference_gives_the_tracked_eval_logits_and_keeps_no_graph() {
    let (vm, net) = build("stgcn-tiny", "kinect20", 5, 3);
    // Inference ends each residual block in one fused pass; the tracked graph runs the separate ops.
    randomise_batch_norms(&vm, 3);
    let x = randn(&[2, 3, 16, 20, 1], 4);
    let tracked = net.forward(&x, &mut Ctx::eval_with_grad()).unwrap();
    let inferred = net.forward(&x, &mut Ctx::eval()).unwrap();
    assert_eq!(max_abs_diff(&tracked, &inferred), 0.0);
    let f = |ctx: &mut Ctx| crate::common::flat(&net.features(&x, ctx).unwrap());
    let (tracked_f, inferred_f) = (f(&mut Ctx::eval_with_grad()), f(&mut Ctx::eval()));
    assert_same_bits(&tracked_f, &inferred_f, "features");
    // With the graph kept, the loss reaches the first block's weights; under inference it cannot.
    let first = vm
        .data()
        .lock()
        .unwrap()
        .get("st_gcn_networks.0.gcn.conv.weight")
        .unwrap()
        .clone();
    let sum = |t: &Tensor| t.sum_all().unwrap().backward().unwrap();
    assert!(sum(&tracked).get(&first).is_some());
    assert!(sum(&inferred).get(&first).is_none());
}

#[test]
fn head_of_features_is_forward_and_cam_identity_holds() {
    let (_, net) = build("stgcn-tiny", "kinect20", 5, 3);
    let x = randn(&[3, 3, 16, 20, 2], 6);
    let logits = net.forward(&x, &mut Ctx::eval()).unwrap();
    let f = net.features(&x, &mut Ctx::eval()).unwrap();
    assert_eq!(f.dims(), &[3, 32, 4, 20, 2]); // T' = T / 4, persons kept
    assert!(max_abs_diff(&net.head(&f).unwrap(), &logits) < 1e-5);
    // CAM: M_c(t', v, m) = Σ_k w_ck f_k(t', v, m); mean(M_c) + b_c = logit_c for every sample and class.
    let (w, b) = net.head_params().unwrap();
    let cam = f
        .permute((0, 2, 3, 4, 1))
        .unwrap()
        .contiguous()
        .unwrap()
        .broadcast_matmul(&w.t().unwrap())
        .unwrap();
    let mean = cam.reshape((3, (), 5)).unwrap().mean(1).unwrap();
    let rebuilt = mean.broadcast_add(&b).unwrap();
    assert!(max_abs_diff(&rebuilt, &logits) < 1e-4);
}

/// Loss whose gradient we check: a fixed random projection of the logits (train or eval mode).
fn probe_loss(net: &Stgcn, x: &Tensor, proj: &Tensor, train: bool) -> Tensor {
    let mut rng = rng_for(0, 0);
    let mut ctx = if train {
        Ctx::train(&mut rng)
    } else {
        Ctx::eval_with_grad()
    };
    let logits = net.forward(x, &mut ctx).unwrap();
    (logits * proj).unwrap().sum_all().unwrap()
}

#[test]
fn gradients_match_finite_differences() {
    let l = Layout::resolve("kinect20").unwrap();
    let mut cfg = StgcnConfig::preset("stgcn-tiny", 3, 4).unwrap();
    cfg.dropout = 0.0;
    let vm = VarMap::new();
    let net = Stgcn::new(
        &cfg,
        20,
        &l.edges,
        l.center,
        VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
    )
    .unwrap();
    init::seeded_init(&vm, 11).unwrap();
    let x = randn(&[6, 3, 8, 20, 1], 7);
    let proj = randn(&[6, 4], 8);
    let params: std::collections::HashMap<String, Var> = init::trainable(&vm).into_iter().collect();
    // Central differences with a small step: larger steps cross ReLU kinks (measured: the difference then
    // drifts away from the analytic value and converges back to it as the step shrinks).
    for (train, h) in [(false, 1e-3f32), (true, 1e-3)] {
        let grads = probe_loss(&net, &x, &proj, train).backward().unwrap();
        for (name, idx) in [
            ("st_gcn_networks.0.gcn.conv.weight", 5usize),
            ("st_gcn_networks.1.tcn.2.weight", 40),
            ("st_gcn_networks.2.residual.0.weight", 3),
            ("edge_importance.1", 25),
            ("data_bn.weight", 7),
            ("st_gcn_networks.1.tcn.3.weight", 2),
            ("st_gcn_networks.0.gcn.conv.bias", 5),
            ("fcn.weight", 10),
        ] {
            let var = &params[name];
            let g = grads
                .get(var)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()[idx] as f64;
            let orig = var
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let eval_at = |delta: f32| {
                let mut v = orig.clone();
                v[idx] += delta;
                var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap())
                    .unwrap();
                probe_loss(&net, &x, &proj, train)
                    .to_scalar::<f32>()
                    .unwrap() as f64
            };
            let fd = (eval_at(h) - eval_at(-h)) / (2.0 * h as f64);
            var.set(&Tensor::from_vec(orig, var.shape(), &Device::Cpu).unwrap())
                .unwrap();
            let tol = 0.05 * g.abs().max(fd.abs()) + 1e-3;
            assert!(
                (g - fd).abs() < tol,
                "train={train} {name}[{idx}]: autodiff {g}, finite difference {fd}"
            );
        }
    }
}

#[test]
fn batch_norm_updates_running_stats_only_in_train_mode() {
    let (vm, net) = build("stgcn-tiny", "kinect20", 3, 1);
    let get = |n: &str| {
        vm.data().lock().unwrap()[n]
            .as_tensor()
            .to_vec1::<f32>()
            .unwrap()
    };
    let x = (randn(&[4, 3, 8, 20, 1], 9) * 3.0)
        .unwrap()
        .affine(1.0, 2.0)
        .unwrap();
    let before = get("data_bn.running_mean");
    net.forward(&x, &mut Ctx::eval()).unwrap();
    assert_eq!(get("data_bn.running_mean"), before);
    let mut rng = rng_for(1, 1);
    net.forward(&x, &mut Ctx::train(&mut rng)).unwrap();
    let after = get("data_bn.running_mean");
    // Momentum 0.1 from 0 towards the batch mean of each (joint, channel) feature.
    let xv = x
        .permute((3, 1, 0, 4, 2))
        .unwrap()
        .contiguous()
        .unwrap()
        .reshape((60, ()))
        .unwrap()
        .mean(1)
        .unwrap();
    for (a, m) in after.iter().zip(xv.to_vec1::<f32>().unwrap()) {
        assert!((a - 0.1 * m).abs() < 1e-5, "{a} vs {}", 0.1 * m);
    }
}

#[test]
fn seeded_init_is_reproducible() {
    let (a, _) = build("stgcn-tiny", "msr20", 20, 5);
    let (b, _) = build("stgcn-tiny", "msr20", 20, 5);
    let (c, _) = build("stgcn-tiny", "msr20", 20, 6);
    let w = |vm: &VarMap| {
        vm.data().lock().unwrap()["st_gcn_networks.1.tcn.2.weight"]
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    assert_eq!(w(&a), w(&b));
    assert_ne!(w(&a), w(&c));
}

#[test]
fn input_shape_errors_are_clear() {
    let (_, net) = build("stgcn-tiny", "kinect20", 3, 1);
    let e = net
        .forward(&randn(&[2, 3, 10, 20, 1], 1), &mut Ctx::eval())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("multiple of the model's temporal stride 4"),
        "{e}"
    );
    let e = net
        .forward(&randn(&[2, 3, 8, 25, 1], 1), &mut Ctx::eval())
        .unwrap_err()
        .to_string();
    assert!(e.contains("25 joints"), "{e}");
}

/// The official composition: 1×1 conv with bias to K·Cout channels, then the K adjacency products.
fn official_gcn(x: &Tensor, w: &Tensor, b: &Tensor, a: &Tensor) -> Tensor {
    let c = skelcam::models::kernels::conv2d_cf_reference(x, w, (1, 1), (0, 0))
        .unwrap()
        .broadcast_add(&b.reshape(((), 1, 1, 1)).unwrap())
        .unwrap();
    graph_conv(&c, a).unwrap()
}

#[test]
fn spatial_gcn_node_matches_conv_then_graph_products_forward_and_all_four_gradients() {
    use skelcam::models::kernels::spatial_gcn;
    // (K, Cin, Cout, B, T, V): input channels fewer than, equal to and more than the output's.
    for (i, &(k, cin, cout, b, t, v)) in
        [(3, 3, 8, 2, 5, 7), (3, 6, 6, 1, 4, 25), (2, 9, 4, 3, 2, 5)]
            .iter()
            .enumerate()
    {
        let s = 100 + 10 * i as u64;
        let x = Var::from_tensor(&randn(&[cin, b, t, v], s)).unwrap();
        let w = Var::from_tensor(&randn(&[k * cout, cin, 1, 1], s + 1)).unwrap();
        let bias = Var::from_tensor(&randn(&[k * cout], s + 2)).unwrap();
        let a = Var::from_tensor(&randn(&[k, v, v], s + 3)).unwrap();
        let ours = spatial_gcn(
            x.as_tensor(),
            w.as_tensor(),
            bias.as_tensor(),
            a.as_tensor(),
        )
        .unwrap();
        let reference = official_gcn(
            x.as_tensor(),
            w.as_tensor(),
            bias.as_tensor(),
            a.as_tensor(),
        );
        assert_eq!(ours.dims(), reference.dims(), "case {i}");
        let tol = 1e-5 * (1.0 + max_abs_diff(&reference, &reference.zeros_like().unwrap()));
        assert!(max_abs_diff(&ours, &reference) < tol, "forward, case {i}");
        let proj = randn(reference.dims(), s + 4);
        let (g1, g2) = (grads_of(ours, &proj), grads_of(reference, &proj));
        for (name, var) in [
            ("input", &x),
            ("weight", &w),
            ("bias", &bias),
            ("adjacency", &a),
        ] {
            let (d1, d2) = (g1.get(var).unwrap(), g2.get(var).unwrap());
            assert_eq!(d1.dims(), d2.dims(), "{name} gradient shape, case {i}");
            let scale = 1.0 + max_abs_diff(d2, &d2.zeros_like().unwrap());
            assert!(
                max_abs_diff(d1, d2) < 1e-4 * scale,
                "{name} gradient, case {i}"
            );
        }
    }
    let e = spatial_gcn(
        &randn(&[3, 1, 2, 5], 1),
        &randn(&[6, 4, 1, 1], 2),
        &randn(&[6], 3),
        &randn(&[3, 5, 5], 4),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("do not fit"), "{e}");
}

#[test]
fn spatial_gcn_node_gradients_match_finite_differences() {
    use skelcam::models::kernels::spatial_gcn;
    let (k, cin, cout, b, t, v) = (3, 2, 3, 2, 3, 4);
    let base = [
        randn(&[cin, b, t, v], 201),
        randn(&[k * cout, cin, 1, 1], 202),
        randn(&[k * cout], 203),
        randn(&[k, v, v], 204),
    ];
    let proj = randn(&[cout, b, t, v], 205);
    let loss = |p: &[Tensor]| -> Tensor {
        (spatial_gcn(&p[0], &p[1], &p[2], &p[3])
            .unwrap()
            .tanh()
            .unwrap()
            * &proj)
            .unwrap()
            .sum_all()
            .unwrap()
    };
    let vars: Vec<Var> = base.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let grads = loss(&tensors).backward().unwrap();
    let eps = 1e-2f32;
    for (which, var) in vars.iter().enumerate() {
        let vals: Vec<f32> = base[which].flatten_all().unwrap().to_vec1().unwrap();
        let g: Vec<f32> = grads
            .get(var)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for idx in (0..vals.len()).step_by(3) {
            let eval = |delta: f32| -> f32 {
                let mut p = base.clone();
                let mut vv = vals.clone();
                vv[idx] += delta;
                p[which] = Tensor::from_vec(vv, base[which].dims(), &Device::Cpu).unwrap();
                loss(&p).to_scalar::<f32>().unwrap()
            };
            let fd = (eval(eps) - eval(-eps)) / (2.0 * eps);
            assert!(
                (fd - g[idx]).abs() < 2e-2 * (1.0 + fd.abs()),
                "input {which} at {idx}: analytic {} vs finite difference {fd}",
                g[idx]
            );
        }
    }
}

#[test]
fn temporal_conv_kernel_matches_candle_conv2d_forward_and_both_gradients() {
    use skelcam::models::kernels::{conv2d_cf_hw, conv2d_cf_reference};
    for (kt, stride, t) in [
        (9, 1, 12),
        (9, 2, 12),
        (5, 2, 8),
        (3, 1, 4),
        (9, 4, 8),
        (9, 1, 3),
        (1, 1, 4),
    ] {
        let x = Var::from_tensor(&randn(&[3, 2, t, 5], 21)).unwrap();
        let w = Var::from_tensor(&randn(&[4, 3, kt, 1], 23)).unwrap();
        let proj = randn(&[4, 2, t / stride, 5], 22);
        let geometry = ((stride, 1), ((kt - 1) / 2, 0));
        let ours = conv2d_cf_hw(x.as_tensor(), w.as_tensor(), geometry.0, geometry.1).unwrap();
        let reference =
            conv2d_cf_reference(x.as_tensor(), w.as_tensor(), geometry.0, geometry.1).unwrap();
        assert_eq!(ours.dims(), reference.dims(), "kt {kt} stride {stride}");
        assert!(
            max_abs_diff(&ours, &reference) < 1e-5,
            "kt {kt} stride {stride}"
        );
        let g1 = grads_of(ours, &proj);
        let g2 = grads_of(reference, &proj);
        for (name, v) in [("input", &x), ("weight", &w)] {
            assert!(
                max_abs_diff(g1.get(v).unwrap(), g2.get(v).unwrap()) < 1e-4,
                "{name} gradient, kt {kt} stride {stride}"
            );
        }
    }
}
