//! Hand-written CPU kernels behind candle's `CustomOp` interface, each with a backward, where candle's
//! composition of generic ops is slow (measured by `skelcam bench`, checked against the generic path by tests).

pub mod unfold;

pub use unfold::temporal_unfold;
