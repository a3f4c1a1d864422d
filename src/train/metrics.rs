//! Classification metrics: top-k accuracy, per-class accuracy and the confusion matrix.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evaluation {
    pub top1: f64,
    pub top5: f64,
    pub loss: f64,
    pub samples: usize,
    /// Accuracy per class (`null` for a class with no test sample).
    pub per_class: Vec<Option<f64>>,
    /// confusion[true][predicted] counts.
    pub confusion: Vec<Vec<usize>>,
}

/// Metrics from logits rows and true labels.
pub fn evaluate(logits: &[Vec<f32>], labels: &[usize], num_class: usize, loss: f64) -> Evaluation {
    let mut confusion = vec![vec![0usize; num_class]; num_class];
    let (mut hit1, mut hit5) = (0usize, 0usize);
    for (row, &y) in logits.iter().zip(labels) {
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        if order[0] == y {
            hit1 += 1;
        }
        if order.iter().take(5).any(|&c| c == y) {
            hit5 += 1;
        }
        confusion[y][order[0]] += 1;
    }
    let n = labels.len().max(1) as f64;
    let per_class = confusion
        .iter()
        .enumerate()
        .map(|(c, row)| {
            let total: usize = row.iter().sum();
            (total > 0).then(|| row[c] as f64 / total as f64)
        })
        .collect();
    Evaluation {
        top1: hit1 as f64 / n,
        top5: hit5 as f64 / n,
        loss,
        samples: labels.len(),
        per_class,
        confusion,
    }
}
