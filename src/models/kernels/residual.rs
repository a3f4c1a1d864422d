//! The residual join y = ReLU(a + b) as one node: one pass forward, and a backward that masks the gradient by
//! y > 0 (candle's relu backward builds a comparison mask, converts it and multiplies, after a separate add).

use super::batchnorm::affine;
use super::contiguous_f32;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

/// Elements per parallel work item.
const CHUNK: usize = 1 << 14;

/// The forward of an elementwise two-input op: f(a_i, b_i) over two contiguous same-shape f32 storages,
/// in parallel chunks, shaped as the first.
fn zip_map(
    op: &str,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    f: impl Fn(f32, f32) -> f32 + Sync,
) -> Result<(CpuStorage, Shape)> {
    let (a, b) = (contiguous_f32(s1, l1, op)?, contiguous_f32(s2, l2, op)?);
    if a.len() != b.len() {
        candle_core::bail!("{op}: {} and {} elements", a.len(), b.len());
    }
    // SAFETY: the closure writes every element of its piece (write_all checks the count).
    let (out, _) = unsafe {
        super::par_init(a.len(), 0, CHUNK, |i, o| {
            let r = i * CHUNK..i * CHUNK + o.len();
            super::write_all(o, a[r.clone()].iter().zip(&b[r]).map(|(&a, &b)| f(a, b)));
        })
    };
    Ok((CpuStorage::F32(out), l1.shape().clone()))
}

struct AddRelu;

/// ∂L/∂y masked by y > 0 (arguments: ∂L/∂y, y).
struct ReluMask;

impl CustomOp2 for AddRelu {
    fn name(&self) -> &'static str {
        "add-relu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        zip_map(self.name(), (s1, l1), (s2, l2), |a, b| (a + b).max(0.0))
    }

    fn bwd(
        &self,
        _a: &Tensor,
        _b: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = grad
            .detach()
            .contiguous()?
            .apply_op2_no_bwd(&y.detach(), &ReluMask)?;
        Ok((Some(g.clone()), Some(g)))
    }
}

impl CustomOp2 for ReluMask {
    fn name(&self) -> &'static str {
        "relu-mask"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        zip_map(self.name(), (s1, l1), (s2, l2), |g, y| {
            if y > 0.0 {
                g
            } else {
                0.0
            }
        })
    }
}

/// ReLU(a + b) for same-shape f32 tensors, one differentiable node. `SKELCAM_KERNELS=candle`: `(a + b).relu()`.
pub fn add_relu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.dims() != b.dims() {
        candle_core::bail!("add-relu: shapes {:?} and {:?} differ", a.dims(), b.dims());
    }
    if !crate::models::fast_kernels() {
        return (a + b)?.relu();
    }
    a.contiguous()?.apply_op2(&b.contiguous()?, AddRelu)
}

/// The eval-mode end of a residual block in one pass, for inference only (no backward):
/// y = ReLU(z·s + t + skip), or ReLU(z·s + t + (r·s' + t')) when the skip has its own batch norm, with each
/// sum rounded in the order of the unfused ops ([`super::batchnorm::channel_affine`] then [`add_relu`]), so the
/// result is bit for bit theirs; it saves writing and reading the normalised tensors.
struct EvalTail {
    /// Whether the skip is normalised (factors (s, t, s', t') instead of (s, t)).
    normed_skip: bool,
}

impl CustomOp3 for EvalTail {
    fn name(&self) -> &'static str {
        "eval-bn-add-relu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let op = self.name();
        let (z, skip) = (contiguous_f32(s1, l1, op)?, contiguous_f32(s2, l2, op)?);
        let f = contiguous_f32(s3, l3, op)?;
        let c = f.len() / if self.normed_skip { 4 } else { 2 };
        if z.len() != skip.len() || c == 0 || z.len() % c != 0 {
            candle_core::bail!(
                "{op}: {} and {} elements for {c} channels",
                z.len(),
                skip.len()
            );
        }
        let n = z.len() / c;
        // SAFETY: the closure writes every element of its piece (write_all checks the count).
        let (y, _) = unsafe {
            super::par_init(z.len(), 0, n, |ch, y| {
                let (s, t) = (f[ch], f[c + ch]);
                let r = ch * n..ch * n + y.len();
                let (z, skip) = (&z[r.clone()], &skip[r]);
                let pairs = z.iter().zip(skip);
                if self.normed_skip {
                    let (s2, t2) = (f[2 * c + ch], f[3 * c + ch]);
                    super::write_all(
                        y,
                        pairs.map(|(&z, &r)| {
                            (affine(z, s, t, false) + affine(r, s2, t2, false)).max(0.0)
                        }),
                    );
                } else {
                    super::write_all(
                        y,
                        pairs.map(|(&z, &r)| (affine(z, s, t, false) + r).max(0.0)),
                    );
                }
            })
        };
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }
}

/// ReLU(z·scale + shift + skip) per channel of channel-first `z` (C, ...), where `skip` is the block's input
/// as it is (`skip_affine` None) or itself normalised by its (scale, shift): eval-mode batch norm, the
/// residual sum and the ReLU in one pass with no backward, for inference under [`crate::models::Ctx::eval`].
pub fn eval_bn_add_relu(
    z: &Tensor,
    (scale, shift): (&Tensor, &Tensor),
    skip: &Tensor,
    skip_affine: Option<(&Tensor, &Tensor)>,
) -> Result<Tensor> {
    if z.dims() != skip.dims() {
        candle_core::bail!(
            "eval-bn-add-relu: shapes {:?} and {:?} differ",
            z.dims(),
            skip.dims()
        );
    }
    let c = z.dim(0)?;
    let mut factors = vec![scale, shift];
    factors.extend(skip_affine.iter().flat_map(|(s, t)| [*s, *t]));
    if factors.iter().any(|f| f.elem_count() != c) {
        candle_core::bail!("eval-bn-add-relu: {c} channels but factors of another length");
    }
    let flat = factors
        .iter()
        .map(|f| f.flatten_all())
        .collect::<Result<Vec<_>>>()?;
    let packed = Tensor::cat(&flat, 0)?.detach();
    z.detach().contiguous()?.apply_op3_no_bwd(
        &skip.detach().contiguous()?,
        &packed,
        &EvalTail {
            normed_skip: skip_affine.is_some(),
        },
    )
}
