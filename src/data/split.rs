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
    if let Some((train, test)) = &ds.parts {
        return Ok((train.clone(), test.clone()));
    }
    let is_train: Box<dyn Fn(&super::Sequence) -> Result<bool>> = match (split, train_subjects) {
        (Split::CrossSubject, Some(list)) => {
            let list = list.to_vec();
            Box::new(move |s| Ok(list.contains(&s.subject)))
        }
        (Split::CrossSubject, None) => match format {
            Format::Ntu => Box::new(|s| Ok(NTU_TRAIN_SUBJECTS.contains(&s.subject))),
            Format::Msr | Format::Synthetic | Format::StgcnNpy => {
                Box::new(|s| Ok(s.subject % 2 == 1))
            }
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
