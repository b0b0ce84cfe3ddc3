//! Streaming statistics per step and metric key (the original's river models).

use std::fmt;
use std::str::FromStr;

/// A statistic a rule can read: `<model>.<step>.<key>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Model {
    /// Number of observations (or counter value for `success`/`failure`).
    Count,
    /// Arithmetic mean.
    Mean,
    /// Sample variance (n − 1 denominator; 0 with fewer than two samples).
    Variance,
    /// Interquartile range (q75 − q25).
    Iqr,
    /// Smallest sample.
    Min,
    /// Largest sample.
    Max,
    /// Median absolute deviation from the median.
    Mad,
}

impl Model {
    /// Every model with its name, in the order the original listed them.
    pub const ALL: [(&'static str, Model); 7] = [
        ("count", Model::Count),
        ("mean", Model::Mean),
        ("variance", Model::Variance),
        ("iqr", Model::Iqr),
        ("min", Model::Min),
        ("max", Model::Max),
        ("mad", Model::Mad),
    ];

    /// The model's name in metric strings.
    pub fn name(self) -> &'static str {
        Model::ALL.iter().find(|(_, m)| *m == self).map(|(n, _)| *n).unwrap_or("count")
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Model {
    type Err = String;
    fn from_str(s: &str) -> Result<Model, String> {
        Model::ALL.iter().find(|(n, _)| *n == s).map(|(_, m)| *m).ok_or_else(|| {
            let names: Vec<&str> = Model::ALL.iter().map(|(n, _)| *n).collect();
            format!(
                "unknown model `{s}`{}; allowed: {}",
                crate::validate::did_you_mean(s, names.iter().copied()),
                names.join(", ")
            )
        })
    }
}
