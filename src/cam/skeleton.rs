//! Skeleton CAM for one sequence: run the model, take the class map from `features()` and the head's weights
//! (or Grad-CAM), check the GAP identity, map T' back to the sequence's own frames, mark absent persons.

use super::core::{class_activation, identity_error, minmax, scale_by, Normalization, TimeMap};
use super::methods::method_map;
use super::probes::{channels, upsample_time, NetProbe};
use crate::data::preprocess::{prepare, LengthMode};
use crate::data::Sequence;
use crate::models::stgcn::Stgcn;
use crate::models::Ctx;
use crate::models::SkeletonModel;
use crate::{Error, Result};
use candle_core::{Device, Tensor, D};
use ndarray::{Array1, Array3, Array4};

/// The map (T′, V, M) of a method other than CAM for `(class, its logit)` of one ST-GCN `net` on its
/// input `x` (1, C, T, V, M) and features (1, C′, T′, V, M); `w_c` is the head's class row.
pub fn probed_map(
    net: &Stgcn,
    x: &Tensor,
    features: &Tensor,
    w_c: &Array1<f32>,
    (class, score): (usize, f32),
    method: Method,
    batch: usize,
) -> Result<Array3<f32>> {
    let (_, _, t_feat, v, m) = features.dims5()?;
    let t_in = x.dim(2)?;
    let head = |h: &Tensor| net.head(h);
    let forward = |x: &Tensor| net.forward(x, &mut Ctx::eval());
    let upsample = |map: &[f32]| upsample_time(map, t_feat, t_in);
    let probe = NetProbe {
        features,
        input: x,
        head: &head,
        forward: &forward,
        upsample: &upsample,
        class,
        batch,
    };
    method_map(method, &channels(features)?, w_c, score, &probe)?
        .into_shape_with_order((t_feat, v, m))
        .map_err(|e| Error::Other(e.to_string()))
}

/// The explanation methods (one set for joints and pixels).
pub use super::methods::CamMethod as Method;

/// Which class to explain: the prediction, or a given class.
#[derive(Debug, Clone, PartialEq)]
pub enum ClassChoice {
    Auto,
    Index(usize),
}

impl ClassChoice {
    /// `auto`, a class name, or a 0-based index.
    pub fn parse(s: &str, classes: &[String]) -> Result<Self> {
        if s == "auto" {
            return Ok(ClassChoice::Auto);
        }
        if let Some(i) = classes.iter().position(|c| c == s) {
            return Ok(ClassChoice::Index(i));
        }
        match s.parse::<usize>() {
            Ok(i) if i < classes.len() => Ok(ClassChoice::Index(i)),
            _ => Err(Error::invalid(
                "class",
                s,
                format!(
                    "auto, a class name or an index below {}; classes: {}",
                    classes.len(),
                    classes.join(", ")
                ),
            )),
        }
    }
}

/// Everything about one explained sample.
#[derive(Debug, Clone)]
pub struct SampleCam {
    pub sample: String,
    pub class: usize,
    pub true_class: Option<usize>,
    pub predicted: usize,
    pub probability: f32,
    pub logit: f32,
    /// The logits of every class.
    pub logits: Vec<f32>,
    pub bias: f32,
    pub method: Method,
    /// Raw map at feature resolution (T', V, M): CAM (signed) or Grad-CAM.
    pub raw: Array3<f32>,
    /// The raw map brought to the sequence's frames (frames, V, M), before normalisation.
    pub raw_frames: Array3<f32>,
    pub time: TimeMap,
    pub persons_present: Vec<bool>,
    /// An ensemble's members' own maps at feature resolution (T′, V, M), unweighted, in the order of
    /// its `config.json`; empty for a single network. `raw` is their weighted sum.
    pub members: Vec<Array3<f32>>,
    /// |mean(CAM) + bias − logit| (always of the plain CAM, the exact identity of the head).
    pub identity_error: f64,
    /// The sequence's coordinates at its own frames (3, frames, V, M), for skeleton drawings.
    pub coords: Array4<f32>,
}

impl SampleCam {
    /// The displayed map (frames, V, M) and whether it was flat.
    pub fn normalized(&self, norm: Normalization, dataset_max: Option<f32>) -> (Array3<f32>, bool) {
        match norm {
            Normalization::None => (self.raw_frames.clone(), false),
            Normalization::Minmax => minmax(&self.raw_frames, &self.persons_present),
            Normalization::Dataset => {
                let m = dataset_max.unwrap_or_else(|| self.max_abs());
                (
                    scale_by(&self.raw_frames, &self.persons_present, m),
                    m == 0.0,
                )
            }
        }
    }

    /// max |raw| over present persons.
    pub fn max_abs(&self) -> f32 {
        self.raw
            .indexed_iter()
            .filter(|((_, _, m), _)| self.persons_present[*m])
            .fold(0f32, |a, (_, &x)| a.max(x.abs()))
    }
}

/// The model input (1, C, T, V, M) for a sequence, and how many of its frames are real.
pub fn model_input(model: &SkeletonModel, seq: &Sequence) -> Result<(Tensor, Array4<f32>, usize)> {
    let t = &model.run.train;
    let (arr, valid) = prepare(seq, t.frames, model.run.persons, t.length_mode, None);
    let coords = arr.clone();
    let arr = model.run.input(&arr);
    let (c, tt, v, m) = arr.dim();
    let x = Tensor::from_vec(
        arr.into_raw_vec_and_offset().0,
        (1, c, tt, v, m),
        &Device::Cpu,
    )?;
    Ok((x, coords, valid))
}

/// Explain `seq` with `method` for the chosen class.
pub fn explain(
    model: &SkeletonModel,
    seq: &Sequence,
    choice: &ClassChoice,
    method: Method,
) -> Result<SampleCam> {
    explain_batched(model, seq, choice, method, super::methods::DEFAULT_BATCH)
}

/// [`explain`] with Score-CAM's masked inputs and Ablation-CAM's feature maps run `batch` at a time.
pub fn explain_batched(
    model: &SkeletonModel,
    seq: &Sequence,
    choice: &ClassChoice,
    method: Method,
    batch: usize,
) -> Result<SampleCam> {
    let (x, input_coords, valid) = model_input(model, seq)?;
    // One network, or the members of an ensemble with their weights: maps and logits add up with them.
    let parts = model.parts(&x)?;
    let mut feats = Vec::with_capacity(parts.len());
    let mut member_logits = Vec::with_capacity(parts.len());
    for (net, xi, _) in &parts {
        let f = net.features(xi, &mut Ctx::eval())?;
        member_logits.push(net.head(&f)?.squeeze(0)?.to_vec1::<f32>()?);
        feats.push(f);
    }
    let logits_v: Vec<f32> = weighted_sum(
        parts
            .iter()
            .zip(&member_logits)
            .map(|((_, _, w), l)| (*w, ndarray::Array1::from(l.clone()))),
    )
    .to_vec();
    let probs: Vec<f32> =
        candle_nn::ops::softmax(&Tensor::new(logits_v.as_slice(), &Device::Cpu)?, D::Minus1)?
            .to_vec1()?;
    let predicted = argmax(&logits_v);
    let class = match choice {
        ClassChoice::Auto => predicted,
        ClassChoice::Index(i) => *i,
    };
    let mut cams = Vec::with_capacity(parts.len());
    let mut maps = Vec::with_capacity(parts.len());
    let mut bias = 0f32;
    for (((net, xi, w), f), l) in parts.iter().zip(&feats).zip(&member_logits) {
        let (wh, b) = net.head_params()?;
        let w_c = ndarray::Array1::from(wh.narrow(0, class, 1)?.squeeze(0)?.to_vec1::<f32>()?);
        bias += w * b.to_vec1::<f32>()?[class];
        let cam = class_activation(
            super::gradcam::to_array4(&f.squeeze(0)?)?.view(),
            w_c.view(),
        );
        maps.push(match method {
            Method::Cam => cam.clone(),
            _ => probed_map(net, xi, f, &w_c, (class, l[class]), method, batch)?,
        });
        cams.push((*w, cam));
    }
    let weights: Vec<f32> = parts.iter().map(|p| p.2).collect();
    let cam = weighted_sum(cams.into_iter());
    let id_err = identity_error(&cam, bias, logits_v[class]);
    let (_, _, t_in, _, m) = x.dims5()?;
    let raw = weighted_sum(weights.iter().copied().zip(maps.iter().cloned()));
    let t_feat = raw.dim().0;
    let train = &model.run.train;
    let resampled = train.length_mode == LengthMode::Resample;
    let time = TimeMap {
        frames: if resampled { seq.frames() } else { valid },
        input_frames: t_in,
        feature_frames: t_feat,
        stride: t_in / t_feat,
        resampled,
    };
    let persons_present: Vec<bool> = (0..m)
        .map(|p| {
            input_coords
                .index_axis(ndarray::Axis(3), p)
                .iter()
                .any(|&v| v != 0.0)
        })
        .collect();
    let raw_frames = time.to_frames(&raw);
    // Coordinates at the sequence's own frames: the (normalised) sequence itself, persons padded to M.
    let coords = if resampled {
        let mut c = Array4::<f32>::zeros((3, seq.frames(), seq.data.shape()[2], m));
        let n = seq.data.shape()[3].min(m);
        c.slice_mut(ndarray::s![.., .., .., ..n])
            .assign(&seq.data.slice(ndarray::s![.., .., .., ..n]));
        c
    } else {
        input_coords
            .slice(ndarray::s![.., ..valid, .., ..])
            .to_owned()
    };
    let members = match &model.run.ensemble {
        None => Vec::new(),
        Some(_) => maps,
    };
    Ok(SampleCam {
        members,
        sample: seq.name.clone(),
        class,
        true_class: Some(seq.label),
        predicted,
        probability: probs[class],
        logit: logits_v[class],
        logits: logits_v.clone(),
        bias,
        method,
        raw,
        raw_frames,
        time,
        persons_present,
        identity_error: id_err,
        coords,
    })
}

/// Σ w_i a_i; a single term with weight 1 is returned as it is (bit for bit).
fn weighted_sum<D: ndarray::Dimension>(
    mut terms: impl Iterator<Item = (f32, ndarray::Array<f32, D>)>,
) -> ndarray::Array<f32, D> {
    let (w0, first) = terms.next().expect("at least one network");
    let mut acc = if w0 == 1.0 { first } else { first * w0 };
    for (w, a) in terms {
        acc.scaled_add(w, &a);
    }
    acc
}

pub fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
}
