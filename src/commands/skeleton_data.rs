//! The data a skeleton command works on: the run's own data with the command's [`DataSource`] applied,
//! loaded, normalised and checked against the model, with its test split; or one sequence file.

use crate::config::{DataSource, SkeletonTrainConfig};
use crate::data::{self, Dataset, Format, ReadOutcome, Sequence};
use crate::models::SkeletonModel;
use crate::train::skeleton::{load_dataset, load_options};
use crate::{Error, Result};
use std::path::Path;

/// A run's data under a command's source: every sample and the configuration used.
pub struct RunData {
    pub ds: Dataset,
    pub cfg: SkeletonTrainConfig,
}

impl RunData {
    /// The test split's sample indices.
    pub fn test(&self) -> Result<Vec<usize>> {
        Ok(self.split()?.1)
    }

    /// The (training, test) sample indices.
    pub fn split(&self) -> Result<(Vec<usize>, Vec<usize>)> {
        let c = &self.cfg;
        data::split::split_parts(
            &self.ds,
            c.format,
            c.split,
            c.train_subjects.as_deref(),
            c.part_names(),
        )
    }
}

/// Load the data `source` names (default: the run's own) and check that it fits the model.
pub fn load(model: &SkeletonModel, source: &DataSource) -> Result<RunData> {
    let cfg = source.for_run(&model.run.train);
    let mut ds = load_dataset(&load_options(&cfg))?;
    check_compatible(model, &mut ds)?;
    Ok(RunData { ds, cfg })
}

/// The test split of the data `source` names.
pub fn load_test(model: &SkeletonModel, source: &DataSource) -> Result<(Dataset, Vec<usize>)> {
    let d = load(model, source)?;
    let test = d.test()?;
    Ok((d.ds, test))
}

/// The data must match the model: same joint count and the same classes.
pub fn check_compatible(model: &SkeletonModel, ds: &mut data::Dataset) -> Result<()> {
    if ds.layout.num_joints() != model.run.layout.num_joints() {
        return Err(Error::usage(format!(
            "the data's layout {} has {} joints, but the model was trained on layout {} with {}",
            ds.layout.name,
            ds.layout.num_joints(),
            model.run.layout.name,
            model.run.layout.num_joints()
        )));
    }
    let (a, b) = (&ds.layout, &model.run.layout);
    if a.joints != b.joints || a.edges != b.edges || a.center != b.center {
        return Err(Error::usage(format!(
            "the data is read with layout {}, but the model was trained on layout {} (same joint count, \
             different joints or bones); pass --layout {} or data of that layout",
            a.name, b.name, b.name
        )));
    }
    ds.match_classes(&model.run.classes, "the data")?;
    Ok(())
}

/// Read one sequence file of the given format and normalise it like the training data.
pub fn read_input(path: &Path, format: Format, model: &SkeletonModel) -> Result<Sequence> {
    let layout = &model.run.layout;
    let outcome =
        match format {
            Format::Msr => data::msr::read_file(path, layout)?,
            Format::Ntu => data::ntu::read_file(path, layout, model.run.persons)?,
            Format::Csv => {
                let (d, w) = data::csv::read_sequence(path, layout, model.run.persons)?;
                let (d, _) = data::drop_empty_frames(d);
                if d.shape()[1] == 0 {
                    return Err(Error::data(
                        path,
                        "every coordinate is zero: nothing to explain",
                    ));
                }
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                ReadOutcome::Sequence(
                    Sequence {
                        name,
                        label: 0,
                        subject: 0,
                        camera: None,
                        setup: None,
                        data: d,
                    },
                    w,
                )
            }
            Format::StgcnNpy | Format::Pyskl | Format::CtrgcnNpz | Format::KineticsJson => return Err(Error::invalid(
                "input",
                path.display(),
                "a single sequence file; stgcn-npy and pyskl data are read as a whole (pass them as the data)",
            )),
            Format::Synthetic => {
                return Err(Error::invalid(
                    "input",
                    path.display(),
                    "left out for synthetic data, which has no files (or name the file's format)",
                ))
            }
        };
    let mut seq = match outcome {
        ReadOutcome::Sequence(s, _) => s,
        ReadOutcome::NoSkeleton(why) => {
            return Err(Error::data(path, format!("nothing to explain: {why}")))
        }
    };
    model
        .run
        .train
        .preprocess
        .apply(&mut seq, layout)
        .map_err(|why| Error::data(path, why))?;
    Ok(seq)
}
