#![no_main]
//! Layout JSON files.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let p = common::file("layout.json", data);
    let _ = skelcam::data::Layout::resolve(p.to_str().unwrap());
});
