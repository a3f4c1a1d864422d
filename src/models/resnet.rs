//! ResNet-18 (He et al. 2016, torchvision layout and parameter names) with train-mode batch norm.
//!
//! Activations run channel-first (C, N, H, W) internally so that every convolution is one GEMM over unfolded
//! patches ([`super::kernels::conv2d_cf`]); the public API takes and returns PyTorch's (N, C, H, W).
//! `features()` is layer4's output and `head()` is global average pooling + `fc`, so
//! mean(CAM) + fc.bias = logit exactly.

use super::kernels::{conv2d_cf, max_pool2d};
use super::layers::{Bn, Skip};
use super::Ctx;
use candle_core::{Result, Tensor};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResnetConfig {
    pub num_class: usize,
    /// Channels of the stem and layer1 (64 in ResNet-18; layers 2–4 double it each time).
    pub width: usize,
    /// Stride of layer4's first block: 2 as torchvision (features at 1/32 of the input), or 1 for maps at
    /// 1/16 (a finer CAM; same parameters).
    #[serde(default = "two")]
    pub last_stride: usize,
    /// Stride of layer3's first block: 2 as torchvision, or 1 (with `last_stride` 1) for maps at 1/8 of the
    /// input: twice as fine again, for pictures too small for 1/16 to outline an object.
    #[serde(default = "two", skip_serializing_if = "is_two")]
    pub layer3_stride: usize,
    /// In eval mode, average layer4's map of the picture with the mirrored map of its mirror image (the
    /// map stays aligned with the picture, so CAM, head and every method see one map). Training is
    /// unchanged; predictions become invariant to a horizontal flip.
    #[serde(default)]
    pub flip_average: bool,
}

fn two() -> usize {
    2
}

fn is_two(v: &usize) -> bool {
    *v == 2
}

impl ResnetConfig {
    /// Checks a configuration read from a file before anything is built (sizes within the limits).
    pub fn check(&self) -> crate::Result<()> {
        crate::limits::CLASSES.check("model.num_class", self.num_class as u64)?;
        if self.num_class == 0
            || self.width == 0
            || self.width > 1024
            || !(1..=2).contains(&self.last_stride)
            || !(1..=2).contains(&self.layer3_stride)
        {
            return Err(crate::Error::invalid(
                "model",
                format!(
                    "width {}, {} classes, layer3 stride {}, last stride {}",
                    self.width, self.num_class, self.layer3_stride, self.last_stride
                ),
                "width 1 to 1024, at least 1 class, strides 1 or 2",
            ));
        }
        Ok(())
    }

    /// `resnet18` (torchvision's, 11.2 M parameters), `resnet18-half` (width 32, 2.8 M: a quarter of the
    /// multiply-adds) or `resnet18-narrow` (width 16, for tests and demos); an `-os16` suffix keeps layer4 at
    /// 1/16 of the input (finer CAMs, same parameters), `-os8` layer3 and layer4 at 1/8.
    pub fn preset(name: &str, num_class: usize) -> std::result::Result<Self, String> {
        let (base, layer3_stride, last_stride) = if let Some(b) = name.strip_suffix("-os16") {
            (b, 2, 1)
        } else if let Some(b) = name.strip_suffix("-os8") {
            (b, 1, 1)
        } else {
            (name, 2, 2)
        };
        let width = match base {
            "resnet18" => 64,
            "resnet18-half" => 32,
            "resnet18-narrow" => 16,
            _ => {
                return Err(format!(
                    "unknown image model {name:?}: use resnet18, resnet18-half or resnet18-narrow, each with an optional -os16 or -os8 suffix (resnet18-half-os16)"
                ))
            }
        };
        Ok(ResnetConfig {
            num_class,
            width,
            last_stride,
            layer3_stride,
            flip_average: false,
        })
    }

    /// Stride of layer `i + 1`'s first block.
    fn stride(&self, i: usize) -> usize {
        match i {
            0 => 1,
            2 => self.layer3_stride,
            3 => self.last_stride,
            _ => 2,
        }
    }

    pub fn feature_channels(&self) -> usize {
        self.width * 8
    }

    /// Forward multiply-adds ×2 for one image of `size`×`size`, counted from the layer shapes.
    pub fn forward_flops(&self, size: usize) -> f64 {
        let conv = |cin: usize, cout: usize, k: usize, hw: usize| {
            (2 * cin * cout * k * k * hw * hw) as f64
        };
        let w = self.width;
        let half = |s: usize| s.div_ceil(2);
        let mut s = half(size);
        let mut f = conv(3, w, 7, s);
        s = half(s);
        let mut cin = w;
        for (i, cout) in [w, 2 * w, 4 * w, 8 * w].into_iter().enumerate() {
            if i > 0 {
                if self.stride(i) == 2 {
                    s = half(s);
                }
                f += conv(cin, cout, 1, s);
            }
            f += conv(cin, cout, 3, s) + 3.0 * conv(cout, cout, 3, s);
            cin = cout;
        }
        f + 2.0 * (cin * self.num_class) as f64
    }
}

/// The tensor mirrored along its last dimension (the width of an image or a feature map).
fn flip_width(x: &Tensor) -> Result<Tensor> {
    let w = x.dim(candle_core::D::Minus1)?;
    let reversed = Tensor::from_vec((0..w as u32).rev().collect::<Vec<_>>(), w, x.device())?;
    x.index_select(&reversed, candle_core::D::Minus1)
}

fn conv_weight(vb: &VarBuilder, cin: usize, cout: usize, k: usize) -> Result<Tensor> {
    vb.get_with_hints((cout, cin, k, k), "weight", Init::Const(0.0))
}

struct BasicBlock {
    conv1: Tensor,
    bn1: Bn,
    conv2: Tensor,
    bn2: Bn,
    downsample: Option<(Tensor, Bn)>,
    stride: usize,
}

impl BasicBlock {
    fn new(cin: usize, cout: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        let downsample = if stride != 1 || cin != cout {
            let d = vb.pp("downsample");
            Some((
                conv_weight(&d.pp("0"), cin, cout, 1)?,
                Bn::new(cout, d.pp("1"))?,
            ))
        } else {
            None
        };
        Ok(BasicBlock {
            conv1: conv_weight(&vb.pp("conv1"), cin, cout, 3)?,
            bn1: Bn::new(cout, vb.pp("bn1"))?,
            conv2: conv_weight(&vb.pp("conv2"), cout, cout, 3)?,
            bn2: Bn::new(cout, vb.pp("bn2"))?,
            downsample,
            stride,
        })
    }

    fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let h = conv2d_cf(x, &self.conv1, self.stride, 1)?;
        let h = self.bn1.forward_relu(&h, ctx)?;
        let h = conv2d_cf(&h, &self.conv2, 1, 1)?;
        if Bn::fuses_eval(ctx) {
            return match &self.downsample {
                Some((w, bn)) => {
                    let r = conv2d_cf(x, w, self.stride, 0)?;
                    self.bn2.add_relu_eval(&h, Skip::Normed(&r, bn))
                }
                None => self.bn2.add_relu_eval(&h, Skip::Plain(x)),
            };
        }
        let h = self.bn2.forward(&h, ctx)?;
        let identity = match &self.downsample {
            Some((w, bn)) => bn.forward(&conv2d_cf(x, w, self.stride, 0)?, ctx)?,
            None => x.clone(),
        };
        super::kernels::add_relu(&h, &identity)
    }
}

pub struct Resnet {
    pub config: ResnetConfig,
    conv1: Tensor,
    bn1: Bn,
    layers: Vec<BasicBlock>,
    fc_weight: Tensor,
    fc_bias: Tensor,
}

impl Resnet {
    pub fn new(config: &ResnetConfig, vb: VarBuilder) -> Result<Self> {
        let w = config.width;
        let mut layers = Vec::new();
        let mut cin = w;
        for (i, cout) in [w, 2 * w, 4 * w, 8 * w].into_iter().enumerate() {
            let stride = config.stride(i);
            let lv = vb.pp(format!("layer{}", i + 1));
            layers.push(BasicBlock::new(cin, cout, stride, lv.pp("0"))?);
            layers.push(BasicBlock::new(cout, cout, 1, lv.pp("1"))?);
            cin = cout;
        }
        let fc = vb.pp("fc");
        Ok(Resnet {
            config: config.clone(),
            conv1: conv_weight(&vb.pp("conv1"), 3, w, 7)?,
            bn1: Bn::new(w, vb.pp("bn1"))?,
            layers,
            fc_weight: fc.get_with_hints((config.num_class, cin), "weight", Init::Const(0.0))?,
            fc_bias: fc.get_with_hints(config.num_class, "bias", Init::Const(0.0))?,
        })
    }

    fn check_input(x: &Tensor) -> Result<(usize, usize, usize)> {
        let (n, c, h, w) = x.dims4()?;
        if c != 3 || h < 32 || w < 32 {
            candle_core::bail!(
                "ResNet input must be (N, 3, H, W) with H and W at least 32, got {:?}",
                x.dims()
            );
        }
        Ok((n, h, w))
    }

    /// layer4's output in the internal channel-first layout (C', N, ⌈H/32⌉, ⌈W/32⌉), averaged with its
    /// mirror image's when `flip_average` is set and the network is not training.
    fn features_cf(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        Self::check_input(x)?;
        if !self.config.flip_average || ctx.train {
            return self.trunk_cf(x, ctx);
        }
        let plain = self.trunk_cf(x, ctx)?;
        let mirrored = flip_width(&self.trunk_cf(&flip_width(x)?, ctx)?)?;
        (plain + mirrored)? * 0.5
    }

    fn trunk_cf(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let x = x.transpose(0, 1)?.contiguous()?;
        let h = conv2d_cf(&x, &self.conv1, 2, 3)?;
        let h = self.bn1.forward_relu(&h, ctx)?;
        let mut h = ctx.cut(max_pool2d(&h, 3, 2, 1)?);
        for block in &self.layers {
            h = ctx.cut(block.forward(&h, ctx)?);
        }
        Ok(h)
    }

    /// The last convolutional feature map (N, C', H/32, W/32) for images (N, 3, H, W).
    pub fn features(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        self.features_cf(x, ctx)?.transpose(0, 1)?.contiguous()
    }

    /// Global average pooling over every dimension after the channels, then `fc`: features (N, C', ...) → logits.
    pub fn head(&self, features: &Tensor) -> Result<Tensor> {
        let pooled = super::layers::mean_from(features, 2)?;
        self.linear(&pooled)
    }

    fn linear(&self, pooled: &Tensor) -> Result<Tensor> {
        pooled
            .matmul(&self.fc_weight.t()?)?
            .broadcast_add(&self.fc_bias)
    }

    /// Class weights (num_class, C') and bias (num_class).
    pub fn head_params(&self) -> (Tensor, Tensor) {
        (self.fc_weight.clone(), self.fc_bias.clone())
    }

    /// Logits (N, num_class) for images (N, 3, H, W).
    pub fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let n = x.dim(0)?;
        let h = self.features_cf(x, ctx)?;
        let c = h.dim(0)?;
        let pooled = h.reshape((c, n, ()))?.mean(2)?.t()?;
        self.linear(&pooled)
    }
}
