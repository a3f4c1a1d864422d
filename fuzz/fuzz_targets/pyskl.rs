#![no_main]
//! pyskl / mmaction2 annotation pickles.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let p = common::file("annotations.pkl", data);
    let _ = skelcam::data::pyskl::load_file(&p, &common::layout("ntu25-pyskl"), 2);
});
