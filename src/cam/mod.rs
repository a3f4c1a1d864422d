//! Class Activation Maps: the framework-free core on ndarray, Grad-CAM through candle, skeleton glue
//! (model → per-sample CAM with its temporal mapping) and faithfulness metrics.

pub mod core;
pub mod gradcam;
pub mod image;
pub mod localize;
pub mod metrics;
pub mod skeleton;

pub use self::core::{Normalization, TimeMap};
