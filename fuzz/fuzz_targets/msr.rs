#![no_main]
//! MSR Action3D text reader.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let p = common::file("a01_s01_e01_skeleton3D.txt", data);
    let _ = skelcam::data::msr::read_file(&p, &common::layout("msr20"));
});
