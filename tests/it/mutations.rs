//! Property tests of every reader: valid files (hand-written or the committed fixtures) mutated at random —
//! flipped and inserted bytes, cuts, duplicated slices, numbers replaced by huge or negative ones — must give
//! `Ok` or an error, never a panic, and never an allocation as large as a size field claims (that would abort
//! this process). Seeded, so a failure repeats; `cargo fuzz` (fuzz/) runs the same readers open-ended.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use skelcam::data::{self, Layout};
use std::path::{Path, PathBuf};

/// Mutations per file (`SKELCAM_MUTATION_ROUNDS` for a longer search).
fn rounds() -> usize {
    std::env::var("SKELCAM_MUTATION_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150)
}
const HUGE: [&str; 6] = [
    "99999999999999999999",
    "4294967296",
    "-1",
    "1e39",
    "NaN",
    "1099511627776",
];

/// One random mutation of `bytes`.
fn mutate(bytes: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let n = b.len().max(1);
    match rng.random_range(0..5) {
        0 => {
            for _ in 0..rng.random_range(1..8) {
                let i = rng.random_range(0..n);
                if i < b.len() {
                    b[i] = rng.random();
                }
            }
        }
        1 => b.truncate(rng.random_range(0..n)),
        2 => {
            // Replace a run of digits with a hostile number.
            let starts: Vec<usize> = (0..b.len()).filter(|&i| b[i].is_ascii_digit()).collect();
            if let Some(&i) = starts.get(rng.random_range(0..starts.len().max(1))) {
                let j = (i..b.len())
                    .find(|&j| !b[j].is_ascii_digit())
                    .unwrap_or(b.len());
                let h = HUGE[rng.random_range(0..HUGE.len())].as_bytes();
                b.splice(i..j, h.iter().copied());
            } else {
                b.extend_from_slice(HUGE[0].as_bytes());
            }
        }
        3 => {
            let i = rng.random_range(0..n);
            let j = (i + rng.random_range(1..64)).min(b.len());
            let slice = b.get(i..j).unwrap_or(&[]).to_vec();
            b.splice(i.min(b.len())..i.min(b.len()), slice);
        }
        _ => {
            let i = rng.random_range(0..n).min(b.len());
            let extra: Vec<u8> = (0..rng.random_range(1..16)).map(|_| rng.random()).collect();
            b.splice(i..i, extra);
        }
    }
    b
}

/// Write [`rounds`] mutations of `seed_bytes` to `path` and call `read` on each; a panic fails with the seed.
fn survive(name: &str, path: &Path, seed_bytes: &[u8], read: impl Fn(&Path)) {
    let mut rng = StdRng::seed_from_u64(0x5eed ^ name.len() as u64);
    std::fs::write(path, seed_bytes).unwrap();
    read(path);
    for round in 0..rounds() {
        let m = mutate(seed_bytes, &mut rng);
        std::fs::write(path, &m).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(path)));
        if r.is_err() {
            let kept = path.with_extension(format!("crash{round}"));
            std::fs::write(&kept, &m).unwrap();
            panic!(
                "{name}: round {round} panicked; input kept at {}",
                kept.display()
            );
        }
    }
    std::fs::write(path, seed_bytes).unwrap();
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn text_readers_survive_mutated_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ntu25 = Layout::resolve("ntu25").unwrap();
    let msr20 = Layout::resolve("msr20").unwrap();
    let kinect = Layout::resolve("kinect20").unwrap();
    let ntu = d.join("S001C001P001R001A001.skeleton");
    survive("ntu", &ntu, crate::readers::ntu_file().as_bytes(), |p| {
        let _ = data::ntu::read_file(p, &ntu25, 2);
    });
    let msr = d.join("a01_s01_e01_skeleton3D.txt");
    survive(
        "msr",
        &msr,
        crate::readers::msr_text(5, &[2]).as_bytes(),
        |p| {
            let _ = data::msr::read_file(p, &msr20);
        },
    );
    let seq = d.join("x.csv");
    survive(
        "csv sequence",
        &seq,
        crate::readers::csv_seq(4, 2).as_bytes(),
        |p| {
            let _ = data::csv::read_sequence(p, &kinect, 2);
        },
    );
    let labels = d.join("labels.csv");
    let text = b"file,label,subject,camera\nx.csv,wave,1,2\ny.csv,clap,2,1\n";
    survive("labels.csv", &labels, text, |p| {
        let _ = data::csv::read_labels(p);
    });
    let layout =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/layouts/ntu25.json"))
            .unwrap();
    survive("layout json", &d.join("layout.json"), &layout, |p| {
        let _ = Layout::resolve(p.to_str().unwrap());
    });
    let config =
        serde_json::to_vec_pretty(&skelcam::config::SkeletonTrainConfig::default()).unwrap();
    survive("config json", &d.join("config.json"), &config, |p| {
        if let Ok(c) = skelcam::io::read_json::<skelcam::config::SkeletonTrainConfig>(p) {
            let _ = c.validate();
        }
    });
}

#[test]
fn binary_readers_survive_mutated_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ntu25 = Layout::resolve("ntu25").unwrap();
    // Pickles (ST-GCN labels, pyskl annotations) through the restricted unpickler and the pyskl reader.
    for name in ["train_label.pkl", "pyskl_ntu.pkl"] {
        let bytes = std::fs::read(fixture(&format!("stgcn/{name}"))).unwrap();
        survive(name, &d.join(name), &bytes, |p| {
            let _ = data::pickle::load(&std::fs::read(p).unwrap());
        });
    }
    let pyskl = std::fs::read(fixture("stgcn/pyskl_ntu.pkl")).unwrap();
    let pyskl_layout = Layout::resolve("ntu25-pyskl").unwrap();
    survive("pyskl", &d.join("pyskl.pkl"), &pyskl, |p| {
        let _ = data::pyskl::load_file(p, &pyskl_layout, 2);
    });
    let npz = std::fs::read(fixture("stgcn/ctrgcn.npz")).unwrap();
    survive("ctrgcn npz", &d.join("ctrgcn.npz"), &npz, |p| {
        let _ = data::ctrgcn_npz::load_file(p, &ntu25, 2);
    });
    // ST-GCN's folder: the data array and the label pickle, each mutated in turn.
    let stgcn = d.join("stgcn");
    for f in [
        "train_data.npy",
        "train_label.pkl",
        "val_data.npy",
        "val_label.pkl",
    ] {
        std::fs::create_dir_all(&stgcn).unwrap();
        std::fs::copy(fixture(&format!("stgcn/{f}")), stgcn.join(f)).unwrap();
    }
    for f in ["train_data.npy", "val_label.pkl"] {
        let bytes = std::fs::read(stgcn.join(f)).unwrap();
        survive(f, &stgcn.join(f), &bytes, |_| {
            let _ = data::stgcn_npy::load_dir(&stgcn, &ntu25, 2);
        });
    }
    // Kinetics JSON: one clip file and the label file.
    let kin = d.join("kinetics");
    copy_dir(&fixture("stgcn/kinetics"), &kin);
    let openpose = Layout::resolve("openpose18").unwrap();
    let clip = std::fs::read_dir(kin.join("kinetics_train"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for f in [clip, kin.join("kinetics_train_label.json")] {
        let bytes = std::fs::read(&f).unwrap();
        survive("kinetics", &f, &bytes, |_| {
            let _ = data::kinetics::load_dir(&kin, &openpose, 2);
        });
    }
}

#[test]
fn pictures_and_run_weights_survive_mutated_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let img = image::RgbImage::from_fn(24, 16, |x, y| image::Rgb([x as u8 * 9, y as u8 * 13, 77]));
    for (name, format) in [
        ("p.png", image::ImageFormat::Png),
        ("p.jpg", image::ImageFormat::Jpeg),
    ] {
        let mut bytes = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut bytes), format)
            .unwrap();
        survive(name, &d.join(name), &bytes, |p| {
            let _ = data::images::decode(p);
        });
    }
    let run = d.join("run");
    crate::common::train_tiny(&run, &["--epochs", "1"]).success();
    let model = run.join("model.safetensors");
    let weights = std::fs::read(&model).unwrap();
    survive("run weights", &model, &weights, |_| {
        let _ = skelcam::models::SkeletonModel::load(&run);
    });
    let config = std::fs::read(run.join("config.json")).unwrap();
    survive("run config", &run.join("config.json"), &config, |_| {
        let _ = skelcam::models::SkeletonModel::load(&run);
    });
}
