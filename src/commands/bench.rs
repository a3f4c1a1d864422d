//! `skelcam bench`: throughput of the ST-GCN and ResNet-18 cases (train step = forward + backward + SGD
//! step; inference + CAM), as samples/s, achieved GFLOP/s (FLOPs counted from the layer shapes) and
//! peak RSS. A benchmark, not a test: compare runs made in the same invocation on the same machine.

use crate::data::Layout;
use crate::models::{init, Ctx, Resnet, ResnetConfig, Stgcn, StgcnConfig};
use crate::rng::{normal, rng_for, streams};
use crate::train::optim::{OptimKind, Optimizer};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde_json::json;
use std::time::Instant;

/// Which cases `bench` times, and how.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Case names (default: all).
    pub cases: Option<Vec<String>>,
    /// Skeleton model preset.
    pub model: String,
    /// Image model preset.
    pub image_model: String,
    pub batch: usize,
    /// Timed iterations per case (after one warm-up).
    pub iters: usize,
    /// One JSON object per case on stdout.
    pub json: bool,
}

#[derive(Clone, Copy)]
enum Net {
    /// ST-GCN on the NTU-25 graph, 60 classes: (frames, persons).
    Stgcn(usize, usize),
    /// ResNet-18, 2 classes: image size.
    Resnet(usize),
}

struct Case {
    name: &'static str,
    train: bool,
    net: Net,
}

const CASES: &[Case] = &[
    Case {
        name: "stgcn_train",
        train: true,
        net: Net::Stgcn(64, 1),
    },
    Case {
        name: "stgcn_infer_cam",
        train: false,
        net: Net::Stgcn(64, 1),
    },
    Case {
        name: "stgcn_train_T300_M2",
        train: true,
        net: Net::Stgcn(300, 2),
    },
    Case {
        name: "resnet18_train_64",
        train: true,
        net: Net::Resnet(64),
    },
    Case {
        name: "resnet18_train_112",
        train: true,
        net: Net::Resnet(112),
    },
    Case {
        name: "resnet18_train_224",
        train: true,
        net: Net::Resnet(224),
    },
    Case {
        name: "resnet18_infer_cam_224",
        train: false,
        net: Net::Resnet(224),
    },
];

fn random_input(shape: &[usize], dev: &Device) -> Result<Tensor> {
    let mut r = rng_for(1, streams::BENCH_INPUT);
    let n: usize = shape.iter().product();
    Ok(Tensor::from_vec(
        (0..n).map(|_| normal(&mut r)).collect::<Vec<f32>>(),
        shape,
        dev,
    )?)
}

/// A model behind the two operations the benchmark times.
enum Model {
    Stgcn(Stgcn),
    Resnet(Resnet),
}

impl Model {
    fn build(
        net: Net,
        a: &BenchOptions,
        vb: VarBuilder,
    ) -> Result<(Model, f64, Vec<usize>, usize)> {
        Ok(match net {
            Net::Stgcn(frames, persons) => {
                let layout = Layout::resolve("ntu25")?;
                let cfg = StgcnConfig::preset(&a.model, 3, 60).map_err(Error::usage)?;
                let m = Stgcn::new(&cfg, 25, &layout.edges, layout.center, vb)?;
                let flops = cfg.forward_flops(25, frames, persons, 3);
                (
                    Model::Stgcn(m),
                    flops,
                    vec![a.batch, 3, frames, 25, persons],
                    60,
                )
            }
            Net::Resnet(size) => {
                let cfg = ResnetConfig::preset(&a.image_model, 2).map_err(Error::usage)?;
                let flops = cfg.forward_flops(size);
                (
                    Model::Resnet(Resnet::new(&cfg, vb)?),
                    flops,
                    vec![a.batch, 3, size, size],
                    2,
                )
            }
        })
    }

    fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> candle_core::Result<Tensor> {
        match self {
            Model::Stgcn(m) => m.forward(x, ctx),
            Model::Resnet(m) => m.forward(x, ctx),
        }
    }

    /// Inference with the class map of the predicted class for every sample.
    fn infer_cam(&self, x: &Tensor) -> Result<()> {
        let (f, logits, w) = match self {
            Model::Stgcn(m) => {
                let f = m.features(x, &mut Ctx::eval())?;
                (f.clone(), m.head(&f)?, m.head_params()?.0)
            }
            Model::Resnet(m) => {
                let f = m.features(x, &mut Ctx::eval())?;
                (f.unsqueeze(4)?, m.head(&f)?, m.head_params().0)
            }
        };
        let cls: Vec<usize> = logits
            .argmax(1)?
            .to_vec1::<u32>()?
            .into_iter()
            .map(|c| c as usize)
            .collect();
        std::hint::black_box(crate::models::ragcn::class_maps(&f, &w, &cls)?);
        Ok(())
    }
}

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

pub fn bench(a: &BenchOptions) -> Result<()> {
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
    let dev = Device::Cpu;
    for case in wanted {
        peak_rss_mib(true);
        let vm = VarMap::new();
        let (net, fwd_flops, shape, classes) =
            Model::build(case.net, a, VarBuilder::from_varmap(&vm, DType::F32, &dev))?;
        init::seeded_init(&vm, 1)?;
        let mut opt = Optimizer::new(OptimKind::Sgd, init::trainable(&vm), 0.9, 1e-4);
        let n = a.batch;
        let x = random_input(&shape, &dev)?;
        let y = Tensor::from_vec(
            (0..n as u32)
                .map(|i| i % classes as u32)
                .collect::<Vec<u32>>(),
            n,
            &dev,
        )?;
        let mut step = |ctx_rng: &mut rand::rngs::StdRng| -> Result<()> {
            if case.train {
                let logits = net.forward(&x, &mut Ctx::train(ctx_rng))?;
                let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
                opt.step(&loss.backward()?, 0.01)?;
            } else {
                net.infer_cam(&x)?;
            }
            Ok(())
        };
        let long = matches!(case.net, Net::Stgcn(f, _) if f > 100);
        let iters = if long { a.iters.clamp(1, 2) } else { a.iters };
        let mut rng = rng_for(1, streams::BENCH_LABELS);
        if !long {
            step(&mut rng)?; // warm-up
        }
        let started = Instant::now();
        for _ in 0..iters {
            step(&mut rng)?;
        }
        let secs = started.elapsed().as_secs_f64();
        let per_sec = (iters * n) as f64 / secs;
        let flops = fwd_flops * if case.train { 3.0 } else { 1.0 };
        let gflops = flops * per_sec / 1e9;
        let rss = peak_rss_mib(false);
        let row = json!({
            "case": case.name, "model": match case.net { Net::Stgcn(..) => &a.model, Net::Resnet(_) => &a.image_model },
            "kernels": if crate::models::fast_kernels() { "skelcam" } else { "candle" }, "batch": n, "iters": iters,
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
