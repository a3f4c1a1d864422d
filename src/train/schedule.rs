//! Learning-rate schedules, evaluated per step so a resumed run gets the same rates.

use serde::{Deserialize, Serialize};

pub use crate::config::ScheduleKind;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Schedule {
    pub kind: ScheduleKind,
    pub base_lr: f64,
    pub warmup_epochs: f64,
    pub milestones: Vec<usize>,
    pub epochs: usize,
}

impl Schedule {
    /// Learning rate at fractional epoch `e` (epoch index + fraction of its steps done).
    pub fn lr(&self, e: f64) -> f64 {
        let warm = if self.warmup_epochs > 0.0 && e < self.warmup_epochs {
            (e + 1e-3) / self.warmup_epochs
        } else {
            1.0
        };
        let base = match self.kind {
            ScheduleKind::Constant => self.base_lr,
            ScheduleKind::Step => {
                self.base_lr
                    * 0.1f64.powi(self.milestones.iter().filter(|&&m| e >= m as f64).count() as i32)
            }
            ScheduleKind::Cosine => {
                let span = (self.epochs as f64 - self.warmup_epochs).max(1e-9);
                let p = ((e - self.warmup_epochs) / span).clamp(0.0, 1.0);
                self.base_lr * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
            }
        };
        base * warm.min(1.0)
    }
}
