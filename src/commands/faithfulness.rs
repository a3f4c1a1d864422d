//! `skelcam skeleton faithfulness`: deletion / insertion curves over joints ranked by CAM against a seeded
//! random ranking, their AUCs, a plot, and on synthetic data the top-k hit rate against the true joints.

use super::skeleton_data;
use crate::cam::core::joint_importance;
use crate::cam::metrics::{
    auc, deletion_masks, insertion_masks, ranking, topk_precision, CurveMean, Faithfulness,
};
use crate::cam::skeleton::{explain_batched, model_input, ClassChoice, Method};
use crate::config::DataSource;
use crate::models::Ctx;
use crate::models::SkeletonModel;
use crate::rng::{permutation, rng_for, streams};
use crate::{Error, Result};
use candle_core::{Device, Tensor, D};
use std::path::PathBuf;

/// Probability of `class` for each keep-mask over joints (all channels, frames and persons of a removed
/// joint are zeroed), in one batch.
pub(crate) fn curve(
    model: &SkeletonModel,
    x: &Tensor,
    masks: &[Vec<f32>],
    class: usize,
) -> Result<Vec<f64>> {
    let v = masks[0].len();
    let flat: Vec<f32> = masks.iter().flatten().copied().collect();
    let m = Tensor::from_vec(flat, (masks.len(), 1, 1, v, 1), &Device::Cpu)?;
    let batch = x.broadcast_mul(&m)?;
    let logits = model.logits(&batch, &mut Ctx::eval())?;
    let p: Vec<f32> = candle_nn::ops::softmax(&logits, D::Minus1)?
        .narrow(1, class, 1)?
        .flatten_all()?
        .to_vec1()?;
    Ok(p.into_iter().map(|x| x as f64).collect())
}

/// What `faithfulness` measures.
#[derive(Debug, Clone)]
pub struct FaithfulnessOptions {
    pub run: PathBuf,
    pub data: DataSource,
    pub method: Method,
    /// Seed of the random rankings.
    pub seed: u64,
    /// At most this many samples of the split.
    pub limit: Option<usize>,
    /// Print one JSON object on stdout.
    pub json: bool,
    /// Also write faithfulness.json and faithfulness.png here.
    pub out: Option<PathBuf>,
    /// Score-CAM's masked inputs and Ablation-CAM's feature maps per forward pass.
    pub batch: usize,
}

pub fn faithfulness(a: &FaithfulnessOptions) -> Result<()> {
    let model = SkeletonModel::load(&a.run)?;
    // One sample read at a time: memory does not grow with the data.
    let data = skeleton_data::load_index(&model, &a.data)?;
    let ds = &data.ds;
    let idx: Vec<usize> = data
        .test()?
        .into_iter()
        .take(a.limit.unwrap_or(usize::MAX))
        .collect();
    let (mut del, mut rdel, mut ins, mut rins) = (
        CurveMean::default(),
        CurveMean::default(),
        CurveMean::default(),
        CurveMean::default(),
    );
    let (mut hit, mut exact) = (0f64, 0usize);
    let mut per_class = vec![(0f64, 0usize); model.run.classes.len()];
    let bar = crate::progress::bar(idx.len() as u64, "faithful");
    for &i in &idx {
        let s = &*data.sample(i)?;
        // The explanation of the model's own decision, ranked by the raw CAM over time and present persons.
        let cam = explain_batched(&model, s, &ClassChoice::Auto, a.method, a.batch)?;
        let imp = joint_importance(&cam.raw, &cam.persons_present);
        let order = ranking(&imp);
        let mut r = rng_for(a.seed, streams::item(i));
        let random = permutation(&mut r, order.len());
        let (x, _, _) = model_input(&model, s)?;
        del.add(&curve(&model, &x, &deletion_masks(&order), cam.class)?);
        ins.add(&curve(&model, &x, &insertion_masks(&order), cam.class)?);
        rdel.add(&curve(&model, &x, &deletion_masks(&random), cam.class)?);
        rins.add(&curve(&model, &x, &insertion_masks(&random), cam.class)?);
        if let Some(gt) = &ds.gt_joints {
            // Ground truth is about the true class: rank by that class's map.
            let truth = &gt[s.label];
            let tcam = if cam.class == s.label {
                cam
            } else {
                explain_batched(&model, s, &ClassChoice::Index(s.label), a.method, a.batch)?
            };
            let t_order = ranking(&joint_importance(&tcam.raw, &tcam.persons_present));
            let p = topk_precision(&t_order, truth);
            hit += p;
            exact += (p == 1.0) as usize;
            per_class[s.label].0 += p;
            per_class[s.label].1 += 1;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if idx.is_empty() {
        return Err(Error::usage("no sample to evaluate"));
    }
    let n = idx.len() as f64;
    let f = Faithfulness {
        samples: idx.len(),
        deletion_auc: auc(&del.mean()),
        random_deletion_auc: auc(&rdel.mean()),
        insertion_auc: auc(&ins.mean()),
        random_insertion_auc: auc(&rins.mean()),
        deletion_curve: del.mean(),
        random_deletion_curve: rdel.mean(),
        insertion_curve: ins.mean(),
        random_insertion_curve: rins.mean(),
        topk_hit_rate: ds.gt_joints.as_ref().map(|_| hit / n),
        topk_exact_rate: ds.gt_joints.as_ref().map(|_| exact as f64 / n),
        topk_per_class: ds.gt_joints.as_ref().map(|_| {
            model
                .run
                .classes
                .iter()
                .zip(&per_class)
                .filter(|(_, c)| c.1 > 0)
                .map(|(name, c)| (name.clone(), c.0 / c.1 as f64))
                .collect()
        }),
    };
    if let Some(out) = &a.out {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        crate::io::write_json(&out.join("faithfulness.json"), &f)?;
        crate::plot::faithfulness::draw(&out.join("faithfulness.png"), &f)?;
    }
    if a.json {
        let mut v = serde_json::to_value(&f)?;
        for k in [
            "deletion_curve",
            "random_deletion_curve",
            "insertion_curve",
            "random_insertion_curve",
        ] {
            v.as_object_mut().map(|o| o.remove(k));
        }
        println!("{v}");
    } else {
        println!("{} samples, joints removed / inserted in order of CAM importance (probability of the predicted class):", f.samples);
        println!(
            "  deletion AUC  {:.4}  (random ranking {:.4}; lower is better)",
            f.deletion_auc, f.random_deletion_auc
        );
        println!(
            "  insertion AUC {:.4}  (random ranking {:.4}; higher is better)",
            f.insertion_auc, f.random_insertion_auc
        );
        if let (Some(h), Some(e)) = (f.topk_hit_rate, f.topk_exact_rate) {
            println!("  top-k CAM joints vs ground truth: precision {h:.3}, exact {e:.3}");
            for (c, p) in f.topk_per_class.iter().flatten() {
                println!("    {c:<20} {p:.3}");
            }
        }
    }
    Ok(())
}
