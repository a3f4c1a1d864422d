//! The [`Probe`]s of the two model kinds: a feature map (1, C, …) and its head, plus the model and input
//! for Score-CAM. Ablated feature maps and masked inputs run through the network in batches of `batch`.
//!
//! Score-CAM's masks: a skeleton channel map (T′, V, M) is brought to the input's frames over time only
//! (each feature step covers `stride` input frames, as the CAM itself is mapped back; joints and persons
//! are never interpolated), a picture's (h, w) map bilinearly to the input's side with the corners
//! aligned (as `torch.nn.UpsamplingBilinear2d`); each is then min-max normalised, (m − min)/(max − min +
//! 1e-8), and multiplies every input channel.

use super::gradcam::feature_gradients;
use super::methods::Probe;
use crate::Result;
use candle_core::{Device, Tensor};
use ndarray::Array2;

/// A feature map and everything needed to re-run parts of the network that produced it.
pub struct NetProbe<'a> {
    /// (1, C, …) features of one sample.
    pub features: &'a Tensor,
    /// (1, C_in, …) model input of that sample.
    pub input: &'a Tensor,
    pub head: &'a dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
    pub forward: &'a dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
    /// Brings one channel map (P values at feature resolution) to a mask over the input's positions
    /// (the input's size without its channel axis, C order).
    pub upsample: &'a dyn Fn(&[f32]) -> Vec<f32>,
    pub class: usize,
    pub batch: usize,
}

impl NetProbe<'_> {
    /// Column `class` of the logits of `rows` tensors built by `make(i)` and run by `run`, in batches.
    fn scores(
        &self,
        rows: usize,
        template: &Tensor,
        make: impl Fn(usize, &mut [f32]),
        run: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
    ) -> Result<Vec<f32>> {
        let shape = template.dims().to_vec();
        let base: Vec<f32> = template.flatten_all()?.to_vec1()?;
        let per = base.len();
        let mut out = Vec::with_capacity(rows);
        let bar = crate::progress::bar(rows as u64, "channels");
        for start in (0..rows).step_by(self.batch.max(1)) {
            let n = self.batch.max(1).min(rows - start);
            let mut data = Vec::with_capacity(n * per);
            for i in start..start + n {
                let mut one = base.clone();
                make(i, &mut one);
                data.extend(one);
            }
            let mut dims = shape.clone();
            dims[0] = n;
            let logits = run(&Tensor::from_vec(data, dims, &Device::Cpu)?)?;
            let col: Vec<f32> = logits.narrow(1, self.class, 1)?.flatten_all()?.to_vec1()?;
            out.extend(col);
            bar.inc(n as u64);
        }
        bar.finish_and_clear();
        Ok(out)
    }
}

impl Probe for NetProbe<'_> {
    fn gradients(&self) -> Result<Array2<f32>> {
        Ok(feature_gradients(self.features, self.head, self.class)?.1)
    }

    fn ablated_scores(&self) -> Result<Vec<f32>> {
        let c = self.features.dim(1)?;
        let p = self.features.elem_count() / c;
        let zero = |k: usize, f: &mut [f32]| f[k * p..(k + 1) * p].fill(0.0);
        self.scores(c, self.features, zero, self.head)
    }

    fn masked_scores(&self, maps: &Array2<f32>) -> Result<Vec<f32>> {
        let c_in = self.input.dim(1)?;
        let masks: Vec<Vec<f32>> = maps
            .outer_iter()
            .map(|m| normalise(&(self.upsample)(&m.to_vec())))
            .collect();
        let mask_in = |k: usize, x: &mut [f32]| {
            let m = &masks[k];
            for ch in 0..c_in {
                for (v, w) in x[ch * m.len()..(ch + 1) * m.len()].iter_mut().zip(m) {
                    *v *= w;
                }
            }
        };
        self.scores(maps.nrows(), self.input, mask_in, self.forward)
    }
}

/// (m − min)/(max − min + 1e-8).
fn normalise(m: &[f32]) -> Vec<f32> {
    let lo = m.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = m.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    m.iter().map(|x| (x - lo) / (hi - lo + 1e-8)).collect()
}

/// A skeleton channel map (T′ × V × M, C order) over the input's T frames: frame t takes feature step
/// ⌊t / stride⌋ (the last step covers any remainder).
pub fn upsample_time(map: &[f32], t_feat: usize, t_in: usize) -> Vec<f32> {
    let vm = map.len() / t_feat.max(1);
    let stride = (t_in / t_feat.max(1)).max(1);
    (0..t_in)
        .flat_map(|t| {
            let s = (t / stride).min(t_feat - 1);
            map[s * vm..(s + 1) * vm].iter().copied()
        })
        .collect()
}

/// Bilinear resize of an (h, w) map to (s, s) with corners aligned (`UpsamplingBilinear2d`).
pub fn upsample_corners(map: &[f32], h: usize, w: usize, s: usize) -> Vec<f32> {
    let m = Array2::from_shape_vec((h, w), map.to_vec()).expect("h·w values");
    let coord = |o: usize, n_in: usize| -> (usize, usize, f32) {
        if s <= 1 || n_in <= 1 {
            return (0, 0, 0.0);
        }
        let x = o as f32 * (n_in - 1) as f32 / (s - 1) as f32;
        let x0 = (x.floor() as usize).min(n_in - 1);
        (x0, (x0 + 1).min(n_in - 1), x - x0 as f32)
    };
    let cols: Vec<_> = (0..s).map(|x| coord(x, w)).collect();
    let mut out = Vec::with_capacity(s * s);
    for y in 0..s {
        let (y0, y1, fy) = coord(y, h);
        for &(x0, x1, fx) in &cols {
            let top = m[[y0, x0]] * (1.0 - fx) + m[[y0, x1]] * fx;
            let bottom = m[[y1, x0]] * (1.0 - fx) + m[[y1, x1]] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// The features (1, C, …) as C × P.
pub fn channels(features: &Tensor) -> Result<Array2<f32>> {
    let c = features.dim(1)?;
    let v: Vec<f32> = features.flatten_all()?.to_vec1()?;
    let p = v.len() / c;
    Array2::from_shape_vec((c, p), v).map_err(|e| crate::Error::Other(e.to_string()))
}
