//! Job ids, the names derived from them, and the syntax rules those names must obey.
//!
//! A sequence is identified by its job id, `<prefix><9 digits>` (`job_012345678`). The id is a
//! label value, an OCI repository name (`<registry>/<jobid>:<tag>`), and — lower-cased with `_`
//! turned into `-` — part of every Kubernetes object name of the sequence. The checks here make
//! sure a prefix or step name can serve all three before anything is submitted.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::defaults;

/// The id of one job sequence, e.g. `job_012345678`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// An id read back from a label or a file, taken as it is.
    pub fn new(id: impl Into<String>) -> JobId {
        JobId(id.into())
    }

    /// The id as written in labels and artifact references.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as a Kubernetes name component: lower case, `_` replaced by `-`.
    pub fn dashed(&self) -> String {
        dashed(&self.0)
    }
}

/// Issues job ids that never repeat within a run, without remembering the ids issued.
///
/// The n-th id is `prefix` followed by `permute(n)`, a keyed permutation of the nine-digit
/// numbers `0..10⁹` (a four-round Feistel network on 30 bits, walked until it lands below 10⁹).
/// Ids look random, as the original's did, yet distinct by construction: the source keeps two
/// integers however many sequences a run starts (the original kept every id it had tracked).
/// The permutation is invertible, so after a restart [`JobIdSource::resume`] finds how many ids
/// had been issued from the ids that exist, and carries on after them.
#[derive(Clone, Debug)]
pub struct JobIdSource {
    prefix: String,
    keys: [u32; 4],
    next: u64,
}

/// How many distinct ids a source can issue (nine digits).
pub const JOB_ID_SPACE: u64 = 1_000_000_000;

const HALF_BITS: u32 = 15;
const HALF_MASK: u32 = (1 << HALF_BITS) - 1;

impl JobIdSource {
    /// A source for `prefix` whose permutation is chosen by `seed`.
    pub fn new(prefix: &str, seed: u64) -> JobIdSource {
        let mut state = seed;
        let mut key = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u32
        };
        JobIdSource { prefix: prefix.to_string(), keys: [key(), key(), key(), key()], next: 0 }
    }

    /// A source that carries on after the ids in `existing` (ids of other prefixes or seeds are
    /// ignored): it issues none of them, nor any issued before them.
    pub fn resume<'a>(prefix: &str, seed: u64, existing: impl IntoIterator<Item = &'a JobId>) -> JobIdSource {
        let mut source = JobIdSource::new(prefix, seed);
        let issued = existing
            .into_iter()
            .filter_map(|id| id.as_str().strip_prefix(prefix))
            .filter(|digits| digits.len() == defaults::JOB_ID_DIGITS)
            .filter_map(|digits| digits.parse::<u64>().ok())
            .map(|n| source.unpermute(n))
            .max();
        source.next = issued.map_or(0, |n| n + 1);
        source
    }

    /// The next id, or `None` once all 10⁹ have been issued.
    pub fn next_id(&mut self) -> Option<JobId> {
        if self.next >= JOB_ID_SPACE {
            return None;
        }
        let n = self.permute(self.next);
        self.next += 1;
        Some(JobId(format!("{}{n:0width$}", self.prefix, width = defaults::JOB_ID_DIGITS)))
    }

    /// How many ids were issued (or skipped by a resume).
    pub fn issued(&self) -> u64 {
        self.next
    }

    fn round(&self, half: u32, i: usize) -> u32 {
        let mut z = u64::from(half ^ self.keys[i]).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z ^= z >> 29;
        (z as u32) & HALF_MASK
    }

    fn feistel(&self, x: u64) -> u64 {
        let (mut l, mut r) = (((x >> HALF_BITS) as u32) & HALF_MASK, (x as u32) & HALF_MASK);
        for i in 0..4 {
            (l, r) = (r, l ^ self.round(r, i));
        }
        (u64::from(l) << HALF_BITS) | u64::from(r)
    }

    fn feistel_inverse(&self, y: u64) -> u64 {
        let (mut l, mut r) = (((y >> HALF_BITS) as u32) & HALF_MASK, (y as u32) & HALF_MASK);
        for i in (0..4).rev() {
            (l, r) = (r ^ self.round(l, i), l);
        }
        (u64::from(l) << HALF_BITS) | u64::from(r)
    }

    /// Cycle-walking keeps the permutation inside `0..10⁹`.
    fn permute(&self, n: u64) -> u64 {
        let mut x = self.feistel(n);
        while x >= JOB_ID_SPACE {
            x = self.feistel(x);
        }
        x
    }

    fn unpermute(&self, n: u64) -> u64 {
        let mut x = self.feistel_inverse(n);
        while x >= JOB_ID_SPACE {
            x = self.feistel_inverse(x);
        }
        x
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `s` lower-cased with every `_` replaced by `-` (the original's name mangling).
pub fn dashed(s: &str) -> String {
    s.to_lowercase().replace('_', "-")
}

/// Name of the Job (and its ConfigMap) that runs `step` for sequence `jobid`:
/// `<step>-<jobid>` dashed, e.g. `job-a-job-012345678`.
pub fn job_name(step: &str, jobid: &JobId) -> String {
    format!("{}-{}", dashed(step), jobid.dashed())
}

static LABEL_VALUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$").expect("valid regex"));
static DNS_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("valid regex"));
static OCI_COMPONENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$").expect("valid regex"));
static OCI_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$").expect("valid regex"));

/// Longest Kubernetes label value (and the longest name usable in the `job-name` Pod label).
pub const MAX_LABEL: usize = 63;

/// Checks a label value; `Err` says what is wrong.
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.len() > MAX_LABEL {
        return Err(format!("is {} characters long; a Kubernetes label value holds at most {MAX_LABEL}", value.len()));
    }
    if !LABEL_VALUE.is_match(value) {
        return Err("must start and end with a letter or digit and contain only letters, digits, '-', '_' and '.' (it becomes a Kubernetes label value)".into());
    }
    Ok(())
}

/// Checks a DNS-1123 label (lower-case alphanumerics and '-', at most 63 characters).
pub fn check_dns_label(value: &str) -> Result<(), String> {
    if value.len() > MAX_LABEL {
        return Err(format!("is {} characters long; a Kubernetes name holds at most {MAX_LABEL}", value.len()));
    }
    if !DNS_LABEL.is_match(value) {
        return Err("must be lower-case letters, digits and '-', starting and ending with a letter or digit".into());
    }
    Ok(())
}

/// Checks an OCI tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`).
pub fn check_oci_tag(tag: &str) -> Result<(), String> {
    if OCI_TAG.is_match(tag) {
        Ok(())
    } else {
        Err("is not a valid OCI tag: use letters, digits, '_', '.' and '-' (not first), at most 128 characters".into())
    }
}

/// Checks an OCI repository name component, such as a job id used as `<registry>/<jobid>`.
pub fn check_oci_repository(name: &str) -> Result<(), String> {
    if OCI_COMPONENT.is_match(name) {
        Ok(())
    } else if name.chars().any(|c| c.is_ascii_uppercase()) {
        Err("contains upper-case letters; OCI repository names must be lower case (registries answer 404)".into())
    } else {
        Err("is not a valid OCI repository name: lower-case letters and digits separated by '.', '_', '__' or '-'"
            .into())
    }
}

/// Checks a job id prefix: every id made from it must be a label value, an OCI repository name
/// and, dashed, part of a Kubernetes object name.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    let example = format!("{prefix}{}", "0".repeat(defaults::JOB_ID_DIGITS));
    if prefix.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "contains upper-case letters; job ids like `{example}` name OCI repositories, which must be lower case (try `{}`)",
            prefix.to_lowercase()
        ));
    }
    check_oci_repository(&example).map_err(|e| {
        format!("makes job ids like `{example}` that {}", e.trim_start_matches("is ").trim_start_matches("contains "))
    })?;
    check_label_value(&example).map_err(|e| format!("makes job ids like `{example}` that {e}"))?;
    Ok(())
}

/// A job id seed that is the same for the same text in every run (FNV-1a): a workflow started
/// again (`smo run --executor kubernetes`, a restarted operator) continues the same ids.
pub fn stable_seed(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_the_prefix_and_nine_digits() {
        let mut source = JobIdSource::new("job_", 7);
        for _ in 0..100 {
            let id = source.next_id().expect("ids left");
            let digits = id.as_str().strip_prefix("job_").expect("prefix");
            assert_eq!(digits.len(), 9, "{id}");
            assert!(digits.chars().all(|c| c.is_ascii_digit()), "{id}");
        }
    }

    #[test]
    fn job_names_are_dashed_and_lower_case() {
        let id = JobId::new("structure_000000042");
        assert_eq!(job_name("job_a", &id), "job-a-structure-000000042");
        assert_eq!(id.dashed(), "structure-000000042");
    }

    #[test]
    fn prefixes_are_checked_for_registry_and_label_use() {
        for ok in ["job_", "structure_", "a", "run-", "x.y_", "", "sim__"] {
            assert!(check_prefix(ok).is_ok(), "{ok}: {:?}", check_prefix(ok));
        }
        for bad in ["Job_", "JOB_", "_job", "job___", "job_-", "a b", "job/"] {
            assert!(check_prefix(bad).is_err(), "{bad} accepted");
        }
        assert!(check_prefix("Job_").unwrap_err().contains("upper-case"));
        assert!(check_prefix(&"x".repeat(60)).is_err());
    }

    #[test]
    fn tags_and_labels() {
        assert!(check_oci_tag("job_a").is_ok());
        assert!(check_oci_tag("Job_A").is_ok());
        assert!(check_oci_tag("-x").is_err());
        assert!(check_oci_tag("a:b").is_err());
        assert!(check_label_value("job_a").is_ok());
        assert!(check_label_value("job a").is_err());
        assert!(check_dns_label("job-a").is_ok());
        assert!(check_dns_label("job_a").is_err());
    }

    #[test]
    fn job_id_source_never_repeats_and_resumes_after_what_exists() {
        let mut source = JobIdSource::new("job_", 42);
        let ids: Vec<JobId> = (0..200_000).filter_map(|_| source.next_id()).collect();
        let distinct: std::collections::HashSet<&JobId> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "no id repeats");
        assert!(ids.iter().all(|id| id.as_str().len() == 13 && id.as_str().starts_with("job_")));
        // Ids do not come out in order (they look random, like the original's).
        assert!(ids.windows(2).filter(|w| w[0] < w[1]).count() < ids.len() - 1000);
        // A resume from some of the ids (in any order) carries on after the latest of them.
        let seen = [ids[10].clone(), ids[150_000].clone(), ids[3].clone(), JobId::new("other_000000001")];
        let mut resumed = JobIdSource::resume("job_", 42, &seen);
        assert_eq!(resumed.issued(), 150_001);
        assert_eq!(resumed.next_id().as_ref(), ids.get(150_001));
        // Another seed is another permutation.
        assert_ne!(JobIdSource::new("job_", 43).next_id(), JobIdSource::new("job_", 42).next_id());
    }

    #[test]
    fn the_job_id_permutation_is_a_bijection_on_a_sample() {
        let source = JobIdSource::new("x", 7);
        for n in (0..JOB_ID_SPACE).step_by(9_999_991) {
            let p = source.permute(n);
            assert!(p < JOB_ID_SPACE);
            assert_eq!(source.unpermute(p), n);
        }
    }
}
