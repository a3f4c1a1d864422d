#![no_main]
//! Training configuration JSON (--config), parsed and validated.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let p = common::file("config.json", data);
    if let Ok(c) = skelcam::io::read_json::<skelcam::config::SkeletonTrainConfig>(&p) {
        let _ = c.validate();
    }
    if let Ok(c) = skelcam::io::read_json::<skelcam::config::ImageTrainConfig>(&p) {
        let _ = c.validate();
    }
});
