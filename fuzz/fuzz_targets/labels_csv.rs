#![no_main]
//! labels.csv of the generic format.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let p = common::file("labels.csv", data);
    let _ = skelcam::data::csv::read_labels(&p);
});
