#![no_main]
//! Picture decoding (JPEG and PNG).

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let p = common::file("picture", data);
    let _ = skelcam::data::images::decode(&p);
});
