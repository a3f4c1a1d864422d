//! `skelcam skeleton info`: the layer table and parameter count of a model preset on a layout.

use crate::data::Layout;
use crate::models::{init, Stgcn, StgcnConfig};
use crate::{Error, Result};
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use serde_json::json;

/// Which model `info` describes.
#[derive(Debug, Clone)]
pub struct InfoOptions {
    pub model: String,
    pub layout: String,
    pub classes: usize,
    pub channels: usize,
    pub json: bool,
}

pub fn info(a: &InfoOptions) -> Result<()> {
    let layout = Layout::resolve(&a.layout)?;
    let cfg = StgcnConfig::preset(&a.model, a.channels, a.classes).map_err(Error::usage)?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    Stgcn::new(&cfg, layout.num_joints(), &layout.edges, layout.center, vb)?;
    let params = init::trainable(&varmap);
    let total = init::num_trainable(&varmap);
    if a.json {
        let layers: Vec<_> = params
            .iter()
            .map(|(n, v)| json!({"name": n, "shape": v.dims(), "params": v.elem_count()}))
            .collect();
        let out = json!({
            "model": a.model, "layout": layout.name, "joints": layout.num_joints(), "classes": a.classes,
            "channels": a.channels, "blocks": cfg.blocks, "temporal_stride": cfg.temporal_stride(),
            "params": total, "layers": layers,
        });
        println!("{out}");
    } else {
        println!(
            "{} on {} ({} joints), {} input channels, {} classes",
            a.model,
            layout.name,
            layout.num_joints(),
            a.channels,
            a.classes
        );
        println!("{:<48} {:>18} {:>10}", "parameter", "shape", "count");
        for (n, v) in &params {
            println!(
                "{n:<48} {:>18} {:>10}",
                format!("{:?}", v.dims()),
                v.elem_count()
            );
        }
        println!("trainable parameters: {total}");
    }
    Ok(())
}
