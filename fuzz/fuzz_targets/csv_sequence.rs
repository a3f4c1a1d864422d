#![no_main]
//! One sequence CSV of the generic format.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let p = common::file("x.csv", data);
    let _ = skelcam::data::csv::read_sequence(&p, &common::layout("kinect20"), 2);
});
