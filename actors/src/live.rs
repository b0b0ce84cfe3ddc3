//! What the live page shows, kept as runs go: the [`Board`].
//!
//! Each run on the board ([`Feed`]) gets what its actors already produce — the journal's
//! timestamps (every job's start and end, [`crate::journal`]), the status as `kubectl` shows it
//! (from the Manager's coalesced [`Snapshot`], so at most about one update a second), and the
//! workflow's Events (rule firings, failures) — and the node slots in use over time, sampled
//! from each snapshot. Nothing here asks the cluster anything: the page costs the run nothing
//! but a copy of what it already said.
//!
//! Readers (the page's server-sent events) ask for what changed since their [`Cursor`]: the
//! timestamps and slot samples are append-only, so a page gets each once. A run's timestamps
//! and samples are bounded ([`MAX_MARKS`]); past that the board says it is truncated (the
//! journal and `smo timeline` keep everything).
//!
//! The board is shared between the actors' thread and the page's connections through a mutex
//! held only to copy; the data a page needs is serialized outside it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use actix::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};
use smo_core::api::StateMachineStatus;
use smo_core::status::{self, Snapshot};

use crate::journal::now;
use crate::messages::{StatusSnapshot, StepEnded, TransitionTimed, WorkflowEvent};

/// The most timestamps (and, apart, slot samples) a run keeps for the page.
pub const MAX_MARKS: usize = 200_000;

/// The most recent Events a run keeps for the page.
pub const MAX_EVENTS: usize = 200;

/// Every run the page can show.
#[derive(Debug, Default)]
pub struct Board {
    runs: Mutex<Runs>,
}

#[derive(Debug, Default)]
struct Runs {
    /// Changes of the list (a run added or gone, a status changed).
    version: u64,
    /// Feeds made so far: each feed's run is told apart from a later run of the same key.
    feeds: u64,
    by_key: BTreeMap<String, Run>,
}

/// One run's page data.
#[derive(Debug, Default)]
struct Run {
    /// The feed that writes it.
    feed: u64,
    namespace: Option<String>,
    name: String,
    /// Changes of this run.
    version: u64,
    status: StateMachineStatus,
    wanted: u32,
    max_size: u32,
    marks: Vec<(String, f64)>,
    /// (seconds since the epoch, node slots in use), appended when the number changes.
    slots: Vec<(f64, u32)>,
    events: VecDeque<LiveEvent>,
    truncated: bool,
}

/// A workflow Event as the page shows it.
#[derive(Clone, Debug, Serialize)]
struct LiveEvent {
    t: f64,
    warning: bool,
    reason: &'static str,
    note: String,
}

/// Where a page is in a run's append-only data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The run's version last sent.
    pub version: u64,
    /// Timestamps sent.
    pub marks: usize,
    /// Slot samples sent.
    pub slots: usize,
}

impl Cursor {
    /// The cursor as a server-sent event's id (`marks.slots`), which a browser sends back as
    /// `Last-Event-ID` when it reconnects.
    pub fn id(&self) -> String {
        format!("{}.{}", self.marks, self.slots)
    }

    /// A cursor from a `Last-Event-ID` (the version is not kept: the status is sent again).
    pub fn from_id(id: &str) -> Option<Cursor> {
        let (marks, slots) = id.split_once('.')?;
        Some(Cursor { version: 0, marks: marks.parse().ok()?, slots: slots.parse().ok()? })
    }
}

impl Board {
    /// An empty board, to share.
    pub fn new() -> Arc<Board> {
        Arc::new(Board::default())
    }

    fn lock(&self) -> MutexGuard<'_, Runs> {
        // A panic while the lock was held leaves data that is still whole (every change is a
        // push or an assignment): carry on with it.
        self.runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A feed for the run `key` (`namespace/name`, or a local run's name), on the board until
    /// [`Feed::remove`]. A run of that key already there starts afresh.
    pub fn feed(self: &Arc<Self>, namespace: Option<&str>, name: &str) -> Feed {
        let key = namespace.map_or_else(|| name.to_string(), |ns| format!("{ns}/{name}"));
        let mut runs = self.lock();
        runs.version += 1;
        runs.feeds += 1;
        let id = runs.feeds;
        runs.by_key.insert(
            key.clone(),
            // Version 1: a page gets the run as it is, even before anything happened in it.
            Run {
                feed: id,
                version: 1,
                namespace: namespace.map(str::to_string),
                name: name.to_string(),
                ..Run::default()
            },
        );
        Feed { board: self.clone(), key, id }
    }

    /// The list version: it changes whenever [`Board::list`] would.
    pub fn version(&self) -> u64 {
        self.lock().version
    }

    /// Every run, with its progress, in key order.
    pub fn list(&self) -> Value {
        let runs = self.lock();
        let list: Vec<Value> = runs
            .by_key
            .iter()
            .map(|(key, run)| {
                json!({
                    "key": key,
                    "namespace": run.namespace,
                    "name": run.name,
                    "phase": run.status.phase,
                    "completed": run.status.completed,
                    "wanted": run.wanted,
                    "active": run.status.active,
                    "failed": run.status.failed,
                    "ruleFirings": run.status.rule_firings,
                    "startTime": run.status.start_time,
                })
            })
            .collect();
        json!({ "version": runs.version, "runs": list })
    }

    /// What changed in the run `key` since `cursor`, and the cursor after it; None when
    /// nothing did (or there is no such run).
    pub fn delta(&self, key: &str, cursor: Cursor) -> Option<(Value, Cursor)> {
        let runs = self.lock();
        let run = runs.by_key.get(key)?;
        if run.version == cursor.version {
            return None;
        }
        // A cursor from before the run started afresh (a page open across an operator's new
        // life) starts over.
        let from =
            if cursor.marks > run.marks.len() || cursor.slots > run.slots.len() { Cursor::default() } else { cursor };
        let next = Cursor { version: run.version, marks: run.marks.len(), slots: run.slots.len() };
        let delta = json!({
            "key": key,
            "namespace": run.namespace,
            "name": run.name,
            "status": run.status,
            "wanted": run.wanted,
            "maxSize": run.max_size,
            "marksFrom": from.marks,
            "marks": run.marks.get(from.marks..).unwrap_or_default(),
            "slotsFrom": from.slots,
            "slots": run.slots.get(from.slots..).unwrap_or_default(),
            "events": run.events,
            "truncated": run.truncated,
            "now": now(),
        });
        Some((delta, next))
    }

    /// Whether `key` is on the board.
    pub fn has(&self, key: &str) -> bool {
        self.lock().by_key.contains_key(key)
    }
}

/// What one run tells the board.
#[derive(Clone, Debug)]
pub struct Feed {
    board: Arc<Board>,
    key: String,
    /// Which run of the key this feed writes (a resource deleted and made again under the same
    /// name is another run; the old one's feed no longer writes).
    id: u64,
}

impl Feed {
    fn change(&self, list_too: bool, f: impl FnOnce(&mut Run)) {
        let mut runs = self.board.lock();
        if list_too {
            runs.version += 1;
        }
        if let Some(run) = runs.by_key.get_mut(&self.key).filter(|r| r.feed == self.id) {
            run.version += 1;
            f(run);
        }
    }

    /// A timestamp of the journal (`<jobid>_<step>_start`, `workflow_complete`, …).
    pub fn mark(&self, key: &str, t: f64) {
        self.change(false, |run| {
            if run.marks.len() < MAX_MARKS {
                run.marks.push((key.to_string(), t));
            } else {
                run.truncated = true;
            }
        });
    }

    /// Every timestamp of `times` (what an earlier life of the run recorded).
    pub fn mark_all(&self, times: smo_core::times::Times) {
        for (key, t) in times.timestamps {
            self.mark(&key, t);
        }
    }

    /// The status as it is now, and the snapshot it was made from (the slots in use: each
    /// running job holds its step's nodes).
    pub fn status(&self, status: &StateMachineStatus, snapshot: Option<&Snapshot>) {
        self.change(true, |run| {
            run.status = status.clone();
            let Some(snapshot) = snapshot else { return };
            run.wanted = snapshot.counts.wanted;
            run.max_size = snapshot.max_size;
            let in_use: u32 = snapshot.steps.iter().map(|s| s.active.saturating_mul(s.nodes)).sum();
            if run.slots.last().is_none_or(|(_, n)| *n != in_use) {
                if run.slots.len() < MAX_MARKS {
                    run.slots.push((now(), in_use));
                } else {
                    run.truncated = true;
                }
            }
        });
    }

    /// An Event of the workflow (a rule fired, a sequence failed, the end).
    pub fn event(&self, event: &WorkflowEvent) {
        self.change(false, |run| {
            if run.events.len() >= MAX_EVENTS {
                run.events.pop_front();
            }
            run.events.push_back(LiveEvent {
                t: now(),
                warning: event.warning,
                reason: event.reason,
                note: event.note.clone(),
            });
        });
    }

    /// Whether nothing was marked on the run yet.
    pub fn is_fresh(&self) -> bool {
        self.board.lock().by_key.get(&self.key).is_none_or(|r| r.feed != self.id || r.marks.is_empty())
    }

    /// Takes the run off the board (its resource is gone).
    pub fn remove(&self) {
        let mut runs = self.board.lock();
        if runs.by_key.get(&self.key).is_some_and(|r| r.feed == self.id) {
            runs.version += 1;
            runs.by_key.remove(&self.key);
        }
    }
}

/// The reporter of a run from a terminal (`smo run --ui`): what the operator's StatusReporter
/// makes of the Manager's reports — the status as the core computes it — onto the board.
pub struct LiveReporter {
    feed: Feed,
    status: StateMachineStatus,
}

impl LiveReporter {
    /// A reporter onto `feed`.
    pub fn new(feed: Feed) -> LiveReporter {
        LiveReporter { feed, status: StateMachineStatus::default() }
    }
}

impl Actor for LiveReporter {
    type Context = Context<Self>;
}

impl Handler<StatusSnapshot> for LiveReporter {
    type Result = ();

    fn handle(&mut self, StatusSnapshot(snapshot): StatusSnapshot, _: &mut Self::Context) {
        let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now());
        self.status = status::of_run(&snapshot, None, None, &self.status, &now);
        self.feed.status(&self.status, Some(&snapshot));
    }
}

impl Handler<WorkflowEvent> for LiveReporter {
    type Result = ();

    fn handle(&mut self, event: WorkflowEvent, _: &mut Self::Context) {
        self.feed.event(&event);
    }
}

impl Handler<StepEnded> for LiveReporter {
    type Result = ();

    fn handle(&mut self, _: StepEnded, _: &mut Self::Context) {}
}

impl Handler<TransitionTimed> for LiveReporter {
    type Result = ();

    fn handle(&mut self, _: TransitionTimed, _: &mut Self::Context) {}
}

#[cfg(test)]
mod tests {
    use smo_core::status::StepSnapshot;

    use super::*;

    fn snapshot(active: &[(u32, u32)]) -> Snapshot {
        Snapshot {
            steps: active
                .iter()
                .map(|&(active, nodes)| StepSnapshot { active, nodes, ..StepSnapshot::default() })
                .collect(),
            max_size: 4,
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_page_gets_each_timestamp_once_and_the_status_each_time_it_changes() {
        let board = Board::new();
        let feed = board.feed(Some("team-a"), "wf");
        feed.mark("workflow_start", 1.0);
        feed.mark("a000000001_a_start", 2.0);
        let (first, cursor) = board.delta("team-a/wf", Cursor::default()).expect("a first delta");
        assert_eq!(first["marks"].as_array().map(Vec::len), Some(2));
        assert_eq!(first["marksFrom"], 0);
        assert!(board.delta("team-a/wf", cursor).is_none(), "nothing changed");
        feed.mark("a000000001_a_succeeded", 3.0);
        let (second, cursor) = board.delta("team-a/wf", cursor).expect("a second delta");
        assert_eq!(second["marks"], json!([["a000000001_a_succeeded", 3.0]]));
        assert_eq!(second["marksFrom"], 2);
        // A reconnecting page names where it was; the version is not known then.
        let again = Cursor::from_id(&cursor.id()).expect("an id reads back");
        let (resent, _) = board.delta("team-a/wf", again).expect("the status again");
        assert_eq!(resent["marks"], json!([]));
        // From a cursor beyond what the run has (the run started afresh): everything.
        let (fresh, _) = board.delta("team-a/wf", Cursor { version: 0, marks: 99, slots: 0 }).expect("everything");
        assert_eq!(fresh["marks"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn slots_in_use_are_sampled_when_they_change_and_the_list_follows_the_status() {
        let board = Board::new();
        let feed = board.feed(None, "local");
        let listed = board.version();
        let status = StateMachineStatus { completed: 1, ..StateMachineStatus::default() };
        feed.status(&status, Some(&snapshot(&[(2, 1), (1, 2)])));
        feed.status(&status, Some(&snapshot(&[(1, 2), (2, 1)])));
        feed.status(&status, Some(&snapshot(&[(0, 2), (1, 1)])));
        assert!(board.version() > listed, "a status change changes the list");
        let (delta, _) = board.delta("local", Cursor::default()).expect("a delta");
        let slots: Vec<u64> = delta["slots"].as_array().into_iter().flatten().filter_map(|s| s[1].as_u64()).collect();
        assert_eq!(slots, [4, 1], "2×1 + 1×2 = 4, the same again not sampled, then 1");
        assert_eq!(delta["maxSize"], 4);
        assert_eq!(board.list()["runs"][0]["completed"], 1);
        let again = board.feed(None, "local");
        feed.remove();
        feed.mark("workflow_start", 1.0);
        assert!(board.has("local"), "an older run of the key neither writes nor removes the newer");
        assert_eq!(board.delta("local", Cursor::default()).map(|(d, _)| d["marks"].clone()), Some(json!([])));
        again.remove();
        assert!(!board.has("local"));
        assert_eq!(board.list()["runs"], json!([]));
    }

    #[test]
    fn a_run_keeps_at_most_max_marks_and_says_it_is_truncated() {
        let board = Board::new();
        let feed = board.feed(None, "big");
        for i in 0..MAX_MARKS + 3 {
            feed.mark("m", i as f64);
        }
        let (delta, _) = board.delta("big", Cursor::default()).expect("a delta");
        assert_eq!(delta["marks"].as_array().map(Vec::len), Some(MAX_MARKS));
        assert_eq!(delta["truncated"], true);
    }

    #[test]
    fn events_are_bounded_newest_kept() {
        let board = Board::new();
        let feed = board.feed(None, "ev");
        for i in 0..MAX_EVENTS + 5 {
            feed.event(&WorkflowEvent { warning: true, reason: "SequenceFailed", note: format!("n{i}") });
        }
        let (delta, _) = board.delta("ev", Cursor::default()).expect("a delta");
        let events = delta["events"].as_array().cloned().unwrap_or_default();
        assert_eq!(events.len(), MAX_EVENTS);
        assert_eq!(events.last().map(|e| e["note"].clone()), Some(json!(format!("n{}", MAX_EVENTS + 4))));
    }
}
