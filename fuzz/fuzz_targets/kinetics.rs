#![no_main]
//! Kinetics-skeleton JSON: the fuzzed bytes are one clip file of the training part.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = common::scratch().join("kinetics");
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/stgcn/kinetics");
    {
        for part in ["kinetics_train", "kinetics_val"] {
            std::fs::create_dir_all(dir.join(part)).unwrap();
            for e in std::fs::read_dir(fixtures.join(part)).unwrap() {
                let e = e.unwrap();
                std::fs::copy(e.path(), dir.join(part).join(e.file_name())).unwrap();
            }
            let label = format!("{part}_label.json");
            std::fs::copy(fixtures.join(&label), dir.join(&label)).unwrap();
        }
    }
    let clip = std::fs::read_dir(dir.join("kinetics_train"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&clip, data).unwrap();
    let _ = skelcam::data::kinetics::load_dir(&dir, &common::layout("openpose18"), 2);
});
