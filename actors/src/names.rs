//! Job ids, the names derived from them, and the syntax rules those names must obey.
//!
//! A sequence is identified by its job id, `<prefix><9 digits>` (`job_012345678`). The id is a
//! label value, an OCI repository name (`<registry>/<jobid>:<tag>`), and — lower-cased with `_`
//! turned into `-` — part of every Kubernetes object name of the sequence. The checks here make
//! sure a prefix or step name can serve all three before anything is submitted.

use std::fmt;
use std::sync::LazyLock;

use rand::Rng;
use regex::Regex;

use crate::defaults;

/// The id of one job sequence, e.g. `job_012345678`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// A new random id: `prefix` followed by nine zero-padded random digits.
    pub fn generate(prefix: &str, rng: &mut impl Rng) -> JobId {
        let n: u32 = rng.random_range(0..1_000_000_000);
        JobId(format!("{prefix}{n:0width$}", width = defaults::JOB_ID_DIGITS))
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn generated_ids_have_the_prefix_and_nine_digits() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..100 {
            let id = JobId::generate("job_", &mut rng);
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
}
