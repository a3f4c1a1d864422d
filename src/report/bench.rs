//! `skelcam bench`: throughput of the ST-GCN cases of the performance issue (train step = forward + backward
//! + SGD step; inference + CAM), as samples/s, achieved GFLOP/s (FLOPs counted from the layer shapes) and
//! peak RSS. A benchmark, not a test: compare runs made in the same invocation on the same machine.

use crate::cli::BenchArgs;
use crate::data::Layout;
use crate::models::{init, Ctx, Stgcn, StgcnConfig};
use crate::rng::{normal, rng_for};
use crate::train::optim::{OptimKind, Optimizer};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde_json::json;
use std::time::Instant;

struct Case {
    name: &'static str,
    train: bool,
    frames: usize,
    persons: usize,
}

const CASES: &[Case] = &[
    Case {
        name: "stgcn_train",
        train: true,
        frames: 64,
        persons: 1,
    },
    Case {
        name: "stgcn_infer_cam",
        train: false,
        frames: 64,
        persons: 1,
    },
    Case {
        name: "stgcn_train_T300_M2",
        train: true,
        frames: 300,
        persons: 2,
    },
];

/// Peak resident memory of this process in MiB, after resetting the peak when `reset`.
fn peak_rss_mib(reset: bool) -> Option<f64> {
    if reset {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<f64>()
        .ok()
        .map(|kb| kb / 1024.0)
}

pub fn bench(a: &BenchArgs) -> Result<()> {
    let wanted: Vec<&Case> = match &a.cases {
        Some(list) => list
            .iter()
            .map(|n| {
                CASES.iter().find(|c| c.name == n).ok_or_else(|| {
                    Error::usage(format!(
                        "unknown case {n}: {}",
                        CASES.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
                    ))
                })
            })
            .collect::<Result<_>>()?,
        None => CASES.iter().collect(),
    };
    let layout = Layout::resolve("ntu25")?;
    let cfg = StgcnConfig::preset(&a.model, 3, 60).map_err(Error::usage)?;
    let dev = Device::Cpu;
    for case in wanted {
        peak_rss_mib(true);
        let vm = VarMap::new();
        let net = Stgcn::new(
            &cfg,
            25,
            &layout.edges,
            layout.center,
            VarBuilder::from_varmap(&vm, DType::F32, &dev),
        )?;
        init::seeded_init(&vm, 1)?;
        let mut opt = Optimizer::new(OptimKind::Sgd, init::trainable(&vm), 0.9, 1e-4);
        let n = a.batch;
        let mut r = rng_for(1, 77);
        let shape = (n, 3, case.frames, 25, case.persons);
        let x = Tensor::from_vec(
            (0..n * 3 * case.frames * 25 * case.persons)
                .map(|_| normal(&mut r))
                .collect::<Vec<f32>>(),
            shape,
            &dev,
        )?;
        let y = Tensor::from_vec((0..n as u32).map(|i| i % 60).collect::<Vec<u32>>(), n, &dev)?;
        let (w, _) = net.head_params()?;
        let mut step = |ctx_rng: &mut rand::rngs::StdRng| -> Result<()> {
            if case.train {
                let logits = net.forward(&x, &mut Ctx::train(ctx_rng))?;
                let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
                opt.step(&loss.backward()?, 0.01)?;
            } else {
                let f = net.features(&x, &mut Ctx::eval())?;
                let logits = net.head(&f)?;
                let cls: Vec<usize> = logits
                    .argmax(1)?
                    .to_vec1::<u32>()?
                    .into_iter()
                    .map(|c| c as usize)
                    .collect();
                let cam = crate::models::ragcn::class_maps(&f, &w, &cls)?;
                std::hint::black_box(cam);
            }
            Ok(())
        };
        let iters = if case.frames > 100 {
            a.iters.min(2).max(1)
        } else {
            a.iters
        };
        let mut rng = rng_for(1, 78);
        if case.frames <= 100 {
            step(&mut rng)?; // warm-up
        }
        let started = Instant::now();
        for _ in 0..iters {
            step(&mut rng)?;
        }
        let secs = started.elapsed().as_secs_f64();
        let per_sec = (iters * n) as f64 / secs;
        let fwd = cfg.forward_flops(25, case.frames, case.persons, 3);
        let flops = fwd * if case.train { 3.0 } else { 1.0 };
        let gflops = flops * per_sec / 1e9;
        let rss = peak_rss_mib(false);
        let row = json!({
            "case": case.name, "model": a.model, "batch": n, "iters": iters,
            "samples_per_sec": per_sec, "gflops": gflops, "peak_rss_mib": rss,
            "threads": candle_core::utils::get_num_threads(),
        });
        if a.json {
            println!("{row}");
        } else {
            println!(
                "{:<22} {:>8.2} samples/s  {:>7.1} GFLOP/s  peak RSS {:>7.0} MiB  ({} x batch {})",
                case.name,
                per_sec,
                gflops,
                rss.unwrap_or(f64::NAN),
                iters,
                n
            );
        }
    }
    Ok(())
}
