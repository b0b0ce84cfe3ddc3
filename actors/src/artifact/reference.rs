//! Artifact references: `host[:port]/repository:tag` for a registry, `repository:tag` for a
//! directory store.
//!
//! Parsing is stricter than `docker`'s on purpose: a registry reference must name its host
//! (`job_1:t` alone would silently mean `docker.io/library/job_1:t`), and repository names are
//! checked against the OCI grammar here, because the registry answers an upper-case name with a
//! bare `404 page not found` that explains nothing.

use std::fmt;

use super::Store;
use crate::{Error, Result};
use smo_core::names::{check_oci_repository, check_oci_tag};

/// A parsed artifact reference: where (host, repository) and which version (tag).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    host: Option<String>,
    repository: String,
    tag: String,
}

impl Reference {
    /// Parses `text` for `store`.
    ///
    /// * [`Store::Registry`]: `host[:port]/repository[/more]:tag`. The first path component is
    ///   always the host — there is no implicit `docker.io` — so `job_1:t` is an error.
    /// * [`Store::Directory`]: `repository[/more]:tag`, without a host.
    ///
    /// Repository path components must be lower-case OCI names (`job_012345678`); the tag
    /// follows the OCI tag grammar (upper case is allowed there).
    pub fn parse(text: &str, store: &Store) -> Result<Reference> {
        let invalid = |reason: String| Error::ArtifactReference { reference: text.to_string(), reason };
        if text.is_empty() {
            return Err(invalid("is empty".into()));
        }
        if text.chars().any(char::is_whitespace) {
            return Err(invalid("contains white space".into()));
        }
        if text.contains('@') {
            return Err(invalid("digest references (`@sha256:…`) are not supported; name a tag".into()));
        }
        let (name, tag) = match text.rsplit_once(':') {
            // A `:` followed by a `/` belongs to a host's port, not to a tag.
            Some((name, tag)) if !tag.contains('/') => (name, tag),
            _ => return Err(invalid(format!("has no tag; write `{text}:<tag>`"))),
        };
        check_oci_tag(tag).map_err(|e| invalid(format!("tag `{tag}` {e}")))?;
        let (host, repository) = match store {
            Store::Registry { .. } => match name.split_once('/') {
                Some((host, repository)) => {
                    check_host(host).map_err(&invalid)?;
                    (Some(host.to_string()), repository)
                }
                None => {
                    return Err(invalid(format!(
                        "names no registry host; write `host[:port]/{text}` (there is no implicit docker.io)"
                    )));
                }
            },
            Store::Directory(_) => {
                if name.split('/').next().is_some_and(|first| first.contains(':') || first == "localhost") {
                    return Err(invalid(
                        "looks like a registry reference; with a directory store write `repository:tag`".into(),
                    ));
                }
                (None, name)
            }
        };
        check_repository(repository).map_err(&invalid)?;
        Ok(Reference { host, repository: repository.to_string(), tag: tag.to_string() })
    }

    /// The registry host with its port (`127.0.0.1:5000`); `None` for a directory store.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The repository path, e.g. `job_012345678` or `team/job_012345678`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, e.g. `job_a`.
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(host) = &self.host {
            write!(f, "{host}/")?;
        }
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

/// Checks `host[:port]`: a DNS name or IPv4 address (or a bracketed IPv6 address) and an
/// optional numeric port.
fn check_host(host: &str) -> Result<(), String> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let bad = || format!("registry host `{host}` is not a valid bracketed IPv6 address");
        let (addr, tail) = rest.split_once(']').ok_or_else(bad)?;
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err(bad());
        }
        let port = if tail.is_empty() { None } else { Some(tail.strip_prefix(':').ok_or_else(bad)?) };
        (None, port)
    } else {
        match host.split_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        }
    };
    if let Some(name) = name {
        let ok = !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !ok {
            return Err(format!("registry host `{host}` is not a valid host name"));
        }
    }
    if let Some(port) = port
        && (port.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(format!("registry host `{host}` has an invalid port `{port}`"));
    }
    Ok(())
}

/// Checks every `/`-separated component of a repository path against the OCI grammar.
fn check_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("has an empty repository name".into());
    }
    if repository.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "repository `{repository}` contains upper-case letters; repository names must be lower case \
             (the registry would answer a bare 404)"
        ));
    }
    for component in repository.split('/') {
        check_oci_repository(component).map_err(|e| format!("repository component `{component}` {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn registry() -> Store {
        Store::Registry { plain_http: true, retries: 0, credentials: None }
    }

    fn directory() -> Store {
        Store::Directory(PathBuf::from("/store"))
    }

    fn err(text: &str, store: &Store) -> String {
        match Reference::parse(text, store) {
            Ok(r) => panic!("`{text}` parsed as {r:?}"),
            Err(e) => {
                assert_eq!(e.category(), "artifact_reference");
                e.to_string()
            }
        }
    }

    #[test]
    fn artifact_reference_registry_forms() {
        let r = Reference::parse("127.0.0.1:5000/job_012345678:job_a", &registry()).unwrap();
        assert_eq!(r.host(), Some("127.0.0.1:5000"));
        assert_eq!(r.repository(), "job_012345678");
        assert_eq!(r.tag(), "job_a");
        assert_eq!(r.to_string(), "127.0.0.1:5000/job_012345678:job_a");

        let r =
            Reference::parse("registry-0.sm.default.svc.cluster.local:5000/team/x.y__z:Job_A", &registry()).unwrap();
        assert_eq!(r.host(), Some("registry-0.sm.default.svc.cluster.local:5000"));
        assert_eq!(r.repository(), "team/x.y__z");
        assert_eq!(r.tag(), "Job_A");

        // The first component is the host even without a dot or a port: no docker.io guessing.
        let r = Reference::parse("myregistry/job_1:t", &registry()).unwrap();
        assert_eq!(r.host(), Some("myregistry"));
        assert_eq!(r.repository(), "job_1");

        let r = Reference::parse("[::1]:5000/job_1:t", &registry()).unwrap();
        assert_eq!(r.host(), Some("[::1]:5000"));
    }

    #[test]
    fn artifact_reference_registry_requires_a_host() {
        let e = err("job_1:t", &registry());
        assert!(e.contains("no registry host"), "{e}");
        assert!(e.contains("docker.io"), "{e}");
    }

    #[test]
    fn artifact_reference_rejects_upper_case_repositories() {
        for text in ["127.0.0.1:5000/Job_000000001:job_a", "host/team/JOB_1:t"] {
            let e = err(text, &registry());
            assert!(e.contains("must be lower case"), "{e}");
        }
        let e = err("Job_1:t", &directory());
        assert!(e.contains("must be lower case"), "{e}");
    }

    #[test]
    fn artifact_reference_rejects_bad_names_tags_and_hosts() {
        for (text, needle) in [
            ("127.0.0.1:5000/job_1", "has no tag"),
            ("127.0.0.1:5000/job_1:", "tag ``"),
            ("127.0.0.1:5000/job_1:-x", "tag `-x`"),
            ("127.0.0.1:5000/_job:t", "repository component `_job`"),
            ("127.0.0.1:5000/job_:t", "repository component `job_`"),
            ("127.0.0.1:5000/job___x:t", "repository component `job___x`"),
            ("127.0.0.1:5000/a//b:t", "repository component ``"),
            ("127.0.0.1:5000/:t", "empty repository"),
            ("127.0.0.1:99999/job:t", "invalid port"),
            ("bad_host/job:t", "not a valid host name"),
            ("host/job@sha256:abcd", "digest references"),
            ("host/job:t x", "white space"),
            ("", "is empty"),
        ] {
            let e = err(text, &registry());
            assert!(e.contains(needle), "`{text}`: {e}");
        }
    }

    #[test]
    fn artifact_reference_directory_forms() {
        let r = Reference::parse("job_012345678:job_b", &directory()).unwrap();
        assert_eq!(r.host(), None);
        assert_eq!(r.repository(), "job_012345678");
        assert_eq!(r.to_string(), "job_012345678:job_b");
        let r = Reference::parse("team/job_1:t", &directory()).unwrap();
        assert_eq!(r.repository(), "team/job_1");

        let e = err("127.0.0.1:5000/job_1:t", &directory());
        assert!(e.contains("looks like a registry reference"), "{e}");
        // `..` can never become a path component of the store.
        let e = err("../escape:t", &directory());
        assert!(e.contains("repository component `..`"), "{e}");
    }
}
