#![no_main]
//! ST-GCN preprocessed folder: the fuzzed bytes are train_data.npy (the other files from the fixtures).

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = common::scratch().join("stgcn");
    std::fs::create_dir_all(&dir).unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/stgcn");
    for f in ["train_label.pkl", "val_data.npy", "val_label.pkl"] {
        std::fs::copy(fixtures.join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("train_data.npy"), data).unwrap();
    let _ = skelcam::data::stgcn_npy::load_dir(&dir, &common::layout("ntu25"), 2);
});
