#![no_main]
//! NTU RGB+D .skeleton reader.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let p = common::file("S001C001P001R001A001.skeleton", data);
    let _ = skelcam::data::ntu::read_file(&p, &common::layout("ntu25"), 2);
});
