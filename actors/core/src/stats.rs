//! Streaming statistics per step and metric key (the original's river models).

use std::collections::{BTreeMap, HashMap};
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

/// `{model: {step: {key: value}}}`, the shape of [`Stats::summary`].
pub type Summary = BTreeMap<String, BTreeMap<String, BTreeMap<String, f64>>>;

/// Streaming statistics of every `<step>.<key>` of a workflow.
///
/// Memory per `<step>.<key>` is bounded, whatever the number of samples, so a run (or an
/// operator) that goes on for millions of jobs keeps the same footprint:
///
/// - count, mean, variance (Welford's update), min and max are exact, always;
/// - quantiles (the IQR, the MAD, the medians and p95s of summary tables) are exact up to
///   [`EXACT_SAMPLES`] samples — every workflow of the original's size. Past that they are read
///   from a uniform random sample of [`EXACT_SAMPLES`] values (reservoir sampling, Vitter's
///   algorithm R, with a fixed seed so runs are reproducible). The error of such an estimate of
///   the `q`-quantile is about `sqrt(q(1-q)/n)` in rank with `n` = 8192: a median (or the
///   quartiles of the IQR) is within ±0.6 % (±0.5 %) of the samples' ranks of the true one for
///   95 % of runs, whatever the distribution. The original's river models approximated them from
///   the first sample on.
///
/// Costs with `k` ≤ [`EXACT_SAMPLES`] kept samples: [`Stats::increment`] and reading count,
/// mean, variance, min, max, a quantile or the IQR are O(1) after the hash lookups;
/// [`Stats::record`] is a binary search plus a `memmove` of at most `k` values; reading the MAD
/// is O(log² k), as the k-th element of two sorted sequences of deviations.
///
/// Non-finite samples (NaN, ±∞) are ignored altogether — not counted either — because one of them
/// would turn the mean and variance into NaN for the rest of the run and make every rule reading
/// them silently stop firing.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// step → key → series. Nested maps so that lookups by `(&str, &str)` allocate nothing.
    steps: HashMap<String, HashMap<String, Series>>,
}

/// How many samples per `<step>.<key>` are kept for quantiles (see [`Stats`]).
pub const EXACT_SAMPLES: usize = 8192;

/// The statistics of one `<step>.<key>`.
#[derive(Clone, Debug, Default)]
struct Series {
    /// Increments plus samples: what `count` reads.
    count: u64,
    /// Samples seen (kept or not).
    samples: u64,
    /// Running mean of the samples (Welford).
    mean: f64,
    /// Running sum of squared deviations from the mean (Welford).
    m2: f64,
    /// Smallest and largest sample (exact even when not every sample is kept).
    min: f64,
    max: f64,
    /// The kept samples, ascending: all of them up to [`EXACT_SAMPLES`], then a uniform sample.
    sorted: Vec<f64>,
    /// State of the reservoir's random choices (splitmix64; fixed seed, reproducible).
    rng: u64,
}

impl Series {
    fn add(&mut self, value: f64) {
        self.count += 1;
        self.samples += 1;
        let n = self.samples as f64;
        let delta = value - self.mean;
        self.mean += delta / n;
        self.m2 += delta * (value - self.mean);
        if self.samples == 1 {
            (self.min, self.max) = (value, value);
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        if self.sorted.len() < EXACT_SAMPLES {
            let at = self.sorted.partition_point(|s| *s <= value);
            self.sorted.insert(at, value);
            return;
        }
        // Algorithm R: the n-th sample replaces a kept one with probability k/n. Any index of
        // the sorted reservoir is a uniformly chosen kept sample.
        let j = self.next_random() % self.samples;
        if let Ok(j) = usize::try_from(j)
            && j < self.sorted.len()
        {
            self.sorted.remove(j);
            let at = self.sorted.partition_point(|s| *s <= value);
            self.sorted.insert(at, value);
        }
    }

    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn quantile(&self, q: f64) -> Option<f64> {
        let s = &self.sorted;
        if s.is_empty() || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let pos = q * (s.len() - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = pos.ceil() as usize;
        Some(s[lo] + (s[hi] - s[lo]) * (pos - lo as f64))
    }

    fn nearest_rank(&self, q: f64) -> Option<f64> {
        let s = &self.sorted;
        if s.is_empty() || !(0.0..=1.0).contains(&q) {
            return None;
        }
        // The smallest sample with at least ⌈q·n⌉ samples at or below it (rank 1 for q = 0).
        let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
        s.get(rank - 1).copied()
    }

    /// Median of `|x − median|` without materialising the deviations: the samples below the
    /// median, read right to left, and those from it on, read left to right, are two ascending
    /// sequences of deviations, and a median is one or two k-th elements of their merge.
    fn mad(&self) -> Option<f64> {
        let s = &self.sorted;
        let median = self.quantile(0.5)?;
        let p = s.partition_point(|x| *x < median);
        let left = |i: usize| median - s[p - 1 - i];
        let right = |j: usize| s[p + j] - median;
        let (a, b) = (p, s.len() - p);
        // k-th (0-based) smallest deviation: find how many, i, come from `left`.
        let kth = |k: usize| {
            let (mut lo, mut hi) = ((k + 1).saturating_sub(b), a.min(k + 1));
            while lo < hi {
                let i = lo + (hi - lo) / 2;
                // Taking i from `left` is too few while the k+1-i-th from `right` exceeds left(i).
                if right(k - i) > left(i) { lo = i + 1 } else { hi = i }
            }
            let i = lo;
            let from_left = if i > 0 { left(i - 1) } else { f64::NEG_INFINITY };
            let from_right = if i <= k { right(k - i) } else { f64::NEG_INFINITY };
            from_left.max(from_right)
        };
        let n = s.len();
        Some(if n % 2 == 1 { kth(n / 2) } else { (kth(n / 2 - 1) + kth(n / 2)) / 2.0 })
    }

    fn value(&self, model: Model) -> Option<f64> {
        let n = self.samples;
        match model {
            Model::Count => Some(self.count as f64),
            _ if n == 0 => None,
            Model::Mean => Some(self.mean),
            Model::Variance => Some(if n > 1 { self.m2 / (n - 1) as f64 } else { 0.0 }),
            Model::Iqr => Some(self.quantile(0.75)? - self.quantile(0.25)?),
            Model::Min => Some(self.min),
            Model::Max => Some(self.max),
            Model::Mad => self.mad(),
        }
    }
}

impl Stats {
    /// No statistics yet.
    pub fn new() -> Stats {
        Stats::default()
    }

    /// Calls `f` on the series of `<step>.<key>`, creating it first if needed; owned keys are
    /// allocated only on first use, so the hot path allocates nothing.
    fn with_series(&mut self, step: &str, key: &str, f: impl FnOnce(&mut Series)) {
        match self.steps.get_mut(step) {
            Some(keys) => match keys.get_mut(key) {
                Some(series) => f(series),
                None => f(keys.entry(key.to_owned()).or_default()),
            },
            None => f(self.steps.entry(step.to_owned()).or_default().entry(key.to_owned()).or_default()),
        }
    }

    fn series(&self, step: &str, key: &str) -> Option<&Series> {
        self.steps.get(step)?.get(key)
    }

    /// `count.<step>.<key> += 1` — the `success` / `failure` counters, which have no samples.
    pub fn increment(&mut self, step: &str, key: &str) {
        self.with_series(step, key, |s| s.count += 1);
    }

    /// One sample of `<step>.<key>` for every statistic; also `count += 1`. A non-finite value is
    /// ignored entirely (see [`Stats`]).
    pub fn record(&mut self, step: &str, key: &str, value: f64) {
        if value.is_finite() {
            self.with_series(step, key, |s| s.add(value));
        }
    }

    /// The value a rule reads for `<model>.<step>.<key>`: `None` for `count` if the key was never
    /// incremented nor recorded, and for the other models if it has no samples.
    pub fn value(&self, model: Model, step: &str, key: &str) -> Option<f64> {
        self.series(step, key)?.value(model)
    }

    /// The `q`-quantile (`q` in `[0, 1]`) of the samples of `<step>.<key>`, interpolating linearly
    /// between the closest ranks, for summary tables (median, p95). `None` without samples or if
    /// `q` is outside `[0, 1]`.
    pub fn quantile(&self, step: &str, key: &str, q: f64) -> Option<f64> {
        self.series(step, key)?.quantile(q)
    }

    /// The `q`-quantile (`q` in `[0, 1]`) of the samples of `<step>.<key>` by the nearest-rank
    /// method: the smallest sample such that at least `⌈q·n⌉` of the `n` samples are at or below
    /// it. Unlike [`Stats::quantile`] it never interpolates, so it is always a value that was
    /// seen — status's p95 (`p95Seconds`): 95 % of a step's jobs took at most that long. `None`
    /// without samples or if `q` is outside `[0, 1]`.
    pub fn nearest_rank(&self, step: &str, key: &str, q: f64) -> Option<f64> {
        self.series(step, key)?.nearest_rank(q)
    }

    /// `{model: {step: {key: value}}}` with values rounded to 3 decimals, like the original's
    /// `summarize_all`: `count` for every key, the other models only for keys with samples. A model
    /// with no value at all is absent.
    pub fn summary(&self) -> Summary {
        let mut out = Summary::new();
        for (step, keys) in &self.steps {
            for (key, series) in keys {
                for (name, model) in Model::ALL {
                    if let Some(v) = series.value(model) {
                        out.entry(name.to_owned())
                            .or_default()
                            .entry(step.clone())
                            .or_default()
                            .insert(key.clone(), (v * 1000.0).round() / 1000.0);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_MODELS: [Model; 7] =
        [Model::Count, Model::Mean, Model::Variance, Model::Iqr, Model::Min, Model::Max, Model::Mad];

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * (1.0 + b.abs())
    }

    fn stats_of(samples: &[f64]) -> Stats {
        let mut s = Stats::new();
        for v in samples {
            s.record("a", "duration", *v);
        }
        s
    }

    #[test]
    fn models_against_hand_computed_values() {
        // samples, then [count, mean, variance, iqr, min, max, mad] (None: no value).
        type Row = (&'static [f64], [Option<f64>; 7]);
        let n = None;
        let table: &[Row] = &[
            (&[], [n, n, n, n, n, n, n]),
            (&[4.0], [Some(1.0), Some(4.0), Some(0.0), Some(0.0), Some(4.0), Some(4.0), Some(0.0)]),
            // q25 = 2.5, q75 = 3.5; median 3, deviations 1, 1.
            (&[4.0, 2.0], [Some(2.0), Some(3.0), Some(2.0), Some(1.0), Some(2.0), Some(4.0), Some(1.0)]),
            // Odd: q25 = 2, q75 = 4; median 3, deviations 0 1 1 2 2.
            (&[5.0, 1.0, 4.0, 2.0, 3.0], [Some(5.0), Some(3.0), Some(2.5), Some(2.0), Some(1.0), Some(5.0), Some(1.0)]),
            // Even: q25 = 1.75, q75 = 3.25; median 2.5, deviations .5 .5 1.5 1.5.
            (
                &[1.0, 2.0, 3.0, 4.0],
                [Some(4.0), Some(2.5), Some(5.0 / 3.0), Some(1.5), Some(1.0), Some(4.0), Some(1.0)],
            ),
            // Sum of squared deviations 32; q25 = 4 (pos 1.75), q75 = 5.5 (pos 5.25);
            // median 4.5, deviations .5 .5 .5 .5 .5 1.5 2.5 4.5 → (0.5 + 0.5) / 2.
            (
                &[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0],
                [Some(8.0), Some(5.0), Some(32.0 / 7.0), Some(1.5), Some(2.0), Some(9.0), Some(0.5)],
            ),
            // Odd with ties: q25 = 1.5 (pos 1.5), q75 = 5 (pos 4.5); median 2, deviations 0 0 1 1 2 4 7.
            (
                &[1.0, 1.0, 2.0, 2.0, 4.0, 6.0, 9.0],
                [Some(7.0), Some(25.0 / 7.0), Some(376.0 / 42.0), Some(3.5), Some(1.0), Some(9.0), Some(1.0)],
            ),
            // Negative values.
            (
                &[-3.0, -1.0, 0.0],
                [Some(3.0), Some(-4.0 / 3.0), Some(7.0 / 3.0), Some(1.5), Some(-3.0), Some(0.0), Some(1.0)],
            ),
        ];
        for (samples, want) in table {
            let s = stats_of(samples);
            for (model, want) in ALL_MODELS.iter().zip(want) {
                let got = s.value(*model, "a", "duration");
                let ok = match (got, want) {
                    (Some(g), Some(w)) => close(g, *w),
                    (g, w) => g == *w,
                };
                assert!(ok, "{model} of {samples:?}: got {got:?}, want {want:?}");
            }
        }
    }

    #[test]
    fn quantiles_interpolate_between_closest_ranks() {
        let s = stats_of(&[10.0, 40.0, 20.0, 30.0]);
        let cases = [
            (0.0, Some(10.0)),
            (0.5, Some(25.0)),
            (0.95, Some(38.5)),
            (1.0, Some(40.0)),
            (1.5, None),
            (-0.1, None),
            (f64::NAN, None),
        ];
        for (q, want) in cases {
            assert_eq!(s.quantile("a", "duration", q), want, "q = {q}");
        }
        assert_eq!(s.quantile("a", "other", 0.5), None);
        assert_eq!(s.quantile("b", "duration", 0.5), None);
    }

    #[test]
    fn the_nearest_rank_quantile_is_a_sample_with_that_share_at_or_below_it() {
        // n = 4: p95 has rank ⌈3.8⌉ = 4, the median rank 2 — no interpolation.
        let s = stats_of(&[10.0, 40.0, 20.0, 30.0]);
        let cases = [(0.0, Some(10.0)), (0.25, Some(10.0)), (0.5, Some(20.0)), (0.95, Some(40.0)), (1.0, Some(40.0))];
        for (q, want) in cases {
            assert_eq!(s.nearest_rank("a", "duration", q), want, "q = {q}");
        }
        // n = 20 (1..=20 s): p95 has rank ⌈19⌉ = 19, so one job in twenty may take longer.
        let twenty: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(stats_of(&twenty).nearest_rank("a", "duration", 0.95), Some(19.0));
        // n = 21: rank ⌈19.95⌉ = 20.
        let twenty_one: Vec<f64> = (1..=21).map(f64::from).collect();
        assert_eq!(stats_of(&twenty_one).nearest_rank("a", "duration", 0.95), Some(20.0));
        // One sample is every quantile.
        assert_eq!(stats_of(&[7.5]).nearest_rank("a", "duration", 0.95), Some(7.5));
        for q in [1.5, -0.1, f64::NAN] {
            assert_eq!(s.nearest_rank("a", "duration", q), None, "q = {q}");
        }
        assert_eq!(s.nearest_rank("a", "other", 0.95), None);
    }

    #[test]
    fn counters_have_a_count_but_no_samples() {
        let mut s = Stats::new();
        assert_eq!(s.value(Model::Count, "a", "success"), None);
        s.increment("a", "success");
        s.increment("a", "success");
        assert_eq!(s.value(Model::Count, "a", "success"), Some(2.0));
        for model in &ALL_MODELS[1..] {
            assert_eq!(s.value(*model, "a", "success"), None, "{model}");
        }
        // Other keys and steps are untouched.
        assert_eq!(s.value(Model::Count, "a", "failure"), None);
        assert_eq!(s.value(Model::Count, "b", "success"), None);
    }

    #[test]
    fn counting_a_key_that_also_has_samples_adds_to_its_count_only() {
        let mut s = Stats::new();
        s.record("a", "score", 3.0);
        s.increment("a", "score");
        assert_eq!(s.value(Model::Count, "a", "score"), Some(2.0));
        assert_eq!(s.value(Model::Mean, "a", "score"), Some(3.0));
    }

    #[test]
    fn non_finite_samples_are_ignored() {
        let mut s = stats_of(&[1.0, 3.0]);
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            s.record("a", "duration", v);
            s.record("b", "duration", v);
        }
        let got: Vec<Option<f64>> = ALL_MODELS.iter().map(|m| s.value(*m, "a", "duration")).collect();
        assert_eq!(got, [Some(2.0), Some(2.0), Some(2.0), Some(1.0), Some(1.0), Some(3.0), Some(1.0)]);
        assert_eq!(s.value(Model::Count, "b", "duration"), None, "an ignored sample creates no key");
    }

    #[test]
    fn summary_has_counts_for_every_key_and_rounds_to_three_decimals() {
        let mut s = Stats::new();
        s.increment("a", "success");
        s.record("a", "duration", 1.0);
        s.record("a", "duration", 2.0);
        s.record("a", "duration", 2.0);
        s.record("b", "duration", 0.12345);
        let sum = s.summary();
        let names: Vec<&str> = sum.keys().map(String::as_str).collect();
        assert_eq!(names, ["count", "iqr", "mad", "max", "mean", "min", "variance"]);
        let count = &sum["count"];
        assert_eq!(count["a"]["success"], 1.0);
        assert_eq!(count["a"]["duration"], 3.0);
        assert_eq!(count["b"]["duration"], 1.0);
        for model in ["iqr", "mad", "max", "mean", "min", "variance"] {
            assert!(!sum[model]["a"].contains_key("success"), "{model} has no value for a counter");
        }
        assert_eq!(sum["mean"]["a"]["duration"], 1.667);
        assert_eq!(sum["variance"]["a"]["duration"], 0.333);
        assert_eq!(sum["iqr"]["a"]["duration"], 0.5);
        assert_eq!(sum["mean"]["b"]["duration"], 0.123);
        assert!(Stats::new().summary().is_empty());
    }

    #[test]
    fn mad_matches_brute_force_on_pseudo_random_samples() {
        // A tiny LCG keeps the test deterministic; the small range forces many ties.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) % 50) as f64 - 10.0
        };
        for n in 1..=60 {
            let samples: Vec<f64> = (0..n).map(|_| next()).collect();
            let s = stats_of(&samples);
            let median = s.quantile("a", "duration", 0.5).unwrap_or(f64::NAN);
            let mut dev: Vec<f64> = samples.iter().map(|x| (x - median).abs()).collect();
            dev.sort_by(f64::total_cmp);
            let want = if n % 2 == 1 { dev[n / 2] } else { (dev[n / 2 - 1] + dev[n / 2]) / 2.0 };
            assert_eq!(s.value(Model::Mad, "a", "duration"), Some(want), "{samples:?}");
        }
    }

    #[test]
    fn memory_stays_bounded_and_estimates_stay_close_past_the_exact_samples() {
        // 200,000 samples 0, 1, …, 199,999 in a scrambled order (a permutation: 7919 is prime
        // and coprime with 200,000), so the reservoir cannot rely on arrival order.
        let n: u64 = 200_000;
        let mut s = Stats::new();
        for i in 0..n {
            s.record("a", "x", ((i * 7919) % n) as f64);
        }
        let series = s.series("a", "x").expect("series");
        assert_eq!(series.sorted.len(), EXACT_SAMPLES, "kept samples are capped");
        assert_eq!(s.value(Model::Count, "a", "x"), Some(n as f64));
        assert_eq!(s.value(Model::Min, "a", "x"), Some(0.0), "min stays exact");
        assert_eq!(s.value(Model::Max, "a", "x"), Some((n - 1) as f64), "max stays exact");
        assert!(close(s.value(Model::Mean, "a", "x").expect("mean"), (n - 1) as f64 / 2.0), "mean stays exact");
        // The true median is 99,999.5 and the IQR 100,000; the documented error is ±0.6 % of ranks.
        let median = s.quantile("a", "x", 0.5).expect("median");
        assert!((median - 99_999.5).abs() < 0.012 * n as f64, "median {median}");
        let iqr = s.value(Model::Iqr, "a", "x").expect("iqr");
        assert!((iqr - 100_000.0).abs() < 0.02 * n as f64, "iqr {iqr}");
        let mad = s.value(Model::Mad, "a", "x").expect("mad");
        assert!((mad - 50_000.0).abs() < 0.012 * n as f64, "mad {mad}");
    }
}
