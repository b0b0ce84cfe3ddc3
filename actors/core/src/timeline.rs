//! Where the operator keeps a workflow's timeline — every job's start and end, as the journal
//! of a local run records them (`["key", seconds]` lines) — so that it outlives the operator
//! and a user reads it without it (`smo timeline NAME`): ConfigMaps `<name>-timeline-<NNN>`
//! owned by the `StateMachine`, each holding at most [`CHUNK_BYTES`] of lines, at most
//! [`MAX_CHUNKS`] of them (about 4 MiB: some 50,000 jobs). Past that the later marks are not
//! kept, and one last line says so ([`TRUNCATED`]).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::labels;
use crate::times::Times;

/// The most bytes of lines one chunk holds (a ConfigMap may hold 1 MiB; a chunk is written
/// whole at each flush, so smaller is cheaper).
pub const CHUNK_BYTES: usize = 64 * 1024;

/// The most chunks a workflow's timeline has.
pub const MAX_CHUNKS: u32 = 64;

/// The key of a chunk's lines.
pub const KEY: &str = "times.jsonl";

/// Label on a chunk naming its index (and telling it from the workflow's other ConfigMaps).
pub const LABEL: &str = "state-machine.converged-computing.org/timeline";

/// The mark that ends a timeline that reached its bound.
pub const TRUNCATED: &str = "timeline_truncated";

/// The name of chunk `index` of `workflow`'s timeline.
pub fn chunk_name(workflow: &str, index: u32) -> String {
    format!("{workflow}-timeline-{index:03}")
}

/// The label selector of `workflow`'s chunks.
pub fn selector(workflow: &str) -> String {
    format!("{}={workflow},{LABEL}", labels::WORKFLOW)
}

/// Chunk `index` of `workflow`'s timeline in `namespace`, holding `lines`, owned by `owner`.
pub fn chunk(workflow: &str, namespace: &str, index: u32, lines: &str, owner: Option<&OwnerReference>) -> ConfigMap {
    let labels: BTreeMap<String, String> = [
        (labels::WORKFLOW.to_string(), workflow.to_string()),
        (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
        (LABEL.to_string(), index.to_string()),
    ]
    .into();
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(chunk_name(workflow, index)),
            namespace: Some(namespace.to_string()),
            labels: Some(labels),
            owner_references: owner.map(|o| vec![o.clone()]),
            ..ObjectMeta::default()
        },
        data: Some([(KEY.to_string(), lines.to_string())].into()),
        ..ConfigMap::default()
    }
}

/// The index of a chunk, from its label (None: not a chunk).
pub fn index_of(config_map: &ConfigMap) -> Option<u32> {
    config_map.metadata.labels.as_ref()?.get(LABEL)?.parse().ok()
}

/// The lines of a chunk.
pub fn lines_of(config_map: &ConfigMap) -> &str {
    config_map.data.as_ref().and_then(|d| d.get(KEY)).map_or("", String::as_str)
}

/// The timeline of `chunks` (any order) as the original's `workflow-times.json` record: the
/// first value of a key wins (a restarted operator marks some keys again); lines that do not
/// parse are skipped.
pub fn times(chunks: &[ConfigMap]) -> Times {
    let mut ordered: Vec<(u32, &str)> = chunks.iter().filter_map(|c| Some((index_of(c)?, lines_of(c)))).collect();
    ordered.sort_by_key(|(i, _)| *i);
    let mut times = Times::default();
    for line in ordered.iter().flat_map(|(_, lines)| lines.lines()) {
        if let Ok((key, t)) = serde_json::from_str::<(String, f64)>(line) {
            times.mark(key, t);
        }
    }
    times
}

/// Where the next mark goes, given the chunk being filled (`index`, holding `held` bytes) and
/// the mark's line: the same chunk, the next one, or nowhere (the bound is reached).
pub fn place(index: u32, held: usize, line: usize) -> Option<u32> {
    if held + line <= CHUNK_BYTES {
        Some(index)
    } else if index + 1 < MAX_CHUNKS {
        Some(index + 1)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_named_labelled_and_owned_by_the_workflow() {
        let owner = OwnerReference { name: "chain".into(), uid: "u1".into(), ..OwnerReference::default() };
        let c = chunk("chain", "team-a", 7, "[\"workflow_start\",1.0]\n", Some(&owner));
        assert_eq!(c.metadata.name.as_deref(), Some("chain-timeline-007"));
        assert_eq!(index_of(&c), Some(7));
        assert_eq!(lines_of(&c), "[\"workflow_start\",1.0]\n");
        assert_eq!(c.metadata.owner_references.map(|o| o[0].uid.clone()), Some("u1".into()));
        assert_eq!(
            selector("chain"),
            "state-machine.converged-computing.org/workflow=chain,state-machine.converged-computing.org/timeline"
        );
    }

    #[test]
    fn chunks_read_back_in_order_first_value_wins() {
        let second = chunk("w", "ns", 1, "[\"a_end\",5.0]\n[\"workflow_start\",9.0]\n", None);
        let first = chunk("w", "ns", 0, "[\"workflow_start\",1.0]\n[\"a_start\",2.0]\n[\"cut", None);
        let times = times(&[second, first]);
        assert_eq!(times.timestamps["workflow_start"], 1.0);
        assert_eq!(times.timestamps["a_end"], 5.0);
        assert_eq!(times.timestamps.len(), 3);
    }

    #[test]
    fn a_full_chunk_moves_on_and_the_last_one_ends_the_timeline() {
        assert_eq!(place(0, 10, 20), Some(0));
        assert_eq!(place(0, CHUNK_BYTES - 5, 20), Some(1));
        assert_eq!(place(MAX_CHUNKS - 1, CHUNK_BYTES - 5, 20), None);
    }
}
