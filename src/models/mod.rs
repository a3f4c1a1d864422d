//! Neural-network models in candle, with seeded initialisation and `features()` / `head()` for CAM.

pub mod init;
pub mod kernels;
pub mod layers;
pub mod ragcn;
pub mod resnet;
pub mod stgcn;

pub use resnet::{Resnet, ResnetConfig};
pub use stgcn::{Stgcn, StgcnConfig};

/// Per-forward context: train mode (batch statistics, dropout) and the seeded RNG for dropout masks.
pub struct Ctx<'a> {
    pub train: bool,
    pub rng: Option<&'a mut rand::rngs::StdRng>,
}

impl<'a> Ctx<'a> {
    pub fn eval() -> Ctx<'static> {
        Ctx {
            train: false,
            rng: None,
        }
    }
    pub fn train(rng: &'a mut rand::rngs::StdRng) -> Ctx<'a> {
        Ctx {
            train: true,
            rng: Some(rng),
        }
    }
}

/// Whether models use skelcam's own CPU kernels (default) or plain candle ops (`SKELCAM_KERNELS=candle`,
/// for comparison and debugging). Both give the same results to float rounding.
pub fn fast_kernels() -> bool {
    static FAST: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FAST.get_or_init(|| {
        std::env::var("SKELCAM_KERNELS")
            .map(|v| v != "candle")
            .unwrap_or(true)
    })
}
