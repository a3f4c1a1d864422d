//! Faithfulness metrics on joint rankings: deletion and insertion curves (Petsiuk et al., RISE, adapted to
//! skeletons: a joint is removed by zeroing all its channels in every frame and for every person) with
//! their areas under the curve, and the top-k hit rate against known discriminative joints.

use serde::{Deserialize, Serialize};

/// Area under a curve sampled at evenly spaced points on [0, 1] (trapezoid rule).
pub fn auc(curve: &[f64]) -> f64 {
    if curve.len() < 2 {
        return curve.first().copied().unwrap_or(0.0);
    }
    let h = 1.0 / (curve.len() - 1) as f64;
    curve.windows(2).map(|w| 0.5 * (w[0] + w[1]) * h).sum()
}

/// Joints sorted by decreasing importance (ties by index).
pub fn ranking(importance: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..importance.len()).collect();
    idx.sort_by(|&a, &b| importance[b].total_cmp(&importance[a]).then(a.cmp(&b)));
    idx
}

/// Keep-masks for the deletion curve: step k removes the first k joints of `order` (k = 0..=V).
pub fn deletion_masks(order: &[usize]) -> Vec<Vec<f32>> {
    let v = order.len();
    (0..=v)
        .map(|k| {
            let mut keep = vec![1.0; v];
            for &j in &order[..k] {
                keep[j] = 0.0;
            }
            keep
        })
        .collect()
}

/// Keep-masks for the insertion curve: step k keeps only the first k joints of `order`.
pub fn insertion_masks(order: &[usize]) -> Vec<Vec<f32>> {
    deletion_masks(order)
        .into_iter()
        .map(|m| m.into_iter().map(|x| 1.0 - x).collect())
        .collect()
}

/// |top-k of the ranking ∩ truth| / k with k = |truth|.
pub fn topk_precision(order: &[usize], truth: &[usize]) -> f64 {
    let k = truth.len();
    if k == 0 {
        return 0.0;
    }
    order.iter().take(k).filter(|j| truth.contains(j)).count() as f64 / k as f64
}

/// Mean curves and their AUCs over a set of samples.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Faithfulness {
    pub samples: usize,
    pub deletion_auc: f64,
    pub random_deletion_auc: f64,
    pub insertion_auc: f64,
    pub random_insertion_auc: f64,
    pub deletion_curve: Vec<f64>,
    pub random_deletion_curve: Vec<f64>,
    pub insertion_curve: Vec<f64>,
    pub random_insertion_curve: Vec<f64>,
    /// Mean precision@k of the CAM's top joints against the ground truth (synthetic data only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topk_hit_rate: Option<f64>,
    /// Fraction of samples whose top-k joints are exactly the ground-truth joints (synthetic data only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topk_exact_rate: Option<f64>,
    /// Mean precision@k per class (synthetic data only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topk_per_class: Option<std::collections::BTreeMap<String, f64>>,
}

/// Accumulates per-sample curves into means.
#[derive(Default)]
pub struct CurveMean {
    sum: Vec<f64>,
    n: usize,
}

impl CurveMean {
    pub fn add(&mut self, curve: &[f64]) {
        if self.sum.is_empty() {
            self.sum = vec![0.0; curve.len()];
        }
        for (s, c) in self.sum.iter_mut().zip(curve) {
            *s += c;
        }
        self.n += 1;
    }
    pub fn mean(&self) -> Vec<f64> {
        self.sum.iter().map(|s| s / self.n.max(1) as f64).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletion_insertion_helpers() {
        assert!((auc(&[1.0, 1.0, 1.0]) - 1.0).abs() < 1e-12);
        assert!((auc(&[1.0, 0.0]) - 0.5).abs() < 1e-12);
        let order = ranking(&[0.1, 0.9, 0.5]);
        assert_eq!(order, vec![1, 2, 0]);
        assert_eq!(
            deletion_masks(&order),
            vec![
                vec![1.0, 1.0, 1.0],
                vec![1.0, 0.0, 1.0],
                vec![1.0, 0.0, 0.0],
                vec![0.0, 0.0, 0.0]
            ]
        );
        assert_eq!(insertion_masks(&order)[1], vec![0.0, 1.0, 0.0]);
        assert_eq!(topk_precision(&order, &[1, 0]), 0.5);
    }
}
