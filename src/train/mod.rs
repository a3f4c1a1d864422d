//! Training: the one loop ([`learner`]) and what skeleton and image runs add to it ([`skeleton`],
//! [`image`]), optimisers, schedules, the training checkpoint, what is recorded, and the metrics.

pub mod checkpoint;
pub mod ema;
pub mod image;
pub mod learner;
pub mod metrics;
pub mod optim;
pub mod record;
pub mod schedule;
pub mod skeleton;

pub use learner::{fit, Recipe, Step, Task};
pub use record::{EpochRecord, Metrics, TrainState};
