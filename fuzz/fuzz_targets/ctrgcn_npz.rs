#![no_main]
//! CTR-GCN NTU .npz archives.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let p = common::file("ntu.npz", data);
    let _ = skelcam::data::ctrgcn_npz::load_file(&p, &common::layout("ntu25"), 2);
});
