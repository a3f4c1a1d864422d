//! The residual join y = ReLU(a + b) as one node: one pass forward, and a backward that masks the gradient by
//! y > 0 (candle's relu backward builds a comparison mask, converts it and multiplies, after a separate add).

use super::contiguous_f32;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

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
