//! The run's timestamps, streamed to the run directory as they happen.
//!
//! The Manager marks events (`workflow_start`, `<jobid>_<step>_start`, …); a [`Journal`] appends
//! each as one JSON line (`["key", seconds]`) to `<run-dir>/times.jsonl` from a task of its own,
//! so the actors' thread never waits on the disk and the run keeps no timestamp in memory. The
//! writer flushes whenever it has nothing more queued, so a crash loses at most the last moment.
//! `workflow-times.json` (the original's format) is built from the journal when the run ends
//! ([`read_times`]), and a resumed run appends to the same journal.
//!
//! Under the operator the same lines go to the workflow's timeline ConfigMaps
//! ([`Journal::in_config_maps`], [`smo_core::timeline`]): batched, the chunk being filled written
//! at most every [`CLUSTER_FLUSH_EVERY`] and at the end, and a restarted operator carries on
//! after the last chunk.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, ListParams};
use smo_core::times::Times;
use tokio::io::AsyncWriteExt as _;

use crate::executor::kubernetes::api::{apply, with_retries};
use crate::live::Feed;
use tokio::sync::{mpsc, oneshot};

/// Seconds since the Unix epoch, now.
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

enum Entry {
    Mark(String, f64),
    Close(oneshot::Sender<()>),
}

/// Appends timestamps to a journal file without blocking the caller.
#[derive(Clone, Debug)]
pub struct Journal {
    entries: mpsc::UnboundedSender<Entry>,
    /// The live page's copy of the marks, if a page is served.
    live: Option<Feed>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entry::Mark(key, t) => write!(f, "Mark({key}, {t})"),
            Entry::Close(_) => f.write_str("Close"),
        }
    }
}

impl Journal {
    /// A journal appending to `path`; its writer runs on the current tokio runtime (an actix
    /// system). A write error is logged once and later marks are dropped: losing timestamps
    /// must not stop a run.
    pub fn open(path: PathBuf) -> Journal {
        let (entries, mut rx) = mpsc::unbounded_channel::<Entry>();
        tokio::spawn(async move {
            let file = tokio::fs::OpenOptions::new().create(true).append(true).open(&path).await;
            let mut out = match file {
                Ok(f) => Some(tokio::io::BufWriter::new(f)),
                Err(e) => {
                    tracing::warn!(journal = %path.display(), error = %e, "cannot open the timestamp journal; times are not recorded");
                    None
                }
            };
            while let Some(entry) = rx.recv().await {
                match entry {
                    Entry::Mark(key, t) => {
                        let Some(w) = out.as_mut() else { continue };
                        let line = serde_json::json!([key, t]).to_string() + "\n";
                        let mut written = w.write_all(line.as_bytes()).await;
                        // Flushed whenever nothing more is waiting: batches under load, and a
                        // crash loses at most the marks of the last moment.
                        if written.is_ok() && rx.is_empty() {
                            written = w.flush().await;
                        }
                        if let Err(e) = written {
                            tracing::warn!(journal = %path.display(), error = %e, "cannot write the timestamp journal");
                            out = None;
                        }
                    }
                    Entry::Close(done) => {
                        if let Some(w) = out.as_mut()
                            && let Err(e) = w.flush().await
                        {
                            tracing::warn!(journal = %path.display(), error = %e, "cannot write the timestamp journal");
                        }
                        let _ = done.send(());
                    }
                }
            }
        });
        Journal { entries, live: None }
    }

    /// The same journal, its marks shown on the live page through `feed` as well.
    pub fn showing(mut self, feed: Option<Feed>) -> Journal {
        self.live = feed;
        self
    }

    /// A journal kept in `workflow`'s timeline ConfigMaps in `namespace`, owned by `owner`; its
    /// writer runs on the current tokio runtime. A write that fails is logged and tried again at
    /// the next flush; losing timestamps must not stop a run. With a live page (`live`), what
    /// an earlier life of the run kept is shown on it too.
    pub fn in_config_maps(
        client: kube::Client,
        namespace: String,
        workflow: String,
        owner: Option<OwnerReference>,
        live: Option<Feed>,
    ) -> Journal {
        let (entries, rx) = mpsc::unbounded_channel::<Entry>();
        let place = Place { api: Api::namespaced(client, &namespace), namespace, workflow, owner };
        tokio::spawn(keep_in_config_maps(place, rx, live.clone()));
        Journal { entries, live }
    }

    /// Records `key` at `t`.
    pub fn mark(&self, key: String, t: f64) {
        if let Some(live) = &self.live {
            live.mark(&key, t);
        }
        let _ = self.entries.send(Entry::Mark(key, t));
    }

    /// Resolves once everything marked so far is on disk.
    pub fn flush(&self) -> impl Future<Output = ()> + 'static {
        let (done, flushed) = oneshot::channel();
        let sent = self.entries.send(Entry::Close(done)).is_ok();
        async move {
            if sent {
                let _ = flushed.await;
            }
        }
    }
}

/// How often, at most, the chunk being filled is written (a busy workflow's marks batch up).
pub const CLUSTER_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The chunk of a workflow's timeline being filled.
struct Chunk {
    index: u32,
    lines: String,
    /// Holds marks not written yet.
    dirty: bool,
}

/// Where a workflow's timeline is kept.
struct Place {
    api: Api<ConfigMap>,
    namespace: String,
    workflow: String,
    owner: Option<OwnerReference>,
}

/// What `workflow`'s timeline ConfigMaps in `namespace` hold, of those owned by the resource
/// `owner_uid` (a deleted resource's timeline, not yet collected, is not the new one's).
pub async fn kept_times(client: kube::Client, namespace: &str, workflow: &str, owner_uid: &str) -> kube::Result<Times> {
    let api: Api<ConfigMap> = Api::namespaced(client, namespace);
    let params = ListParams::default().labels(&smo_core::timeline::selector(workflow));
    let list = with_retries(|| api.list(&params)).await?;
    let owned = |c: &ConfigMap| c.metadata.owner_references.iter().flatten().any(|o| o.uid == owner_uid);
    let chunks: Vec<ConfigMap> = list.items.into_iter().filter(owned).collect();
    Ok(smo_core::timeline::times(&chunks))
}

/// The writer of [`Journal::in_config_maps`].
async fn keep_in_config_maps(place: Place, mut rx: mpsc::UnboundedReceiver<Entry>, live: Option<Feed>) {
    use smo_core::timeline;
    let Place { api, namespace, workflow, owner } = place;
    // Carry on after what an earlier life of the run wrote; without knowing it, write nothing
    // (a chunk written anew would replace what is there).
    let params = ListParams::default().labels(&timeline::selector(&workflow));
    let listed = with_retries(|| api.list(&params)).await;
    // Shown once: a retried run of the same resource finds them on the page already.
    if let (Some(live), Ok(list)) = (live.as_ref().filter(|l| l.is_fresh()), &listed) {
        live.mark_all(timeline::times(&list.items));
    }
    let mut chunk = match listed {
        Ok(list) => match list.items.iter().filter_map(|c| Some((timeline::index_of(c)?, c))).max_by_key(|(i, _)| *i) {
            Some((index, last)) => Some(Chunk { index, lines: timeline::lines_of(last).to_string(), dirty: false }),
            None => Some(Chunk { index: 0, lines: String::new(), dirty: false }),
        },
        Err(e) => {
            tracing::warn!(workflow, error = %e, "cannot list the workflow's timeline; its times are not kept");
            None
        }
    };
    let write = |chunk: &mut Chunk| {
        let object = timeline::chunk(&workflow, &namespace, chunk.index, &chunk.lines, owner.as_ref());
        chunk.dirty = false;
        let (api, name) = (api.clone(), object.metadata.name.clone().unwrap_or_default());
        async move {
            if let Err(e) = apply(&api, &object).await {
                tracing::warn!(configmap = %name, error = %e, "cannot write the workflow's timeline");
                return false;
            }
            true
        }
    };
    let mut full = chunk.as_ref().is_some_and(|c| c.lines.contains(timeline::TRUNCATED));
    let mut tick = tokio::time::interval(CLUSTER_FLUSH_EVERY);
    loop {
        let entry = tokio::select! {
            entry = rx.recv() => entry,
            _ = tick.tick() => {
                if let Some(c) = chunk.as_mut().filter(|c| c.dirty)
                    && !write(c).await
                {
                    c.dirty = true;
                }
                continue;
            }
        };
        let Some(entry) = entry else { break };
        let Some(c) = chunk.as_mut() else {
            if let Entry::Close(done) = entry {
                let _ = done.send(());
            }
            continue;
        };
        match entry {
            Entry::Mark(_, _) if full => {}
            Entry::Mark(key, t) => {
                let line = serde_json::json!([key, t]).to_string() + "\n";
                match timeline::place(c.index, c.lines.len(), line.len()) {
                    Some(index) if index == c.index => c.lines.push_str(&line),
                    Some(index) => {
                        // The filled chunk is written once more, whole; the next starts.
                        if c.dirty && !write(c).await {
                            tracing::warn!(
                                workflow,
                                "a full chunk of the timeline could not be written; its last marks are lost"
                            );
                        }
                        *c = Chunk { index, lines: line, dirty: false };
                    }
                    None => {
                        let note = serde_json::json!([timeline::TRUNCATED, t]).to_string() + "\n";
                        c.lines.push_str(&note);
                        full = true;
                        tracing::warn!(workflow, "the workflow's timeline reached its bound; later times are not kept");
                    }
                }
                c.dirty = true;
            }
            Entry::Close(done) => {
                if c.dirty && !write(c).await {
                    c.dirty = true;
                }
                let _ = done.send(());
            }
        }
    }
}

/// The timestamps of a journal as the original's `workflow-times.json` record: the first value
/// of a key wins (a resumed run may mark a key again). Lines that do not parse (a line cut off
/// by a crash) are skipped. Not for the actors' thread: it reads the whole file.
pub fn read_times(path: &Path) -> std::io::Result<Times> {
    use std::io::BufRead as _;
    let mut times = Times::default();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(times),
        Err(e) => return Err(e),
    };
    for line in std::io::BufReader::new(file).lines() {
        if let Ok((key, t)) = serde_json::from_str::<(String, f64)>(&line?) {
            times.mark(key, t);
        }
    }
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn marks_reach_the_file_and_read_back_first_value_wins() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("times.jsonl");
        let journal = Journal::open(path.clone());
        journal.mark("workflow_start".into(), 1.5);
        journal.mark("job_000000001_a_start".into(), 2.0);
        journal.mark("workflow_start".into(), 9.0);
        journal.flush().await;
        // A crash can cut the last line.
        std::fs::write(&path, std::fs::read_to_string(&path).expect("journal") + "[\"cut").expect("append");
        let times = read_times(&path).expect("readable");
        assert_eq!(times.timestamps.len(), 2);
        assert_eq!(times.timestamps["workflow_start"], 1.5);
        assert!(read_times(&dir.path().join("none.jsonl")).expect("absent is empty").timestamps.is_empty());
    }
}
