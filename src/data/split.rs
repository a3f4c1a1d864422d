//! Train/test splits: cross-subject (NTU standard list, MSR/synthetic odd subjects, or an explicit list) and
//! NTU cross-view (cameras 2 and 3 train).

use super::{Dataset, Format};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    CrossSubject,
    CrossView,
}

/// NTU-60 / NTU-120 cross-subject training subjects (the published list; docs/protocols.md, "Data conventions").
pub const NTU_TRAIN_SUBJECTS: &[u32] = &[
    1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38, 45, 46, 47, 49, 50,
    52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92, 93, 94, 95,
    97, 98, 100, 103,
];

/// Indices of the training and test samples.
pub fn split(
    ds: &Dataset,
    format: Format,
    split: Split,
    train_subjects: Option<&[u32]>,
) -> Result<(Vec<usize>, Vec<usize>)> {
    split_parts(ds, format, split, train_subjects, (None, None))
}

/// [`split`], choosing among the named parts of files that come split: `names` (train, test) when given,
/// else `train`/`val` for ST-GCN's files and `xsub_*` / `xview_*` (by `split`) for pyskl pickles, with
/// `*_test` when there is no `*_val`.
pub fn split_parts(
    ds: &Dataset,
    format: Format,
    split: Split,
    train_subjects: Option<&[u32]>,
    names: (Option<&str>, Option<&str>),
) -> Result<(Vec<usize>, Vec<usize>)> {
    if !ds.parts.is_empty() || format == Format::Pyskl {
        let prefix = match (format, split) {
            (Format::Pyskl, Split::CrossSubject) => "xsub_",
            (Format::Pyskl, Split::CrossView) => "xview_",
            _ => "",
        };
        let train = names
            .0
            .map(String::from)
            .unwrap_or(format!("{prefix}train"));
        let test = match names.1 {
            Some(t) => t.to_string(),
            None if ds.parts.contains_key(&format!("{prefix}val")) => format!("{prefix}val"),
            None => format!("{prefix}test"),
        };
        let part = |name: &str, option: &str| {
            ds.parts.get(name).cloned().ok_or_else(|| {
                Error::invalid(
                    option,
                    name,
                    format!(
                        "a part the data has: {}",
                        if ds.parts.is_empty() {
                            "it has none (a pickle without a split)".to_string()
                        } else {
                            ds.parts.keys().cloned().collect::<Vec<_>>().join(", ")
                        }
                    ),
                )
            })
        };
        return Ok((part(&train, "split_train")?, part(&test, "split_test")?));
    }
    type IsTrain = Box<dyn Fn(&super::Sequence) -> Result<bool>>;
    let is_train: IsTrain = match (split, train_subjects) {
        (Split::CrossSubject, Some(list)) => {
            let list = list.to_vec();
            Box::new(move |s| Ok(list.contains(&s.subject)))
        }
        (Split::CrossSubject, None) => match format {
            Format::Ntu => Box::new(|s| Ok(NTU_TRAIN_SUBJECTS.contains(&s.subject))),
            Format::Msr
            | Format::Synthetic
            | Format::StgcnNpy
            | Format::Pyskl
            | Format::CtrgcnNpz
            | Format::KineticsJson => Box::new(|s| Ok(s.subject % 2 == 1)),
            Format::Csv => {
                return Err(Error::invalid(
                    "train_subjects",
                    "nothing",
                    "the training subjects (e.g. 1,3,5) for a cross-subject split of csv data",
                ))
            }
        },
        (Split::CrossView, _) => Box::new(|s| {
            match s.camera {
            Some(c) => Ok(c == 2 || c == 3),
            None => Err(Error::invalid(
                "split",
                "cross-view",
                format!("a split the data supports: cross-view needs camera ids, and sample {} has none", s.name),
            )),
        }
        }),
    };
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (i, s) in ds.samples.iter().enumerate() {
        if is_train(s)? {
            train.push(i)
        } else {
            test.push(i)
        }
    }
    if train.is_empty() || test.is_empty() {
        return Err(Error::invalid(
            "split",
            format!("{split:?}"),
            format!(
                "a split with training and test samples; this one leaves {} training and {} test samples (check the split and its training subjects)",
                train.len(),
                test.len()
            ),
        ));
    }
    Ok((train, test))
}
