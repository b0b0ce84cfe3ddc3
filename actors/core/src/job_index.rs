//! What a watch of a workflow's Jobs has told so far, and what each new event of it means.
//!
//! A watch of Kubernetes objects promises less than "every change once": it may replay a Job's
//! state (a re-list after its resourceVersion expired, a status update after completion), and a
//! Job deleted while the watch was away shows up only as a name missing from the next list.
//! The [`JobIndex`] turns the raw events into what the engine must hear, decided here once:
//!
//! * a Job's phase while it runs, every time it changes ([`Seen::Phase`]);
//! * its end once: a success ([`Seen::Phase`]) or a failure to diagnose ([`Seen::Failed`]: the
//!   infrastructure may have ended its Pod); an end seen again is a repeat, dropped;
//! * a Job that vanished while it ran — a watch's delete, or missing from a re-list and then not
//!   found ([`JobIndex::missing`], [`JobIndex::gone`]) — ends its step as failed,
//!   [`classify::DELETED_OUTSIDE_SMO`] ([`classify::vanished`]): counted, the sequence replaced
//!   as any failed one, and the run never waits for a Job that is gone;
//! * a Job smo ended itself (it deleted it: [`JobIndex::ended_by_smo`]) or replaced after an
//!   infrastructure failure ([`labels::SUPERSEDED`]) is no loss when it goes;
//! * a sequence that ended is forgotten ([`JobIndex::forget`]), so what is kept is bounded by
//!   the sequences running.
//!
//! [`labels::SUPERSEDED`]: crate::labels::SUPERSEDED

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::batch::v1::Job;

use crate::classify::{self, ObservedJob};
use crate::fsm::JobPhase;
use crate::names::JobId;

/// What one event of the watch means for the engine.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    /// The Job's phase, to pass on: not ended, or ended successfully (seen the first time).
    Phase(ObservedJob),
    /// The Job failed (seen the first time): why — its step, or the infrastructure — is for its
    /// Pods to say.
    Failed(ObservedJob),
    /// The Job vanished while its step ran: the step failed ([`classify::DELETED_OUTSIDE_SMO`]).
    Vanished(ObservedJob),
}

/// One Job the watch has named.
#[derive(Clone, Debug)]
struct Known {
    jobid: JobId,
    /// Its last state while it had not ended (what a vanished Job's step was); None once ended.
    unended: Option<Job>,
}

/// The Jobs a watch has named, by name (see the module docs).
#[derive(Debug, Default)]
pub struct JobIndex {
    known: HashMap<String, Known>,
    /// The names a (re-)list under way has named so far.
    listing: Option<HashSet<String>>,
}

impl JobIndex {
    /// An empty index.
    pub fn new() -> JobIndex {
        JobIndex::default()
    }

    /// A (re-)list begins: the Jobs it names follow, then [`Self::missing`].
    pub fn list_started(&mut self) {
        self.listing = Some(HashSet::new());
    }

    /// A Job was listed, created or changed. None: not a step job, or a repeat of its end.
    pub fn applied(&mut self, job: &Job) -> Option<Seen> {
        let name = job.metadata.name.clone()?;
        if let Some(listed) = self.listing.as_mut() {
            listed.insert(name.clone());
        }
        let seen = classify::classify(job)?;
        let ended = seen.phase.is_terminal();
        match self.known.get_mut(&name) {
            Some(known) if known.unended.is_none() => return None,
            Some(known) => known.unended = (!ended).then(|| job.clone()),
            None => {
                let unended = (!ended).then(|| job.clone());
                self.known.insert(name, Known { jobid: seen.jobid.clone(), unended });
            }
        }
        Some(match seen.phase {
            JobPhase::Failed { .. } => Seen::Failed(seen),
            _ => Seen::Phase(seen),
        })
    }

    /// A Job was deleted (or left the watch's selector). Its step failed if it was running.
    pub fn deleted(&mut self, job: &Job) -> Option<Seen> {
        let known = self.known.remove(job.metadata.name.as_deref()?)?;
        let last = known.unended?;
        classify::vanished(&last).map(Seen::Vanished)
    }

    /// The (re-)list is complete: the names of the Jobs last seen running that it did not name.
    /// Each may have been deleted while the watch was away, or may just have left the selector
    /// (replaced after an infrastructure failure): ask the cluster, and tell [`Self::gone`] the
    /// ones that are gone.
    pub fn missing(&mut self) -> Vec<String> {
        let Some(listed) = self.listing.take() else { return Vec::new() };
        let mut missing: Vec<String> = self
            .known
            .iter()
            .filter(|(name, known)| known.unended.is_some() && !listed.contains(*name))
            .map(|(name, _)| name.clone())
            .collect();
        missing.sort();
        missing
    }

    /// A Job missing from a re-list is gone from the cluster: as a [`Self::deleted`].
    pub fn gone(&mut self, name: &str) -> Option<Seen> {
        let known = self.known.remove(name)?;
        classify::vanished(&known.unended?).map(Seen::Vanished)
    }

    /// smo ended the Job itself (it failed its step and deleted it): its going is no loss, and
    /// what the watch says of it from now on is a repeat.
    pub fn ended_by_smo(&mut self, name: &str) {
        if let Some(known) = self.known.get_mut(name) {
            known.unended = None;
        }
    }

    /// The sequence ended: its Jobs are no longer followed (a later event of one is new again,
    /// and the engine, which no longer runs that sequence, drops it).
    pub fn forget(&mut self, jobid: &JobId) {
        self.known.retain(|_, known| known.jobid != *jobid);
    }

    /// How many Jobs are followed.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether no Job is followed.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::labels;

    fn job(name: &str, jobid: &str, active: i32, condition: Option<&str>) -> Job {
        let labels = [(labels::JOB_ID, jobid), (labels::STEP, "a"), (labels::ATTEMPT, "1")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let conditions = condition.map(|c| {
            vec![JobCondition {
                type_: c.into(),
                status: "True".into(),
                reason: Some("Test".into()),
                ..Default::default()
            }]
        });
        Job {
            metadata: ObjectMeta { name: Some(name.into()), labels: Some(labels), ..Default::default() },
            spec: None,
            status: Some(JobStatus { active: Some(active), conditions, ..Default::default() }),
        }
    }

    fn running(name: &str, jobid: &str) -> Job {
        job(name, jobid, 1, None)
    }

    fn phase(seen: &Option<Seen>) -> Option<String> {
        seen.as_ref().map(|s| match s {
            Seen::Phase(o) => format!("phase {:?}", o.phase),
            Seen::Failed(_) => "failed".into(),
            Seen::Vanished(o) => format!("vanished {:?}", o.phase),
        })
    }

    #[test]
    fn an_end_is_passed_on_once_and_what_follows_it_is_a_repeat() {
        let mut index = JobIndex::new();
        assert_eq!(phase(&index.applied(&running("a-1", "s1"))), Some("phase Running".into()));
        assert_eq!(phase(&index.applied(&running("a-1", "s1"))), Some("phase Running".into()));
        assert_eq!(phase(&index.applied(&job("a-1", "s1", 0, Some("Complete")))), Some("phase Succeeded".into()));
        // A status update after completion, a re-list replaying it, an older Running: repeats.
        assert_eq!(index.applied(&job("a-1", "s1", 0, Some("Complete"))), None);
        assert_eq!(index.applied(&running("a-1", "s1")), None);
        // Its deletion afterwards is no loss.
        assert_eq!(index.deleted(&running("a-1", "s1")), None);
    }

    #[test]
    fn a_failure_is_handed_over_once_for_diagnosis() {
        let mut index = JobIndex::new();
        index.applied(&running("a-1", "s1"));
        assert_eq!(phase(&index.applied(&job("a-1", "s1", 0, Some("Failed")))), Some("failed".into()));
        assert_eq!(index.applied(&job("a-1", "s1", 0, Some("Failed"))), None);
    }

    #[test]
    fn a_running_job_deleted_by_someone_else_fails_its_step() {
        let mut index = JobIndex::new();
        index.applied(&running("a-1", "s1"));
        let seen = index.deleted(&running("a-1", "s1"));
        let Some(Seen::Vanished(gone)) = seen else { panic!("expected a vanished step, got {seen:?}") };
        assert_eq!(gone.jobid, JobId::new("s1"));
        assert_eq!(gone.phase, JobPhase::Failed { reason: classify::DELETED_OUTSIDE_SMO.into() });
        // Said once: the index no longer knows it.
        assert_eq!(index.deleted(&running("a-1", "s1")), None);
    }

    #[test]
    fn a_relist_names_the_running_jobs_it_missed_and_only_those() {
        let mut index = JobIndex::new();
        index.applied(&running("a-1", "s1"));
        index.applied(&running("a-2", "s2"));
        index.applied(&job("a-3", "s3", 0, Some("Complete")));
        index.list_started();
        index.applied(&running("a-2", "s2"));
        // a-1 (running) is missing; a-3 had ended, its absence loses nothing.
        assert_eq!(index.missing(), vec!["a-1".to_string()]);
        assert!(matches!(index.gone("a-1"), Some(Seen::Vanished(_))));
        assert_eq!(index.gone("a-1"), None);
        // Without a list under way nothing is missing.
        assert!(index.missing().is_empty());
    }

    #[test]
    fn a_job_smo_ended_itself_or_superseded_is_no_loss() {
        let mut index = JobIndex::new();
        index.applied(&running("a-1", "s1"));
        index.ended_by_smo("a-1");
        assert_eq!(index.deleted(&running("a-1", "s1")), None);
        let mut superseded = running("a-2", "s2");
        index.applied(&superseded);
        superseded.metadata.labels.get_or_insert_default().insert(labels::SUPERSEDED.into(), "true".into());
        index.applied(&superseded);
        assert_eq!(index.deleted(&superseded), None);
    }

    #[test]
    fn a_forgotten_sequence_leaves_nothing_behind() {
        let mut index = JobIndex::new();
        index.applied(&running("a-1", "s1"));
        index.applied(&running("b-1", "s1"));
        index.applied(&running("a-2", "s2"));
        index.forget(&JobId::new("s1"));
        assert_eq!(index.len(), 1);
        // Deleting a forgotten sequence's Jobs (its cleanup) is no loss.
        assert_eq!(index.deleted(&running("a-1", "s1")), None);
    }

    #[test]
    fn objects_that_are_no_step_jobs_are_ignored() {
        let mut index = JobIndex::new();
        let mut other = running("x", "s1");
        other.metadata.labels = None;
        assert_eq!(index.applied(&other), None);
        assert!(index.is_empty());
    }
}
