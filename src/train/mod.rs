//! Training: the skeleton training loop, optimisers, schedules, checkpoints, metrics and progress bars.

pub mod checkpoint;
pub mod image;
pub mod metrics;
pub mod optim;
pub mod progress;
pub mod run;
pub mod schedule;
pub mod skeleton;
