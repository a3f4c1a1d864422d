//! The 2-D kernels (im2col convolution with and without bias, padded max-pool) and bit-mask dropout against candle's reference ops on random shapes,
//! forward and backward, and against finite differences.

use crate::common::{flat, grads_of, max_abs_diff, randn};

use candle_core::{DType, Device, Tensor, Var};
use skelcam::models::kernels::{conv2d_cf, conv2d_cf_bias, dropout_bits, max_pool2d};

fn scale(t: &Tensor) -> f32 {
    let v: Vec<f32> = t.abs().unwrap().flatten_all().unwrap().to_vec1().unwrap();
    v.into_iter().fold(1.0, f32::max)
}

/// (cin, cout, k, stride, pad, h, w)
const CONV_CASES: [(usize, usize, usize, usize, usize, usize, usize); 7] = [
    (3, 4, 7, 2, 3, 16, 12),
    (4, 5, 3, 1, 1, 9, 7),
    (5, 3, 3, 2, 1, 8, 8),
    (4, 6, 1, 2, 0, 8, 6),
    (3, 2, 1, 1, 0, 5, 5),
    (2, 3, 3, 1, 1, 1, 1),
    (2, 3, 3, 1, 0, 6, 5),
];

#[test]
fn conv2d_kernel_matches_candle_conv2d_forward_and_both_gradients() {
    for (i, &(cin, cout, k, s, p, h, w)) in CONV_CASES.iter().enumerate() {
        let n = 3;
        let x = Var::from_tensor(&randn(&[n, cin, h, w], 10 + i as u64)).unwrap();
        let wt = Var::from_tensor(&randn(&[cout, cin, k, k], 20 + i as u64)).unwrap();
        let reference = x.as_tensor().conv2d(wt.as_tensor(), p, s, 1, 1).unwrap();
        let ours = conv2d_cf(
            &x.as_tensor().transpose(0, 1).unwrap(),
            wt.as_tensor(),
            s,
            p,
        )
        .unwrap()
        .transpose(0, 1)
        .unwrap();
        assert_eq!(ours.dims(), reference.dims(), "case {i}");
        let tol = 1e-5 * scale(&reference);
        assert!(max_abs_diff(&ours, &reference) < tol, "forward, case {i}");
        let proj = randn(reference.dims(), 30 + i as u64);
        let g_ref = grads_of(reference, &proj);
        let g_our = grads_of(ours, &proj);
        for (name, v) in [("input", &x), ("weight", &wt)] {
            let (a, b) = (g_our.get(v).unwrap(), g_ref.get(v).unwrap());
            assert!(
                max_abs_diff(a, b) < 1e-4 * scale(b),
                "{name} gradient, case {i}"
            );
        }
    }
}

#[test]
fn conv2d_with_bias_matches_conv_plus_bias_forward_and_all_three_gradients() {
    // (cin, cout, (kh, kw), stride, pad, h, w): square kernels, a 1x1, and the ST-GCN's (9x1) temporal
    // conv with stride (2, 1) and padding (4, 0); at stride 1 (Winograd, both ways) over 13 frames, not a
    // whole number of its 3-frame tiles, and a (3x1) one; a 3x3 on a picture wide enough for Winograd; the
    // 9x1 with 128 channels in (nested Winograd forward) and 128 out (nested input gradient); the stride-2
    // 9x1 with 128 channels in (paired-frame Winograd forward) over an odd number of frames.
    let cases = [
        (3, 4, (3, 3), (1, 1), (1, 1), 7, 6),
        (4, 6, (1, 1), (1, 1), (0, 0), 5, 4),
        (5, 3, (9, 1), (2, 1), (4, 0), 12, 5),
        (6, 4, (9, 1), (1, 1), (4, 0), 13, 5),
        (4, 3, (3, 1), (1, 1), (1, 0), 10, 3),
        (3, 4, (3, 3), (1, 1), (1, 1), 8, 30),
        (128, 5, (9, 1), (1, 1), (4, 0), 13, 3),
        (6, 128, (9, 1), (1, 1), (4, 0), 16, 2),
        (128, 5, (9, 1), (2, 1), (4, 0), 21, 3),
    ];
    for (i, &(cin, cout, (kh, kw), s, p, h, w)) in cases.iter().enumerate() {
        let x = Var::from_tensor(&randn(&[cin, 2, h, w], 40 + i as u64)).unwrap();
        let wt = Var::from_tensor(&randn(&[cout, cin, kh, kw], 50 + i as u64)).unwrap();
        let b = Var::from_tensor(&randn(&[cout], 60 + i as u64)).unwrap();
        let ours =
            conv2d_cf_bias(x.as_tensor(), wt.as_tensor(), Some(b.as_tensor()), s, p).unwrap();
        let reference =
            skelcam::models::kernels::conv2d_cf_reference(x.as_tensor(), wt.as_tensor(), s, p)
                .unwrap()
                .broadcast_add(&b.as_tensor().reshape((cout, 1, 1, 1)).unwrap())
                .unwrap();
        assert_eq!(ours.dims(), reference.dims(), "case {i}");
        assert!(
            max_abs_diff(&ours, &reference) < 1e-5 * scale(&reference),
            "forward, case {i}"
        );
        let proj = randn(reference.dims(), 70 + i as u64);
        let (g_our, g_ref) = (grads_of(ours, &proj), grads_of(reference, &proj));
        for (name, v) in [("input", &x), ("weight", &wt), ("bias", &b)] {
            let (a, r) = (g_our.get(v).unwrap(), g_ref.get(v).unwrap());
            assert!(
                max_abs_diff(a, r) < 1e-4 * scale(r),
                "{name} gradient, case {i}"
            );
        }
    }
    let x = randn(&[3, 1, 4, 4], 1);
    let e = conv2d_cf_bias(
        &x,
        &randn(&[2, 3, 1, 1], 2),
        Some(&randn(&[3], 3)),
        (1, 1),
        (0, 0),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("bias"), "{e}");
}

#[test]
fn conv2d_on_an_input_autograd_does_not_track_gives_the_same_weight_gradient() {
    // The first convolution of a network sees plain data: its input gradient is skipped, its weight
    // gradient must be the one computed with a tracked input.
    let (cin, cout, k, s, p, h, w) = CONV_CASES[0];
    let x = randn(&[cin, 2, h, w], 31);
    let wt = Var::from_tensor(&randn(&[cout, cin, k, k], 32)).unwrap();
    let loss = |x: &Tensor| {
        let y = conv2d_cf(x, wt.as_tensor(), s, p).unwrap();
        (&y * &randn(y.dims(), 33)).unwrap().sum_all().unwrap()
    };
    let plain = loss(&x).backward().unwrap();
    let xv = Var::from_tensor(&x).unwrap();
    let tracked = loss(xv.as_tensor()).backward().unwrap();
    assert!(plain.get(&x).is_none());
    assert!(tracked.get(xv.as_tensor()).is_some());
    assert_eq!(
        max_abs_diff(
            plain.get(wt.as_tensor()).unwrap(),
            tracked.get(wt.as_tensor()).unwrap()
        ),
        0.0
    );
}

#[test]
fn conv2d_kernel_gradients_match_finite_differences() {
    let (cin, cout, k, s, p, h, w) = (2, 3, 3, 2, 1, 7, 6);
    let x0 = randn(&[cin, 2, h, w], 1).to_dtype(DType::F32).unwrap();
    let w0 = randn(&[cout, cin, k, k], 2);
    let x = Var::from_tensor(&x0).unwrap();
    let wt = Var::from_tensor(&w0).unwrap();
    let proj = randn(&[cout, 2, 4, 3], 3);
    let loss = |x: &Tensor, wt: &Tensor| -> Tensor {
        (conv2d_cf(x, wt, s, p).unwrap().tanh().unwrap() * &proj)
            .unwrap()
            .sum_all()
            .unwrap()
    };
    let grads = loss(x.as_tensor(), wt.as_tensor()).backward().unwrap();
    let eps = 1e-2f32;
    for (which, base, grad) in [
        (0, &x0, grads.get(&x).unwrap().clone()),
        (1, &w0, grads.get(&wt).unwrap().clone()),
    ] {
        let vals: Vec<f32> = base.flatten_all().unwrap().to_vec1().unwrap();
        let g: Vec<f32> = grad.flatten_all().unwrap().to_vec1().unwrap();
        for idx in (0..vals.len()).step_by(5) {
            let eval = |d: f32| -> f32 {
                let mut v = vals.clone();
                v[idx] += d;
                let t = Tensor::from_vec(v, base.dims(), &Device::Cpu).unwrap();
                let l = if which == 0 {
                    loss(&t, &w0)
                } else {
                    loss(&x0, &t)
                };
                l.to_scalar::<f32>().unwrap()
            };
            let fd = (eval(eps) - eval(-eps)) / (2.0 * eps);
            assert!(
                (fd - g[idx]).abs() < 2e-2 * (1.0 + fd.abs()),
                "{} gradient at {idx}: analytic {} vs finite difference {fd}",
                if which == 0 { "input" } else { "weight" },
                g[idx]
            );
        }
    }
}

#[test]
fn conv2d_rejects_a_kernel_larger_than_the_padded_input() {
    let x = randn(&[1, 1, 2, 2], 1);
    let e = conv2d_cf(&x, &randn(&[1, 1, 5, 5], 2), 1, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not fit"), "{e}");
}

#[test]
fn max_pool_matches_padded_candle_pool_and_routes_gradients_to_the_maxima() {
    for (h, w) in [(8, 8), (7, 9), (4, 6)] {
        let x = Var::from_tensor(&randn(&[2, 3, h, w], h as u64)).unwrap();
        let ours = max_pool2d(x.as_tensor(), 3, 2, 1).unwrap();
        // Reference: pad with a very negative value (PyTorch pads with −∞), then candle's unpadded pool.
        let neg = |shape: &[usize]| {
            (Tensor::ones(shape, DType::F32, &Device::Cpu).unwrap() * -1e9).unwrap()
        };
        let xp = Tensor::cat(
            &[&neg(&[2, 3, h, 1]), x.as_tensor(), &neg(&[2, 3, h, 1])],
            3,
        )
        .unwrap();
        let xp = Tensor::cat(&[&neg(&[2, 3, 1, w + 2]), &xp, &neg(&[2, 3, 1, w + 2])], 2).unwrap();
        let reference = xp.max_pool2d_with_stride(3, 2).unwrap();
        let expect_hw = ((h - 1) / 2 + 1, (w - 1) / 2 + 1);
        let candle_path =
            skelcam::models::kernels::maxpool::reference_max_pool2d(x.as_tensor(), 3, 2, 1)
                .unwrap();
        assert_eq!(
            max_abs_diff(&ours, &candle_path),
            0.0,
            "the SKELCAM_KERNELS=candle path agrees"
        );
        assert_eq!(ours.dims(), &[2, 3, expect_hw.0, expect_hw.1]);
        assert_eq!(
            max_abs_diff(
                &ours,
                &reference
                    .narrow(2, 0, expect_hw.0)
                    .unwrap()
                    .narrow(3, 0, expect_hw.1)
                    .unwrap()
            ),
            0.0
        );
        // Piecewise linear: with distinct values the finite difference of a weighted sum is exact.
        let proj = randn(ours.dims(), 99);
        let grads = (&ours * &proj)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g: Vec<f32> = grads
            .get(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let base: Vec<f32> = x.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let f = |v: Vec<f32>| -> f32 {
            let t = Tensor::from_vec(v, x.as_tensor().dims(), &Device::Cpu).unwrap();
            (max_pool2d(&t, 3, 2, 1).unwrap() * &proj)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar()
                .unwrap()
        };
        for idx in (0..base.len()).step_by(7) {
            let (mut up, mut down) = (base.clone(), base.clone());
            up[idx] += 1e-3;
            down[idx] -= 1e-3;
            let fd = (f(up) - f(down)) / 2e-3;
            assert!(
                (fd - g[idx]).abs() < 1e-2,
                "{h}x{w} at {idx}: {} vs {fd}",
                g[idx]
            );
        }
    }
}

#[test]
fn max_pool_gives_a_tied_window_s_gradient_to_its_first_maximum_only() {
    // A constant 4×4 plane: every 3×3/stride-2/pad-1 window is a tie, as PyTorch the first cell wins.
    let x =
        Var::from_tensor(&Tensor::ones((1, 1, 4, 4), DType::F32, &Device::Cpu).unwrap()).unwrap();
    let y = max_pool2d(x.as_tensor(), 3, 2, 1).unwrap();
    assert_eq!(y.dims(), &[1, 1, 2, 2]);
    let proj = Tensor::new(&[[[[1f32, 2.], [3., 4.]]]], &Device::Cpu).unwrap();
    let grads = (&y * &proj).unwrap().sum_all().unwrap().backward().unwrap();
    let g: Vec<f32> = grads
        .get(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    // Windows start at rows/columns 0 (clipped padding) and 1.
    let mut expect = vec![0f32; 16];
    (expect[0], expect[1], expect[4], expect[5]) = (1.0, 2.0, 3.0, 4.0);
    assert_eq!(g, expect);
}

/// Batch norm in training mode written with plain candle ops (biased variance), optionally with ReLU.
fn reference_bn(x: &Tensor, w: &Tensor, b: &Tensor, relu: bool) -> Tensor {
    let c = x.dim(0).unwrap();
    let x2 = x.reshape((c, ())).unwrap();
    let mean = x2.mean_keepdim(1).unwrap();
    let xc = x2.broadcast_sub(&mean).unwrap();
    let var = xc.sqr().unwrap().mean_keepdim(1).unwrap();
    let y = xc
        .broadcast_div(&(var + 1e-5).unwrap().sqrt().unwrap())
        .unwrap()
        .broadcast_mul(&w.reshape((c, 1)).unwrap())
        .unwrap()
        .broadcast_add(&b.reshape((c, 1)).unwrap())
        .unwrap();
    let y = if relu { y.relu().unwrap() } else { y };
    y.reshape(x.shape()).unwrap()
}

#[test]
fn fused_batch_norm_matches_candle_ops_forward_and_gradients() {
    use skelcam::models::kernels::batch_norm_train;
    for relu in [false, true] {
        let x = Var::from_tensor(&randn(&[4, 3, 5, 2], 41)).unwrap();
        let w = Var::from_tensor(&randn(&[4], 42).affine(0.5, 1.0).unwrap()).unwrap();
        let b = Var::from_tensor(&randn(&[4], 43)).unwrap();
        let (ours, mean, var) =
            batch_norm_train(x.as_tensor(), w.as_tensor(), b.as_tensor(), 1e-5, relu).unwrap();
        let reference = reference_bn(x.as_tensor(), w.as_tensor(), b.as_tensor(), relu);
        assert!(
            max_abs_diff(&ours, &reference) < 1e-5,
            "forward, relu {relu}"
        );
        let xm: Vec<f32> = x
            .as_tensor()
            .reshape((4, 30))
            .unwrap()
            .mean(1)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!(mean.iter().zip(&xm).all(|(a, b)| (a - b).abs() < 1e-6));
        assert!(var.iter().all(|v| *v > 0.0));
        let proj = randn(&[4, 3, 5, 2], 44);
        let g1 = grads_of(ours, &proj);
        let g2 = grads_of(reference, &proj);
        for (name, v) in [("x", &x), ("weight", &w), ("bias", &b)] {
            let (a, r) = (g1.get(v).unwrap(), g2.get(v).unwrap());
            assert!(
                max_abs_diff(a, r) < 1e-4 * scale(r),
                "{name} gradient, relu {relu}"
            );
        }
    }
}

#[test]
fn channel_affine_matches_candle_ops_forward_and_gradients() {
    use skelcam::models::kernels::batchnorm::channel_affine;
    for relu in [false, true] {
        let x = Var::from_tensor(&randn(&[4, 3, 5, 2], 51)).unwrap();
        let a = Var::from_tensor(&randn(&[4], 52)).unwrap();
        let b = Var::from_tensor(&randn(&[4], 53)).unwrap();
        let ours = channel_affine(x.as_tensor(), a.as_tensor(), b.as_tensor(), relu).unwrap();
        let lin = x
            .as_tensor()
            .broadcast_mul(&a.as_tensor().reshape((4, 1, 1, 1)).unwrap())
            .unwrap()
            .broadcast_add(&b.as_tensor().reshape((4, 1, 1, 1)).unwrap())
            .unwrap();
        let reference = if relu { lin.relu().unwrap() } else { lin };
        assert!(
            max_abs_diff(&ours, &reference) < 1e-6,
            "forward, relu {relu}"
        );
        let proj = randn(&[4, 3, 5, 2], 54);
        let g1 = grads_of(ours, &proj);
        let g2 = grads_of(reference, &proj);
        for (name, v) in [("x", &x), ("scale", &a), ("shift", &b)] {
            let (p, q) = (g1.get(v).unwrap(), g2.get(v).unwrap());
            assert!(
                max_abs_diff(p, q) < 1e-5 * scale(q),
                "{name} gradient, relu {relu}"
            );
        }
    }
}

#[test]
fn add_relu_matches_candle_ops_forward_and_gradients() {
    use skelcam::models::kernels::add_relu;
    let a = Var::from_tensor(&randn(&[3, 4, 5, 6], 61)).unwrap();
    let b = Var::from_tensor(&randn(&[3, 4, 5, 6], 62)).unwrap();
    let proj = randn(&[3, 4, 5, 6], 63);
    let ours = add_relu(a.as_tensor(), b.as_tensor()).unwrap();
    let reference = (a.as_tensor() + b.as_tensor()).unwrap().relu().unwrap();
    assert_eq!(max_abs_diff(&ours, &reference), 0.0);
    let (g1, g2) = (grads_of(ours, &proj), grads_of(reference, &proj));
    for (name, v) in [("a", &a), ("b", &b)] {
        assert!(
            max_abs_diff(g1.get(v).unwrap(), g2.get(v).unwrap()) < 1e-6,
            "{name} gradient"
        );
    }
    let e = add_relu(a.as_tensor(), &randn(&[3, 4, 5, 5], 64)).unwrap_err();
    assert!(e.to_string().contains("differ"), "{e}");
}

#[test]
fn inference_residual_join_is_bit_for_bit_the_separate_ops() {
    // Eval batch norm of z, + skip (as it is or with its own batch norm), ReLU: one pass under inference.
    use skelcam::models::kernels::batchnorm::channel_affine;
    use skelcam::models::kernels::{add_relu, eval_bn_add_relu};
    let (z, skip) = (randn(&[6, 3, 7, 5], 71), randn(&[6, 3, 7, 5], 72));
    let f: Vec<Tensor> = (73..77).map(|seed| randn(&[6], seed)).collect();
    let bn = |v: &Tensor, a: &Tensor, b: &Tensor| channel_affine(v, a, b, false).unwrap();
    for normed in [false, true] {
        let skip_ref = if normed {
            bn(&skip, &f[2], &f[3])
        } else {
            skip.clone()
        };
        let reference = flat(&add_relu(&bn(&z, &f[0], &f[1]), &skip_ref).unwrap());
        let fused = eval_bn_add_relu(&z, (&f[0], &f[1]), &skip, normed.then_some((&f[2], &f[3])));
        assert!(reference.iter().any(|&v| v > 0.0) && reference.contains(&0.0));
        crate::common::assert_same_bits(
            &flat(&fused.unwrap()),
            &reference,
            &format!("normed skip {normed}"),
        );
    }
    let e = eval_bn_add_relu(&z, (&f[0], &f[1]), &randn(&[6, 3, 7, 4], 77), None).unwrap_err();
    assert!(e.to_string().contains("differ"), "{e}");
    let e = eval_bn_add_relu(&z, (&f[0], &randn(&[5], 78)), &skip, None).unwrap_err();
    assert!(e.to_string().contains("channels"), "{e}");
}

#[test]
fn dropout_bits_scales_the_kept_elements_drops_the_share_asked_for_and_routes_gradients_alike() {
    let n = 200_000;
    let x = Var::from_tensor(&randn(&[4, n / 4], 5)).unwrap();
    for (p, seed) in [(0.5f32, 11u64), (0.2, 12)] {
        let y = dropout_bits(x.as_tensor(), p, seed).unwrap();
        let (xv, yv) = (flat(x.as_tensor()), flat(&y));
        let scale = 1.0 / (1.0 - p);
        let dropped = yv.iter().filter(|&&v| v == 0.0).count() as f32 / n as f32;
        assert!((dropped - p).abs() < 0.01, "p {p}: dropped {dropped}");
        for (&a, &b) in xv.iter().zip(&yv) {
            assert!(
                b == 0.0 || (b - a * scale).abs() <= 1e-6 * a.abs(),
                "{a} -> {b}"
            );
        }
        // ∂/∂x Σ proj·y = proj · scale where kept, 0 where dropped.
        let proj = randn(y.dims(), 6);
        let g = grads_of(y.clone(), &proj);
        let (gv, pv) = (flat(g.get(&x).unwrap()), flat(&proj));
        for ((&g, &p), &yk) in gv.iter().zip(&pv).zip(&yv) {
            let want = if yk == 0.0 { 0.0 } else { p * scale };
            assert!(
                (g - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{g} vs {want}"
            );
        }
    }
}

#[test]
fn dropout_bits_mask_follows_the_seed_not_the_thread_count() {
    let x = randn(&[3, 70_001], 7);
    let in_pool = |threads: usize, seed: u64| -> Vec<f32> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| flat(&dropout_bits(&x, 0.5, seed).unwrap()))
    };
    let one = in_pool(1, 3);
    assert_eq!(one, in_pool(4, 3), "same seed, different thread counts");
    assert_ne!(one, in_pool(1, 4), "different seeds gave the same mask");
    for p in [0.0, 1.0, f32::NAN] {
        let e = dropout_bits(&x, p, 1).unwrap_err().to_string();
        assert!(e.contains("not in (0, 1)"), "{e}");
    }
}

#[test]
fn batch_norm_with_dropout_in_one_node_equals_batch_norm_then_dropout() {
    use skelcam::models::kernels::batchnorm::{batch_norm_train, batch_norm_train_dropout};
    use skelcam::models::kernels::dropout::DropMask;
    for relu in [false, true] {
        let x = Var::from_tensor(&randn(&[5, 3, 40, 7], 81)).unwrap();
        let w = Var::from_tensor(&randn(&[5], 82)).unwrap();
        let b = Var::from_tensor(&randn(&[5], 83)).unwrap();
        let (xt, wt, bt) = (x.as_tensor(), w.as_tensor(), b.as_tensor());
        let mask = DropMask::draw(xt.elem_count(), 0.5, 9).unwrap();
        let (fused, m1, v1) = batch_norm_train_dropout(xt, wt, bt, 1e-5, relu, Some(mask)).unwrap();
        let (plain, m2, v2) = batch_norm_train(xt, wt, bt, 1e-5, relu).unwrap();
        let separate = dropout_bits(&plain, 0.5, 9).unwrap();
        assert_eq!(flat(&fused), flat(&separate), "forward, relu {relu}");
        assert_eq!((m1, v1), (m2, v2), "batch statistics, relu {relu}");
        let proj = randn(fused.dims(), 84);
        let (g1, g2) = (grads_of(fused, &proj), grads_of(separate, &proj));
        for (name, v) in [("input", &x), ("weight", &w), ("bias", &b)] {
            let (a, r) = (g1.get(v).unwrap(), g2.get(v).unwrap());
            assert!(
                max_abs_diff(a, r) < 1e-5 * scale(r),
                "{name} gradient, relu {relu}"
            );
        }
    }
    let x = randn(&[2, 10], 1);
    let short = DropMask::draw(5, 0.5, 1).unwrap();
    let e = batch_norm_train_dropout(
        &x,
        &randn(&[2], 2),
        &randn(&[2], 3),
        1e-5,
        false,
        Some(short),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("dropout mask"), "{e}");
}
