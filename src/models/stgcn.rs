//! ST-GCN (Yan et al., AAAI 2018; docs/protocols.md, "ST-GCN"): data BN, blocks of spatial graph conv + (kt×1) temporal
//! conv with residuals and learnable edge importance, global average pooling over (T', V, M), linear head.
//!
//! Parameter names follow the official PyTorch code (`data_bn`, `st_gcn_networks.i.gcn.conv`, `...tcn.0/2/3`,
//! `...residual.0/1`, `edge_importance.i`, `fcn`). Internally activations are channel-first (C, N·M, T, V) so
//! that every convolution is one GEMM: 1×1 convs directly, the temporal conv over its 9 unfolded taps.

use super::layers::{mean_from, Bn, Conv1x1, Skip};
use super::Ctx;
use crate::graph::{partitioned_adjacency, Partition};
use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StgcnConfig {
    pub in_channels: usize,
    pub num_class: usize,
    /// (output channels, temporal stride) of each block.
    pub blocks: Vec<(usize, usize)>,
    pub temporal_kernel: usize,
    pub partition: Partition,
    pub max_hop: usize,
    pub dropout: f32,
    pub edge_importance: bool,
    /// A learnt offset added to every block's adjacency, starting at zero (2s-AGCN's B_k, pyskl's
    /// `adaptive='offset'`): blocks may link joints the skeleton does not connect, such as the two hands.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adaptive: bool,
    /// The (K, V, V) adjacency, when it comes from a checkpoint instead of the layout's graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjacency: Option<Vec<Vec<Vec<f32>>>>,
    /// Data batch norm with separate statistics per person slot (pyskl's `MVC`) for this many persons;
    /// `None`: shared over persons (ST-GCN's `VC`, persons folded into the batch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_bn_persons: Option<usize>,
}

impl StgcnConfig {
    /// Checks a configuration read from a file before anything is built: sizes within the limits (the
    /// parameter count estimated from them), a temporal kernel and strides that make sense.
    pub fn check(&self, joints: usize) -> crate::Result<()> {
        use crate::limits;
        let bad = |field: &str, v: usize, what: &str| Err(crate::Error::invalid(field, v, what));
        if self.in_channels == 0 || self.in_channels > 4096 {
            return bad("model.in_channels", self.in_channels, "between 1 and 4096");
        }
        limits::CLASSES.check("model.num_class", self.num_class as u64)?;
        if self.num_class == 0 {
            return bad("model.num_class", 0, "at least 1");
        }
        if self.blocks.is_empty() || self.blocks.len() > 64 {
            return bad("model.blocks", self.blocks.len(), "1 to 64 blocks");
        }
        crate::config::check_temporal_kernel("model.temporal_kernel", self.temporal_kernel)?;
        crate::config::check_max_hop("model.max_hop", self.max_hop)?;
        // At most 3 partitions, or max_hop + 1 with the distance strategy (more only with a checkpoint's
        // adjacency, counted below).
        let k = 4u64.max(self.max_hop as u64 + 2);
        let mut params = (self.in_channels as u64 * joints as u64)
            .saturating_mul(2 * self.data_bn_persons.unwrap_or(1) as u64);
        let mut cin = self.in_channels as u64;
        // Per block: the edge importance and the adaptive offset, (K, V, V) each.
        let graph = (self.edge_importance as u64 + self.adaptive as u64)
            .saturating_mul(k)
            .saturating_mul((joints as u64).saturating_mul(joints as u64));
        for &(cout, stride) in &self.blocks {
            if cout == 0 || cout > 65_536 || !(1..=8).contains(&stride) {
                return bad(
                    "model.blocks",
                    cout,
                    "channels 1 to 65536 and strides 1 to 8",
                );
            }
            let cout = cout as u64;
            params = params
                .saturating_add(graph)
                .saturating_add(cin.saturating_mul(cout).saturating_mul(k))
                .saturating_add(
                    cout.saturating_mul(cout)
                        .saturating_mul(self.temporal_kernel as u64),
                )
                .saturating_add(cin.saturating_mul(cout));
            cin = cout;
        }
        params = params.saturating_add(cin.saturating_mul(self.num_class as u64));
        if let Some(a) = &self.adjacency {
            params = params.saturating_add((a.len() * joints * joints) as u64);
        }
        limits::PARAMETERS.check("model", params)
    }

    /// `stgcn`: the 10-block 64→256 network of the paper; `stgcn-small`: 3 blocks 32→64 (the CPU default,
    /// see benches/README.md for its accuracy and time on MSR Action3D); `stgcn-tiny`: 3 blocks 16→32, for tests.
    pub fn preset(
        name: &str,
        in_channels: usize,
        num_class: usize,
    ) -> std::result::Result<Self, String> {
        let blocks = match name {
            "stgcn" => vec![
                (64, 1),
                (64, 1),
                (64, 1),
                (64, 1),
                (128, 2),
                (128, 1),
                (128, 1),
                (256, 2),
                (256, 1),
                (256, 1),
            ],
            "stgcn-small" => vec![(32, 1), (64, 2), (64, 2)],
            "stgcn-tiny" => vec![(16, 1), (32, 2), (32, 2)],
            other => {
                return Err(format!(
                    "unknown model '{other}': use stgcn, stgcn-small or stgcn-tiny"
                ))
            }
        };
        Ok(StgcnConfig {
            in_channels,
            num_class,
            blocks,
            temporal_kernel: 9,
            partition: Partition::Spatial,
            max_hop: 1,
            dropout: 0.5,
            edge_importance: true,
            adaptive: false,
            adjacency: None,
            data_bn_persons: None,
        })
    }

    /// Total temporal stride: T' = T / stride (T must be a multiple of it).
    pub fn temporal_stride(&self) -> usize {
        self.blocks.iter().map(|b| b.1).product()
    }

    /// Floating-point operations of one forward pass for one sample (2 per multiply-add; convolutions,
    /// graph products and the head; normalisations and activations left out).
    pub fn forward_flops(
        &self,
        joints: usize,
        frames: usize,
        persons: usize,
        partitions: usize,
    ) -> f64 {
        let (v, k, kt) = (
            joints as f64,
            partitions as f64,
            self.temporal_kernel as f64,
        );
        let mut t = frames as f64;
        let mut cin = self.in_channels as f64;
        let mut mac = 0.0;
        for (i, &(cout, stride)) in self.blocks.iter().enumerate() {
            let cout = cout as f64;
            let t_out = t / stride as f64;
            mac += t * v * cin * k * cout; // 1×1 conv to K·Cout channels
            mac += t * v * cout * k * v; // the K adjacency products
            mac += t_out * v * cout * cout * kt; // temporal conv
            if i > 0 && (cin != cout || stride != 1) {
                mac += t_out * v * cin * cout; // residual 1×1 conv
            }
            cin = cout;
            t = t_out;
        }
        mac += cin * self.num_class as f64;
        2.0 * mac * persons as f64
    }

    pub fn feature_channels(&self) -> usize {
        self.blocks.last().map(|b| b.0).unwrap_or(self.in_channels)
    }
}

enum Residual {
    None,
    Identity,
    Conv(Conv1x1, Bn),
}

struct Block {
    gcn: Conv1x1,
    bn1: Bn,
    tcn: Tensor,
    tcn_bias: Tensor,
    bn2: Bn,
    residual: Residual,
    importance: Tensor,
    /// The learnt adjacency offset (K, V, V) of an adaptive graph.
    offset: Option<Tensor>,
    stride: usize,
    dropout: f32,
}

/// Keep every `stride`-th frame of (C, B, T, V) (T divisible by stride).
fn subsample_time(x: &Tensor, stride: usize) -> Result<Tensor> {
    if stride == 1 {
        return Ok(x.clone());
    }
    let (c, b, t, v) = x.dims4()?;
    x.reshape((c, b, t / stride, stride * v))?.narrow(3, 0, v)
}

/// Spatial graph convolution on the output `y` (K·C, B, T, V) of the 1×1 conv (channel index k·C + c):
/// out[c, b, t, w] = Σ_k Σ_v y[k·C + c, b, t, v] · a[k, v, w]. Returns (C, B, T, V). The official order from
/// candle's generic ops (transpose to (C·B·T, K·V), one matmul with A as (K·V, V)), used with
/// `SKELCAM_KERNELS=candle`; the own kernels fuse it with the 1×1 conv ([`super::kernels::spatial_gcn`]).
pub fn graph_conv(y: &Tensor, a: &Tensor) -> Result<Tensor> {
    let (kc, b, t, v) = y.dims4()?;
    let k = a.dim(0)?;
    let c = kc / k;
    y.reshape((k, c * b * t, v))?
        .transpose(0, 1)?
        .contiguous()?
        .reshape((c * b * t, k * v))?
        .matmul(&a.reshape((k * v, v))?)?
        .reshape((c, b, t, v))
}

/// Temporal convolution (kt×1, zero padding (kt−1)/2, stride `stride`) of channel-first x (Cin, B, T, V)
/// with a PyTorch-layout weight (Cout, Cin, kt, 1): the fused im2col GEMM kernel with a (stride, 1) step,
/// the bias added inside it.
pub fn temporal_conv(x: &Tensor, weight: &Tensor, bias: &Tensor, stride: usize) -> Result<Tensor> {
    let kt = weight.dim(2)?;
    super::kernels::conv2d_cf_bias(x, weight, Some(bias), (stride, 1), ((kt - 1) / 2, 0))
}

impl Block {
    fn forward(&self, x: &Tensor, a: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        // Spatial graph conv: 1×1 conv to K·Cout channels, then Σ_k (·) @ (A_k ⊙ E_k + B_k) over joints; the
        // fast path is one node that keeps no K·Cout-channel tensor (kernels::spatial_gcn).
        let a = (a * &self.importance)?;
        let a = match &self.offset {
            Some(b) => (a + b)?,
            None => a,
        };
        // Then BN → ReLU (inside the spatial unit's kernel under inference).
        let h = match self.gcn.params() {
            (w, Some(b)) if Bn::fuses_eval(ctx) => {
                let (s, t) = self.bn1.eval_factors()?;
                super::kernels::spatial_gcn_eval_bn(x, (w, b, &a), (&s, &t), true)?
            }
            (w, Some(b)) if crate::models::fast_kernels() => self
                .bn1
                .forward_relu(&super::kernels::spatial_gcn(x, w, b, &a)?, ctx)?,
            _ => self
                .bn1
                .forward_relu(&graph_conv(&self.gcn.forward(x)?, &a)?, ctx)?,
        };
        // Temporal conv: (kt×1, stride) conv as one GEMM over the unfolded taps → BN → dropout.
        let z = temporal_conv(&h, &self.tcn, &self.tcn_bias, self.stride)?;
        if Bn::fuses_eval(ctx) {
            match &self.residual {
                Residual::None => {}
                Residual::Identity => return self.bn2.add_relu_eval(&z, Skip::Plain(x)),
                Residual::Conv(conv, bn) => {
                    let r = conv.forward(&subsample_time(x, self.stride)?)?;
                    return self.bn2.add_relu_eval(&z, Skip::Normed(&r, bn));
                }
            }
        }
        let z = self.bn2.forward_dropout(&z, self.dropout, ctx)?;
        match &self.residual {
            Residual::None => z.relu(),
            Residual::Identity => super::kernels::add_relu(&z, x),
            Residual::Conv(conv, bn) => {
                let skip = bn.forward(&conv.forward(&subsample_time(x, self.stride)?)?, ctx)?;
                super::kernels::add_relu(&z, &skip)
            }
        }
    }
}

pub struct Stgcn {
    pub config: StgcnConfig,
    data_bn: Bn,
    blocks: Vec<Block>,
    adjacency: Tensor,
    fc_weight: Tensor,
    fc_bias: Tensor,
    v: usize,
}

impl Stgcn {
    /// Build the network for a skeleton with `num_joints` joints, `edges` and `center`; every parameter is
    /// created in `vb` (initialise it afterwards with [`super::init::seeded_init`] or load weights).
    pub fn new(
        config: &StgcnConfig,
        num_joints: usize,
        edges: &[[usize; 2]],
        center: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let v = num_joints;
        let a = match &config.adjacency {
            Some(a) => {
                if a.iter()
                    .any(|ak| ak.len() != v || ak.iter().any(|row| row.len() != v))
                {
                    candle_core::bail!("the stored adjacency is not {v} × {v} per partition");
                }
                a.clone()
            }
            None => partitioned_adjacency(v, edges, center, config.partition, config.max_hop),
        };
        let k = a.len();
        let flat: Vec<f32> = a.iter().flatten().flatten().copied().collect();
        let adjacency = Tensor::from_vec(flat, (k, v, v), vb.device())?;
        let bn_persons = config.data_bn_persons.unwrap_or(1);
        let data_bn = Bn::new(bn_persons * config.in_channels * v, vb.pp("data_bn"))?;
        let kt = config.temporal_kernel;
        if kt.is_multiple_of(2) {
            candle_core::bail!("temporal kernel must be odd, got {kt}");
        }
        let mut blocks = Vec::new();
        let mut cin = config.in_channels;
        for (i, &(cout, stride)) in config.blocks.iter().enumerate() {
            let bvb = vb.pp(format!("st_gcn_networks.{i}"));
            let residual = if i == 0 {
                Residual::None
            } else if cin == cout && stride == 1 {
                Residual::Identity
            } else {
                Residual::Conv(
                    Conv1x1::new(cin, cout, true, bvb.pp("residual.0"))?,
                    Bn::new(cout, bvb.pp("residual.1"))?,
                )
            };
            let importance = if config.edge_importance {
                vb.get_with_hints((k, v, v), &format!("edge_importance.{i}"), Init::Const(1.0))?
            } else {
                Tensor::ones((k, v, v), DType::F32, vb.device())?
            };
            // Zero at the start (not a weight, so `seeded_init` leaves it 0). Not pyskl's `gcn.PA`, which
            // holds an importance or a whole adjacency in its other modes.
            let offset = config
                .adaptive
                .then(|| bvb.get_with_hints((k, v, v), "gcn.graph_offset", Init::Const(0.0)))
                .transpose()?;
            blocks.push(Block {
                offset,
                gcn: Conv1x1::new(cin, cout * k, true, bvb.pp("gcn.conv"))?,
                bn1: Bn::new(cout, bvb.pp("tcn.0"))?,
                tcn: bvb.get_with_hints((cout, cout, kt, 1), "tcn.2.weight", Init::Const(0.0))?,
                tcn_bias: bvb.get_with_hints(cout, "tcn.2.bias", Init::Const(0.0))?,
                bn2: Bn::new(cout, bvb.pp("tcn.3"))?,
                residual,
                importance,
                stride,
                // As the official code: no dropout in the first block.
                dropout: if i == 0 { 0.0 } else { config.dropout },
            });
            cin = cout;
        }
        let fc_weight = vb.get_with_hints(
            (config.num_class, cin, 1, 1),
            "fcn.weight",
            Init::Const(0.0),
        )?;
        let fc_bias = vb.get_with_hints(config.num_class, "fcn.bias", Init::Const(0.0))?;
        Ok(Stgcn {
            config: config.clone(),
            data_bn,
            blocks,
            adjacency,
            fc_weight,
            fc_bias,
            v,
        })
    }

    /// Last block output in the internal layout (C', N·M, T', V).
    fn features_internal(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let (n, c, t, v, m) = x.dims5()?;
        if v != self.v {
            candle_core::bail!(
                "input has {v} joints but the model was built for {}",
                self.v
            );
        }
        let stride = self.config.temporal_stride();
        if t % stride != 0 {
            candle_core::bail!(
                "input length T={t} must be a multiple of the model's temporal stride {stride}"
            );
        }
        let mut h = ctx.cut(match self.config.data_bn_persons {
            // data_bn over (v, c) features, statistics over (N, M, T) — as ST-GCN's BatchNorm1d(V·C).
            None => {
                let h = x
                    .permute((3, 1, 0, 4, 2))?
                    .contiguous()?
                    .reshape((v * c, n * m * t))?;
                self.data_bn
                    .forward(&h, ctx)?
                    .reshape((v, c, n * m, t))?
                    .permute((1, 2, 3, 0))?
                    .contiguous()?
            }
            // pyskl's MVC: one statistic per (person slot, joint, channel), over (N, T).
            Some(persons) => {
                if m != persons {
                    candle_core::bail!(
                        "input has {m} person slots but the model's data batch norm has {persons}"
                    );
                }
                let h = x
                    .permute((4, 3, 1, 0, 2))?
                    .contiguous()?
                    .reshape((m * v * c, n * t))?;
                self.data_bn
                    .forward(&h, ctx)?
                    .reshape((m, v, c, n, t))?
                    .permute((2, 3, 0, 4, 1))?
                    .contiguous()?
                    .reshape((c, n * m, t, v))?
            }
        });
        for b in &self.blocks {
            let y = b.forward(&h, &self.adjacency, ctx)?;
            h = ctx.cut(y);
        }
        Ok(h)
    }

    /// The last block's output, **(N, C', T', V, M)**: what CAM weights with the head's class weights.
    pub fn features(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let (n, _, _, _, m) = x.dims5()?;
        let h = self.features_internal(x, ctx)?;
        let (c, _, t, v) = h.dims4()?;
        h.reshape((c, n, m, t, v))?.permute((1, 0, 3, 4, 2))
    }

    /// The classifier: global average over (T', V, M) then the linear layer; features (N, C', T', V, M).
    pub fn head(&self, features: &Tensor) -> Result<Tensor> {
        let pooled = mean_from(features, 2)?; // (N, C')
        self.linear(&pooled)
    }

    fn linear(&self, pooled: &Tensor) -> Result<Tensor> {
        let (classes, c) = (self.config.num_class, self.config.feature_channels());
        pooled
            .matmul(&self.fc_weight.reshape((classes, c))?.t()?)?
            .broadcast_add(&self.fc_bias)
    }

    /// Class weights (num_class, C') and bias (num_class) of the head.
    pub fn head_params(&self) -> Result<(Tensor, Tensor)> {
        Ok((
            self.fc_weight
                .reshape((self.config.num_class, self.config.feature_channels()))?,
            self.fc_bias.clone(),
        ))
    }

    /// Logits (N, num_class) for input (N, C, T, V, M).
    pub fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let n = x.dim(0)?;
        let h = self.features_internal(x, ctx)?;
        let c = h.dim(0)?;
        // Pool in the internal layout (no permute): mean over (M, T', V) per sample.
        let pooled = h.reshape((c, n, ()))?.mean(2)?.t()?;
        self.linear(&pooled)
    }

    pub fn device(&self) -> &Device {
        self.adjacency.device()
    }
}
