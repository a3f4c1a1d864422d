//! Skeleton ensembles: several single-stream runs (typically one per input modality) whose logits are
//! added with weights. The members share the data pipeline (layout, classes, frames, persons); each sees
//! its own channels of one concatenated input, so every input perturbation reaches all of them alike.

use super::StgcnConfig;
use crate::data::modality::Modality;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// What `config.json` of an ensemble run records about its members (their weights are in the run's own
/// `model.safetensors` under `member{i}.`, so the ensemble keeps working if a member run is deleted).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnsembleConfig {
    pub members: Vec<EnsembleMember>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnsembleMember {
    /// The run directory it was made from, as given.
    pub run: String,
    /// The factor of its logits (and of its CAM) in the sum.
    pub weight: f32,
    pub modality: Modality,
    pub motion: bool,
    pub model: StgcnConfig,
}

impl EnsembleConfig {
    /// Each member's channels in the concatenated input.
    pub fn channel_ranges(&self) -> Vec<Range<usize>> {
        let mut start = 0;
        self.members
            .iter()
            .map(|m| {
                let r = start..start + m.model.in_channels;
                start = r.end;
                r
            })
            .collect()
    }

    /// A member's short name for tables and `cam.json`: its modality and run folder.
    pub fn label(&self, i: usize) -> String {
        let m = &self.members[i];
        let folder = std::path::Path::new(&m.run)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| m.run.clone());
        format!("{} ({folder})", m.modality.name())
    }
}
