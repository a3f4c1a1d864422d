//! What training records: one [`EpochRecord`] per epoch, the [`TrainState`] saved with every checkpoint,
//! and the [`Metrics`] of a finished run (`metrics.json`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_top1: f64,
    pub test_loss: Option<f64>,
    pub test_top1: Option<f64>,
    pub test_top5: Option<f64>,
    pub seconds: f64,
    /// RA-GCN: mean fraction of the input hidden from each stream during this epoch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked_fraction: Vec<f64>,
}

/// Training progress saved with every checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TrainState {
    pub epochs_done: usize,
    pub steps: u64,
    pub seconds: f64,
    pub history: Vec<EpochRecord>,
}

/// The contents of `metrics.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metrics {
    pub test_top1: f64,
    pub test_top5: f64,
    pub test_loss: f64,
    pub train_top1: f64,
    pub epochs: usize,
    pub classes: Vec<String>,
    pub seconds: f64,
    pub params: usize,
    pub train_samples: usize,
    pub test_samples: usize,
    pub per_class: Vec<Option<f64>>,
    pub confusion: Vec<Vec<usize>>,
    pub skipped_files: Vec<String>,
    pub history: Vec<EpochRecord>,
    /// RA-GCN: test top-1 of each stream alone (its logits only; its input masked by the earlier streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams_top1: Option<Vec<f64>>,
}
