//! `skelcam skeleton info`: the layer table and parameter count of a model preset on a layout, or of a
//! run's own (trained or imported) network together with the input it expects.

use crate::data::Layout;
use crate::models::{init, SkeletonRunConfig, Stgcn, StgcnConfig};
use crate::run_dir::RunDir;
use crate::{Error, Result};
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use serde_json::json;
use std::path::PathBuf;

/// Which model `info` describes.
#[derive(Debug, Clone)]
pub struct InfoOptions {
    /// A run directory; otherwise the preset below.
    pub run: Option<PathBuf>,
    pub model: String,
    pub layout: String,
    pub classes: usize,
    pub channels: usize,
    pub json: bool,
}

pub fn info(a: &InfoOptions) -> Result<()> {
    let (name, cfg, layout, run) = match &a.run {
        Some(path) => {
            let run: SkeletonRunConfig = RunDir::open(path, "a skeleton")?.read_config()?;
            let name = match &run.imported {
                Some(i) => format!(
                    "{} (imported from {:?}: {})",
                    path.display(),
                    i.source,
                    i.weights
                ),
                None => format!("{} ({})", path.display(), run.train.model),
            };
            (name, run.model.clone(), run.layout.clone(), Some(run))
        }
        None => {
            let cfg = StgcnConfig::preset(&a.model, a.channels, a.classes).map_err(Error::usage)?;
            (a.model.clone(), cfg, Layout::resolve(&a.layout)?, None)
        }
    };
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    Stgcn::new(&cfg, layout.num_joints(), &layout.edges, layout.center, vb)?;
    let params = init::trainable(&varmap);
    let total = init::num_trainable(&varmap);
    let mut blocks = Vec::new();
    let mut cin = cfg.in_channels;
    for &(cout, stride) in &cfg.blocks {
        blocks.push(json!({"in": cin, "out": cout, "stride": stride}));
        cin = cout;
    }
    let input = run.as_ref().map(|r| {
        json!({
            "frames": r.train.frames, "length_mode": r.train.length_mode, "persons": r.persons,
            "motion_channels": r.train.motion, "modality": r.train.modality, "preprocess": r.train.preprocess,
        })
    });
    let partitions = cfg
        .adjacency
        .as_ref()
        .map(|a| a.len())
        .unwrap_or(match cfg.partition {
            crate::graph::Partition::Uniform => 1,
            crate::graph::Partition::Distance => 2,
            crate::graph::Partition::Spatial => 3,
        });
    let data_bn = match cfg.data_bn_persons {
        Some(m) => format!("over M·V·C ({m} persons)"),
        None => "over V·C, persons folded into the batch".to_string(),
    };
    let adjacency = if cfg.adjacency.is_some() {
        "from the checkpoint"
    } else {
        "built from the layout"
    };
    let offset_decay = run
        .as_ref()
        .filter(|_| cfg.adaptive)
        .and_then(|r| r.train.offset_decay());
    // Runs written before the offsets had their own decay say nothing of it.
    let legacy_decay = run
        .as_ref()
        .is_some_and(|r| r.train.graph_offset_decay.is_none());
    if a.json {
        let layers: Vec<_> = params
            .iter()
            .map(|(n, v)| json!({"name": n, "shape": v.dims(), "params": v.elem_count()}))
            .collect();
        let out = json!({
            "model": name, "layout": layout.name, "joints": layout.num_joints(), "classes": cfg.num_class,
            "channels": cfg.in_channels, "blocks": cfg.blocks, "block_table": blocks,
            "temporal_stride": cfg.temporal_stride(), "partitions": partitions, "strategy": cfg.partition,
            "adjacency": adjacency, "data_bn": data_bn, "edge_importance": cfg.edge_importance,
            "adaptive_graph": cfg.adaptive, "graph_offset_decay": offset_decay, "input": input, "params": total, "layers": layers,
            "ensemble": run.as_ref().and_then(|r| r.ensemble.as_ref()),
        });
        println!("{out}");
        return Ok(());
    }
    if let Some(e) = run.as_ref().and_then(|r| r.ensemble.as_ref()) {
        println!(
            "an ensemble of {} runs; logits and CAMs are their weighted sum:",
            e.members.len()
        );
        for (i, m) in e.members.iter().enumerate() {
            println!(
                "  member {i}: {} × {}, {} input channels, {}",
                m.weight,
                e.label(i),
                m.model.in_channels,
                m.run
            );
        }
        println!("member 0:");
    }
    println!(
        "{name} on {} ({} joints), {} input channels, {} classes",
        layout.name,
        layout.num_joints(),
        cfg.in_channels,
        cfg.num_class
    );
    println!(
        "graph: {partitions} partitions ({:?}), adjacency {adjacency}, edge importance {}, learnt offset {}; data batch norm {data_bn}",
        cfg.partition,
        if cfg.edge_importance { "learned" } else { "off" },
        match offset_decay {
            Some(d) if legacy_decay => format!("on (weight decay {d}, as the other weights)"),
            Some(d) => format!("on (weight decay {d})"),
            None if cfg.adaptive => "on".to_string(),
            None => "off".to_string(),
        }
    );
    for (i, b) in blocks.iter().enumerate() {
        println!(
            "block {i:>2}: {:>4} → {:<4} channels, temporal stride {}",
            b["in"], b["out"], b["stride"]
        );
    }
    if let Some(r) = &run {
        println!(
            "input: T = {} ({:?}), M = {}, {} channels ({}{}), preprocessing {:?}",
            r.train.frames,
            r.train.length_mode,
            r.persons,
            cfg.in_channels,
            r.train.modality.name(),
            if r.train.motion && !r.train.modality.is_motion() {
                " and its motion"
            } else {
                ""
            },
            r.train.preprocess
        );
    }
    println!("{:<48} {:>18} {:>10}", "parameter", "shape", "count");
    for (n, v) in &params {
        println!(
            "{n:<48} {:>18} {:>10}",
            format!("{:?}", v.dims()),
            v.elem_count()
        );
    }
    println!("trainable parameters: {total}");
    Ok(())
}
