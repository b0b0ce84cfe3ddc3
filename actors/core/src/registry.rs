//! The ephemeral registry of a `StateMachine` whose `registry.host` is empty: a StatefulSet and
//! a Service, as the original operator deployed one per workflow.
//!
//! * Its name is `<statemachine>-<registry.name>` (the original used `registry.name` alone, so
//!   two workflows in one namespace collided), cut to a valid Service name with a hash when long.
//! * Steps reach it by the Service's ClusterIP (`<ip>:5000`), never by a DNS name: many
//!   clusters restrict cluster DNS, and some have none.
//! * Artifacts live in an `emptyDir` (gone with the Pod), or on a PersistentVolumeClaim when
//!   `registry.storage` asks for one, so they survive a restart of the registry.
//! * It is owned by the `StateMachine`: deleting the resource deletes it.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::json;

use crate::api::RegistrySpec;
use crate::error::{Error, Result};
use crate::{defaults, labels, pod_security};

/// The port the registry listens on (and its Service serves).
pub const PORT: i32 = 5000;

/// Where the registry keeps artifacts in its container.
pub const STORAGE_PATH: &str = "/var/lib/registry";

/// Label that marks the registry's objects.
pub const COMPONENT: &str = "app.kubernetes.io/component";

/// The registry's StatefulSet and Service name for the `StateMachine` `workflow`: at most 63
/// characters, lower case, a valid DNS label (a hash of the full name keeps long ones apart).
pub fn name(workflow: &str, registry: &RegistrySpec) -> String {
    let raw = format!("{workflow}-{}", registry.name).to_lowercase().replace(['_', '.'], "-");
    let clean: String = raw.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    // StatefulSet Pods add `-<ordinal>` and a controller-revision label with a hash: keep room.
    const MAX: usize = 52;
    if clean.len() <= MAX {
        return clean.trim_matches('-').to_string();
    }
    let hash = crate::names::stable_seed(&raw) % 0xff_ffff;
    format!("{}-{hash:06x}", clean[..MAX - 7].trim_matches('-'))
}

/// Labels of the registry's objects (the Service selects its Pods by them).
pub fn registry_labels(workflow: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
        (labels::WORKFLOW.to_string(), workflow.to_string()),
        (COMPONENT.to_string(), "registry".to_string()),
    ])
}

/// The registry's StatefulSet and Service in `namespace`, owned by `owner`.
pub fn objects(
    workflow: &str,
    namespace: &str,
    registry: &RegistrySpec,
    owner: Option<&OwnerReference>,
) -> Result<(StatefulSet, Service)> {
    let name = name(workflow, registry);
    let labels = registry_labels(workflow);
    let metadata = json!({
        "name": name,
        "namespace": namespace,
        "labels": labels,
        "ownerReferences": owner.map(|o| vec![o]).unwrap_or_default(),
    });
    let node_selector: BTreeMap<String, String> = registry
        .node_selector
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| ("node.kubernetes.io/instance-type".to_string(), s.clone()))
        .collect();
    let claim = registry.storage.as_ref().filter(|s| !s.is_empty());
    let volumes = match claim {
        Some(_) => json!([]),
        None => json!([{"name": "artifacts", "emptyDir": {}}]),
    };
    let claims = match claim {
        Some(size) => json!([{
            "metadata": {"name": "artifacts", "labels": labels},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": size}},
                "storageClassName": registry.storage_class_name,
            },
        }]),
        None => json!([]),
    };
    let statefulset = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": metadata,
        "spec": {
            "serviceName": name,
            "replicas": registry.replicas.max(1),
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": node_selector,
                    // Passes the restricted Pod Security Standard, whatever the image's user;
                    // fsGroup makes a claimed volume writable by it.
                    "automountServiceAccountToken": false,
                    "securityContext": {"runAsNonRoot": true, "fsGroup": pod_security::NONROOT_UID, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "registry",
                        "image": registry.image.as_deref().unwrap_or(defaults::REGISTRY_IMAGE),
                        "imagePullPolicy": registry.pull_policy,
                        "ports": [{"name": "registry", "containerPort": PORT, "protocol": "TCP"}],
                        "env": [
                            {"name": "REGISTRY_HTTP_ADDR", "value": format!(":{PORT}")},
                            {"name": "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "value": STORAGE_PATH},
                            {"name": "REGISTRY_STORAGE_DELETE_ENABLED", "value": "true"},
                        ],
                        "readinessProbe": {"httpGet": {"path": "/v2/", "port": PORT}, "periodSeconds": 2},
                        "securityContext": pod_security::own_container_context(),
                        "volumeMounts": [{"name": "artifacts", "mountPath": STORAGE_PATH}],
                    }],
                    "volumes": volumes,
                },
            },
            "volumeClaimTemplates": claims,
        },
    });
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": metadata,
        "spec": {
            "selector": labels,
            "ports": [{"name": "registry", "port": PORT, "targetPort": PORT, "protocol": "TCP"}],
        },
    });
    let what = |kind: &str| format!("the registry {kind} {namespace}/{name}");
    let statefulset: StatefulSet =
        serde_json::from_value(statefulset).map_err(|e| Error::Serialize { what: what("StatefulSet"), source: e })?;
    let service: Service =
        serde_json::from_value(service).map_err(|e| Error::Serialize { what: what("Service"), source: e })?;
    Ok((statefulset, service))
}

/// Why a registry Pod cannot become ready by waiting, in one line naming its image, or None
/// while it may still (scheduled and pulling, starting, running): an image that cannot be
/// pulled, a container that cannot be created or keeps crashing, a Pod that cannot be
/// scheduled.
pub fn pod_problem(pod: &Pod) -> Option<String> {
    let name = pod.metadata.name.as_deref().unwrap_or("the registry Pod");
    let status = pod.status.as_ref()?;
    for c in status.container_statuses.iter().flatten() {
        let Some(waiting) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) else { continue };
        let reason = waiting.reason.as_deref().unwrap_or_default();
        if STUCK_REASONS.contains(&reason) {
            let message = waiting.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
            return Some(format!("Pod {name}: {reason}{message} (image {})", c.image));
        }
    }
    let unschedulable = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable"));
    unschedulable.map(|c| format!("Pod {name}: Unschedulable: {}", c.message.as_deref().unwrap_or("no node fits it")))
}

/// Container waiting reasons that waiting alone does not end: the kubelet keeps trying, but the
/// image, the spec or the program has to change first.
const STUCK_REASONS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "wf-registry-0"}, "status": status})).expect("pod")
    }

    #[test]
    fn a_registry_pod_that_cannot_pull_its_image_says_why_with_the_image() {
        let pulling = pod(json!({"phase": "Pending", "containerStatuses": [{
            "name": "registry", "image": "ghcr.io/oras-project/registry:latest", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"ghcr.io/oras-project/registry:latest\""}},
        }]}));
        let problem = pod_problem(&pulling).expect("a problem");
        assert!(problem.starts_with("Pod wf-registry-0: ImagePullBackOff: Back-off pulling image"), "{problem}");
        assert!(problem.ends_with("(image ghcr.io/oras-project/registry:latest)"), "{problem}");
    }

    #[test]
    fn a_registry_pod_still_starting_or_unscheduled_is_told_apart() {
        let creating = pod(json!({"phase": "Pending", "containerStatuses": [{
            "name": "registry", "image": "r:1", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating"}},
        }]}));
        assert_eq!(pod_problem(&creating), None);
        assert_eq!(pod_problem(&pod(json!({"phase": "Running"}))), None);
        let unschedulable = pod(json!({"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 node(s) didn't match node selector.",
        }]}));
        assert_eq!(
            pod_problem(&unschedulable).as_deref(),
            Some("Pod wf-registry-0: Unschedulable: 0/1 nodes are available: 1 node(s) didn't match node selector.")
        );
    }

    fn spec() -> RegistrySpec {
        serde_json::from_value(json!({})).unwrap_or_default()
    }

    #[test]
    fn two_workflows_in_one_namespace_get_registries_of_their_own() {
        let r = spec();
        assert_eq!(r.name, "registry");
        assert_eq!(name("left", &r), "left-registry");
        assert_ne!(name("left", &r), name("right", &r));
        assert_eq!(name("My_Flow", &r), "my-flow-registry");
        let long = "x".repeat(80);
        let (a, b) = (name(&long, &r), name(&format!("{long}y"), &r));
        assert!(a.len() <= 52 && b.len() <= 52 && a != b, "{a} {b}");
    }

    #[test]
    fn the_registry_keeps_artifacts_in_an_empty_dir_unless_storage_is_asked_for() {
        let owner = OwnerReference { name: "wf".into(), uid: "u".into(), ..OwnerReference::default() };
        let (set, service) = objects("wf", "ns", &spec(), Some(&owner)).expect("objects");
        let pod = set.spec.template.spec.as_ref().expect("pod spec");
        let violations = pod_security::violations(pod, pod_security::Level::Restricted);
        assert!(violations.is_empty(), "the registry passes restricted: {violations:#?}");
        assert_eq!(pod.automount_service_account_token, Some(false));
        assert!(pod.volumes.as_ref().is_some_and(|v| v[0].empty_dir.is_some()));
        assert_eq!(pod.containers[0].image.as_deref(), Some("ghcr.io/oras-project/registry:latest"));
        assert_eq!(set.metadata.owner_references.as_ref().map(|o| o[0].uid.as_str()), Some("u"));
        let selector = service.spec.as_ref().and_then(|s| s.selector.clone()).expect("selector");
        assert_eq!(selector.get(labels::WORKFLOW).map(String::as_str), Some("wf"));

        let mut persistent = spec();
        persistent.storage = Some("1Gi".into());
        persistent.storage_class_name = Some("manual".into());
        persistent.node_selector = Some("c5.large".into());
        let (set, _) = objects("wf", "ns", &persistent, None).expect("objects");
        let spec = set.spec;
        let claims = spec.volume_claim_templates.expect("a claim");
        assert_eq!(claims[0].spec.as_ref().and_then(|s| s.storage_class_name.as_deref()), Some("manual"));
        let pod = spec.template.spec.expect("pod spec");
        assert!(pod.volumes.unwrap_or_default().is_empty(), "the claim replaces the emptyDir");
        assert_eq!(
            pod.node_selector.and_then(|n| n.get("node.kubernetes.io/instance-type").cloned()).as_deref(),
            Some("c5.large")
        );
    }
}
