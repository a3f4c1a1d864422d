#![no_main]
//! A skeleton run directory: the fuzzed bytes are its config.json or its model.safetensors.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The first byte picks the file; a valid run from the seed corpus fills the other.
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let dir = common::scratch().join("run");
    std::fs::create_dir_all(&dir).unwrap();
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/run");
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(seed.join(f), dir.join(f)).unwrap();
    }
    let target = if which % 2 == 0 {
        "config.json"
    } else {
        "model.safetensors"
    };
    std::fs::write(dir.join(target), rest).unwrap();
    let _ = skelcam::models::SkeletonModel::load(&dir);
});
