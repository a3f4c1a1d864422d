//! Class Activation Maps: the framework-free core on ndarray, the CAM family (`methods`) with the model
//! probes they need, skeleton and picture glue (model → per-sample map with its temporal mapping) and
//! faithfulness metrics.

pub mod core;
pub mod gradcam;
pub mod image;
pub mod localize;
pub mod methods;
pub mod metrics;
pub mod probes;
pub mod road;
pub mod skeleton;

pub use self::core::{Normalization, TimeMap};
