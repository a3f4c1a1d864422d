//! Neural-network models in candle, with seeded initialisation and `features()` / `head()` for CAM, the
//! wrappers that build a run's model from its configuration ([`skeleton`], [`image`]) and its weights on disk.

pub mod ensemble;
pub mod image;
pub mod import;
pub mod init;
pub mod kernels;
pub mod layers;
pub mod ragcn;
pub mod resnet;
pub mod skeleton;
pub mod stgcn;
pub mod weights;

pub use image::{ImageModel, ImageRunConfig};
pub use resnet::{Resnet, ResnetConfig};
pub use skeleton::{SkeletonModel, SkeletonRunConfig};
pub use stgcn::{Stgcn, StgcnConfig};

use candle_core::Tensor;

/// Per-forward context: train mode (batch statistics, dropout), the seeded RNG for dropout masks, and
/// whether the forward may drop its autograd graph (inference).
pub struct Ctx<'a> {
    pub train: bool,
    pub rng: Option<&'a mut rand::rngs::StdRng>,
    /// Inference: no gradient will be asked for, so the graph is cut between blocks (see [`Ctx::cut`]).
    pub no_grad: bool,
}

impl<'a> Ctx<'a> {
    /// Inference: running statistics, no dropout, no gradients (PyTorch's `eval()` under `no_grad`).
    pub fn eval() -> Ctx<'static> {
        Ctx {
            train: false,
            rng: None,
            no_grad: true,
        }
    }

    /// Eval mode (running statistics, no dropout) that keeps the whole graph, for gradients through an
    /// eval-mode network.
    pub fn eval_with_grad() -> Ctx<'static> {
        Ctx {
            no_grad: false,
            ..Ctx::eval()
        }
    }

    pub fn train(rng: &'a mut rand::rngs::StdRng) -> Ctx<'a> {
        Ctx {
            train: true,
            rng: Some(rng),
            no_grad: false,
        }
    }

    /// Between blocks under `no_grad`: cut the recorded graph (the parameters are `Var`s, so candle
    /// records every op) so that a block's intermediate tensors are freed as soon as the next block
    /// starts. Otherwise the identity.
    pub fn cut(&self, h: Tensor) -> Tensor {
        if self.no_grad {
            h.detach()
        } else {
            h
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
