//! The data a skeleton command works on: the run's own data with the command's [`DataSource`] applied,
//! loaded, normalised and checked against the model, with its test split; or one sequence file.

use crate::config::{DataSource, SkeletonTrainConfig};
use crate::data::{self, Dataset, Format, LoadOptions, ReadOutcome, Sequence};
use crate::models::SkeletonModel;
use crate::train::skeleton::{load_dataset, load_options};
use crate::{Error, Result};
use std::borrow::Cow;
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

    /// Sample `i` with its coordinates, normalised like the training data: from memory, or read again from
    /// its file when the data was loaded by [`load_index`].
    pub fn sample(&self, i: usize) -> Result<Cow<'_, Sequence>> {
        let s = &self.ds.samples[i];
        if self.ds.files.is_empty() {
            return Ok(Cow::Borrowed(s));
        }
        let path = &self.ds.files[i];
        let opts = load_options(&self.cfg);
        let layout = &self.ds.layout;
        let data = match data::read_file(path, opts.format, layout, opts.max_persons)? {
            ReadOutcome::Sequence(read, _) => read.data,
            ReadOutcome::NoSkeleton(why) => {
                return Err(Error::data(
                    path,
                    format!("changed while being explained: {why}"),
                ))
            }
        };
        let mut seq = Sequence { data, ..s.clone() };
        opts.preprocess
            .apply(&mut seq, layout)
            .map_err(|why| Error::data(path, why))?;
        Ok(Cow::Owned(seq))
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
    load_with(model, source, true)
}

/// Like [`load`], but for formats of one file per sequence only the index stays in memory (every file is
/// read and checked once); [`RunData::sample`] reads a sample's coordinates again when it is needed. For
/// commands that go through the samples one at a time, so that memory does not grow with the data.
pub fn load_index(model: &SkeletonModel, source: &DataSource) -> Result<RunData> {
    load_with(model, source, false)
}

fn load_with(model: &SkeletonModel, source: &DataSource, keep_data: bool) -> Result<RunData> {
    let cfg = source.for_run(&model.run.train);
    let opts = LoadOptions {
        keep_data,
        ..load_options(&cfg)
    };
    let mut ds = if keep_data {
        load_dataset(&opts)?
    } else {
        crate::returning_freed_memory(|| load_dataset(&opts))?
    };
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
    let outcome = match format {
        Format::StgcnNpy | Format::Pyskl | Format::CtrgcnNpz | Format::KineticsJson => {
            return Err(Error::invalid(
                "input",
                path.display(),
                "a single sequence file; stgcn-npy and pyskl data are read as a whole (pass them as the data)",
            ))
        }
        Format::Synthetic => {
            return Err(Error::invalid(
                "input",
                path.display(),
                "left out for synthetic data, which has no files (or name the file's format)",
            ))
        }
        _ => data::read_file(path, format, layout, model.run.persons)?,
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
