//! ST-GCN checkpoints of other tools (the official ST-GCN code, pyskl, mmaction2) as skelcam's ST-GCN: key
//! names mapped onto the official ones skelcam uses, and the architecture inferred from the shapes (input
//! channels, partitions, every block's channels, classes, data batch norm over V·C or M·V·C, the
//! checkpoint's own adjacency). Anything that cannot be mapped is refused, naming the key and both shapes.

use super::stgcn::StgcnConfig;
use crate::graph::Partition;
use crate::{Error, Result};
use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Which tool wrote the checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Decide from the key names.
    Auto,
    /// The official ST-GCN code (st-gcn, mmskeleton): `st_gcn_networks.i.*`, `A`, `edge_importance.i`, `fcn`.
    Stgcn,
    /// pyskl: `backbone.gcn.i.*` with `A` and `PA` in every block, `cls_head.fc_cls`.
    Pyskl,
    /// mmaction2: pyskl's backbone, `cls_head.fc`.
    Mmaction2,
}

/// A checkpoint turned into skelcam's ST-GCN.
pub struct Imported {
    pub source: Source,
    pub config: StgcnConfig,
    /// Every parameter and statistic under skelcam's (the official) names.
    pub tensors: HashMap<String, Tensor>,
    /// Number of joints V the weights are for.
    pub joints: usize,
    /// Whether the adjacency came from the file (else it is rebuilt from the layout).
    pub adjacency_from_file: bool,
    /// Keys that were dropped (counters such as `num_batches_tracked`).
    pub ignored: Vec<String>,
}

/// Wrappers a state dict may carry when flattened into safetensors keys.
const WRAPPERS: [&str; 3] = ["module.", "state_dict.", "model."];

/// Keys without `module.` / `state_dict.` / `model.` prefixes, as f32.
fn unwrap_keys(
    tensors: HashMap<String, Tensor>,
    path: &Path,
) -> Result<(BTreeMap<String, Tensor>, Vec<String>)> {
    let mut out = BTreeMap::new();
    let mut ignored = Vec::new();
    for (k, t) in tensors {
        let mut key = k.as_str();
        while let Some(rest) = WRAPPERS.iter().find_map(|w| key.strip_prefix(w)) {
            key = rest;
        }
        if key.ends_with("num_batches_tracked") {
            ignored.push(k.clone());
            continue;
        }
        let t = match t.dtype() {
            DType::F32 => t,
            DType::F16 | DType::BF16 | DType::F64 => t.to_dtype(DType::F32)?,
            other => {
                return Err(Error::data(
                    path,
                    format!("'{k}' holds {other:?} values; weights must be floating point"),
                ))
            }
        };
        if out.insert(key.to_string(), t).is_some() {
            return Err(Error::data(
                path,
                format!("'{key}' appears twice (with and without a wrapper prefix)"),
            ));
        }
    }
    Ok((out, ignored))
}

/// The official name of a pyskl / mmaction2 key (`None`: not a parameter skelcam maps by name).
fn official_name(key: &str) -> Option<String> {
    if let Some(rest) = key.strip_prefix("backbone.data_bn.") {
        return Some(format!("data_bn.{rest}"));
    }
    if let Some(rest) = key
        .strip_prefix("cls_head.fc_cls.")
        .or_else(|| key.strip_prefix("cls_head.fc."))
    {
        return Some(format!("fcn.{rest}"));
    }
    let rest = key.strip_prefix("backbone.gcn.")?;
    let (block, part) = rest.split_once('.')?;
    block.parse::<usize>().ok()?;
    let mapped = [
        ("gcn.conv.", "gcn.conv."),
        ("gcn.bn.", "tcn.0."),
        ("tcn.conv.", "tcn.2."),
        ("tcn.bn.", "tcn.3."),
        ("residual.conv.", "residual.0."),
        ("residual.bn.", "residual.1."),
    ]
    .iter()
    .find_map(|(from, to)| part.strip_prefix(from).map(|p| format!("{to}{p}")))?;
    Some(format!("st_gcn_networks.{block}.{mapped}"))
}

fn detect(keys: &BTreeMap<String, Tensor>, path: &Path) -> Result<Source> {
    if keys.keys().any(|k| k.starts_with("st_gcn_networks.")) {
        Ok(Source::Stgcn)
    } else if keys.keys().any(|k| k.starts_with("cls_head.fc_cls.")) {
        Ok(Source::Pyskl)
    } else if keys.keys().any(|k| k.starts_with("backbone.gcn.")) {
        Ok(Source::Mmaction2)
    } else {
        Err(Error::data(
            path,
            "no ST-GCN keys (st_gcn_networks.* or backbone.gcn.*): not an ST-GCN state dict",
        ))
    }
}

/// Map a state dict onto skelcam's ST-GCN for a skeleton of `joints` joints.
pub fn convert(
    tensors: HashMap<String, Tensor>,
    path: &Path,
    source: Source,
    joints: usize,
    partition: Partition,
) -> Result<Imported> {
    let (keys, ignored) = unwrap_keys(tensors, path)?;
    let source = match source {
        Source::Auto => detect(&keys, path)?,
        s => s,
    };
    let mut t: HashMap<String, Tensor> = HashMap::new();
    let mut adjacency: Option<Tensor> = None;
    for (k, v) in &keys {
        match source {
            Source::Stgcn => {
                if k == "A" {
                    adjacency = Some(v.clone());
                } else {
                    t.insert(k.clone(), v.clone());
                }
            }
            _ => {
                if let Some(rest) = k.strip_prefix("backbone.gcn.") {
                    let (block, part) = rest.split_once('.').unwrap_or((rest, ""));
                    match part {
                        "gcn.A" => {
                            // pyskl stores the graph in every block; skelcam has one.
                            match &adjacency {
                                Some(a) if a.dims() != v.dims()
                                    || (a - v)?.abs()?.max_all()?.to_scalar::<f32>()? > 0.0 =>
                                {
                                    return Err(Error::data(path, format!(
                                        "'{k}' differs from block 0's A: blocks with different graphs are not supported"
                                    )))
                                }
                                Some(_) => {}
                                None => adjacency = Some(v.clone()),
                            }
                            continue;
                        }
                        "gcn.PA" => {
                            t.insert(format!("edge_importance.{block}"), v.clone());
                            continue;
                        }
                        _ => {}
                    }
                }
                let name = official_name(k).ok_or_else(|| {
                    Error::data(
                        path,
                        format!(
                            "'{k}' (shape {:?}) has no counterpart in skelcam's ST-GCN",
                            v.dims()
                        ),
                    )
                })?;
                t.insert(name, v.clone());
            }
        }
    }
    // The head may be a Linear (C, 256) or a 1×1 conv (C, 256, 1, 1).
    let fc = t
        .get("fcn.weight")
        .ok_or_else(|| {
            Error::data(
                path,
                "no classifier weight (fcn.weight, cls_head.fc_cls.weight or cls_head.fc.weight)",
            )
        })?
        .clone();
    let fc = match fc.rank() {
        2 => fc.unsqueeze(2)?.unsqueeze(3)?,
        4 => fc,
        _ => {
            return Err(Error::data(
                path,
                format!("the classifier weight has shape {:?}; expected (classes, channels) or (classes, channels, 1, 1)", fc.dims()),
            ))
        }
    };
    let num_class = fc.dim(0)?;
    t.insert("fcn.weight".into(), fc);
    // Blocks: as many as there are graph convolutions.
    let mut blocks = Vec::new();
    let k = match &adjacency {
        Some(a) => a.dim(0)?,
        None => match t.get("edge_importance.0") {
            Some(e) => e.dim(0)?,
            None => match partition {
                Partition::Uniform => 1,
                Partition::Distance => 2,
                Partition::Spatial => 3,
            },
        },
    };
    let first = t.get("st_gcn_networks.0.gcn.conv.weight").ok_or_else(|| {
        Error::data(path, "no graph convolution of block 0 (st_gcn_networks.0.gcn.conv.weight or backbone.gcn.0.gcn.conv.weight)")
    })?;
    let in_channels = first.dim(1)?;
    let mut cin = in_channels;
    while let Some(w) = t.get(&format!("st_gcn_networks.{}.gcn.conv.weight", blocks.len())) {
        let i = blocks.len();
        let (rows, c) = (w.dim(0)?, w.dim(1)?);
        if c != cin || rows % k != 0 {
            return Err(Error::data(path, format!(
                "block {i}'s graph convolution has shape {:?}; expected ({k}·C, {cin}, 1, 1) after block {}",
                w.dims(), i.saturating_sub(1)
            )));
        }
        let cout = rows / k;
        // Temporal stride by the convention of every ST-GCN code: 2 where a block with a residual
        // convolution changes the channel count (blocks 4 and 7 of the 10-block network), else 1.
        let has_res = t.contains_key(&format!("st_gcn_networks.{i}.residual.0.weight"));
        let stride = if i > 0 && has_res && cout != cin {
            2
        } else {
            1
        };
        blocks.push((cout, stride));
        cin = cout;
    }
    let bn_len = t
        .get("data_bn.weight")
        .ok_or_else(|| Error::data(path, "no data batch norm (data_bn.weight)"))?
        .dim(0)?;
    let per_person = bn_len / (in_channels * joints);
    if bn_len % (in_channels * joints) != 0 || per_person == 0 {
        return Err(Error::data(path, format!(
            "data_bn.weight has {bn_len} entries, which is not a multiple of {in_channels} channels × {joints} joints of the layout: is it the layout the model was trained on?"
        )));
    }
    let adjacency_from_file = adjacency.is_some();
    let adjacency = match adjacency {
        Some(a) => {
            if a.dims() != [k, joints, joints] {
                return Err(Error::data(
                    path,
                    format!(
                        "A has shape {:?}, the layout needs ({k}, {joints}, {joints})",
                        a.dims()
                    ),
                ));
            }
            Some(a.to_vec3::<f32>()?)
        }
        None => None,
    };
    let config = StgcnConfig {
        in_channels,
        num_class,
        blocks,
        temporal_kernel: t
            .get("st_gcn_networks.0.tcn.2.weight")
            .map(|w| w.dim(2))
            .transpose()?
            .unwrap_or(9),
        partition,
        max_hop: 1,
        // The official NTU recipe trains with dropout 0.5, pyskl with none.
        dropout: if source == Source::Stgcn { 0.5 } else { 0.0 },
        edge_importance: t.contains_key("edge_importance.0"),
        adaptive: false,
        adjacency,
        data_bn_persons: (per_person > 1).then_some(per_person),
    };
    Ok(Imported {
        source,
        config,
        tensors: t,
        joints,
        adjacency_from_file,
        ignored,
    })
}
