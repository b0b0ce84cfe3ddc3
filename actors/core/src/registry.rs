//! The ephemeral registry of a `StateMachine` whose `registry.host` is empty: a StatefulSet and
//! a Service, as the original operator deployed one per workflow.
//!
//! * Its name is `<statemachine>-<registry.name>` (the original used `registry.name` alone, so
//!   two workflows in one namespace collided), cut to a valid Service name with a hash when long.
//! * Steps reach it by the Service's ClusterIP (`<ip>:5000`), never by a DNS name: many
//!   clusters restrict cluster DNS, and some have none.
//! * Artifacts live in an `emptyDir` (gone with the Pod), or on a PersistentVolumeClaim when
//!   `registry.storage` asks for one, so they survive a restart of the registry.
//! * It is private to its workflow: it requires a user name and password (htpasswd, generated
//!   per workflow and kept in a Secret the `StateMachine` owns), which the workflow's step Pods
//!   get from that Secret by reference (the kubelet reads it, the operator never does). Deletes
//!   are off. A NetworkPolicy admits only the workflow's own Pods and the operator's; where the
//!   cluster's network does not enforce policies, the password alone keeps others out.
//! * One replica: replicas would not share an `emptyDir` (nor a ReadWriteOnce claim), so an
//!   artifact pushed to one would be missing from the next. `smo validate` warns about more.
//! * It is owned by the `StateMachine`: deleting the resource deletes it.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
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

/// The user name steps give their workflow's registry.
pub const USERNAME: &str = "smo";

/// Keys of the credentials Secret: the user name and password steps give the registry, and the
/// registry's htpasswd file (`user:bcrypt-hash`).
pub const USERNAME_KEY: &str = "username";
/// See [`USERNAME_KEY`].
pub const PASSWORD_KEY: &str = "password";
/// See [`USERNAME_KEY`].
pub const HTPASSWD_KEY: &str = "htpasswd";

/// Where the registry's container finds its htpasswd file.
const AUTH_DIR: &str = "/etc/smo-registry-auth";

/// The label and value of the operator's own Pods (`dist/install.yaml`), which the registry's
/// NetworkPolicy admits so that the operator can see the registry answer.
pub const OPERATOR_POD_LABEL: (&str, &str) = ("app.kubernetes.io/name", "smo-operator");

/// Everything one workflow's registry is made of, but its credentials Secret
/// ([`credentials_secret`], made once with a generated password).
#[derive(Clone, Debug)]
pub struct Objects {
    /// The registry itself (one replica).
    pub statefulset: StatefulSet,
    /// Its ClusterIP Service, which steps reach it by.
    pub service: Service,
    /// Who may reach it: the workflow's Pods and the operator's.
    pub network_policy: NetworkPolicy,
}

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

/// The name of the Secret with the registry's credentials (see [`USERNAME_KEY`]).
pub fn credentials_name(workflow: &str, registry: &RegistrySpec) -> String {
    format!("{}-auth", name(workflow, registry))
}

/// The Secret with the registry's credentials, `password` and its `htpasswd` line
/// (`smo:$2b$…`), owned by `owner`.
pub fn credentials_secret(
    workflow: &str,
    namespace: &str,
    registry: &RegistrySpec,
    owner: Option<&OwnerReference>,
    password: &str,
    htpasswd: &str,
) -> Result<Secret> {
    let name = credentials_name(workflow, registry);
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": name, "namespace": namespace, "labels": registry_labels(workflow),
            "ownerReferences": owner.map(|o| vec![o]).unwrap_or_default(),
        },
        "type": "Opaque",
        "stringData": {USERNAME_KEY: USERNAME, PASSWORD_KEY: password, HTPASSWD_KEY: format!("{htpasswd}\n")},
    });
    serde_json::from_value(secret)
        .map_err(|e| Error::Serialize { what: format!("the registry Secret {namespace}/{name}"), source: e })
}

/// The registry's StatefulSet, Service and NetworkPolicy in `namespace`, owned by `owner`; the
/// policy admits the operator's Pods in `operator_namespace`.
pub fn objects(
    workflow: &str,
    namespace: &str,
    registry: &RegistrySpec,
    owner: Option<&OwnerReference>,
    operator_namespace: &str,
) -> Result<Objects> {
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
    let auth_volume = json!({"name": "auth", "secret": {
        "secretName": credentials_name(workflow, registry),
        "items": [{"key": HTPASSWD_KEY, "path": HTPASSWD_KEY}],
    }});
    let volumes = match claim {
        Some(_) => json!([auth_volume]),
        None => json!([{"name": "artifacts", "emptyDir": {}}, auth_volume]),
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
            "replicas": 1,
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
                            {"name": "REGISTRY_STORAGE_DELETE_ENABLED", "value": "false"},
                            {"name": "REGISTRY_AUTH", "value": "htpasswd"},
                            {"name": "REGISTRY_AUTH_HTPASSWD_REALM", "value": format!("smo {namespace}/{workflow}")},
                            {"name": "REGISTRY_AUTH_HTPASSWD_PATH", "value": format!("{AUTH_DIR}/{HTPASSWD_KEY}")},
                        ],
                        // TCP: every HTTP path of the API asks for the password.
                        "readinessProbe": {"tcpSocket": {"port": PORT}, "periodSeconds": 2},
                        "securityContext": pod_security::own_container_context(),
                        "volumeMounts": [
                            {"name": "artifacts", "mountPath": STORAGE_PATH},
                            {"name": "auth", "mountPath": AUTH_DIR, "readOnly": true},
                        ],
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
    let (operator_label, operator_name) = OPERATOR_POD_LABEL;
    let network_policy = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": metadata,
        "spec": {
            "podSelector": {"matchLabels": labels},
            "policyTypes": ["Ingress"],
            "ingress": [{
                "from": [
                    // The workflow's own Pods (a podSelector alone means this namespace).
                    {"podSelector": {"matchLabels": {(labels::MANAGED_BY): labels::MANAGER, (labels::WORKFLOW): workflow}}},
                    // The operator, which waits for the registry to answer.
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": operator_namespace}},
                        "podSelector": {"matchLabels": {operator_label: operator_name}},
                    },
                ],
                "ports": [{"port": PORT, "protocol": "TCP"}],
            }],
        },
    });
    let what = |kind: &str| format!("the registry {kind} {namespace}/{name}");
    let statefulset: StatefulSet =
        serde_json::from_value(statefulset).map_err(|e| Error::Serialize { what: what("StatefulSet"), source: e })?;
    let service: Service =
        serde_json::from_value(service).map_err(|e| Error::Serialize { what: what("Service"), source: e })?;
    let network_policy: NetworkPolicy = serde_json::from_value(network_policy)
        .map_err(|e| Error::Serialize { what: what("NetworkPolicy"), source: e })?;
    Ok(Objects { statefulset, service, network_policy })
}

/// Why a registry Pod cannot become ready by waiting ([`crate::classify::pod_problem`]).
pub fn pod_problem(pod: &Pod) -> Option<String> {
    crate::classify::pod_problem(pod)
}

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
        let Objects { statefulset: set, service, .. } =
            objects("wf", "ns", &spec(), Some(&owner), "smo-system").expect("objects");
        let pod = set.spec.template.spec.as_ref().expect("pod spec");
        let violations = pod_security::violations(pod, pod_security::Level::Restricted);
        assert!(violations.is_empty(), "the registry passes restricted: {violations:#?}");
        assert_eq!(pod.automount_service_account_token, Some(false));
        assert!(pod.volumes.as_ref().is_some_and(|v| v[0].empty_dir.is_some() && v[1].secret.is_some()));
        assert_eq!(pod.containers[0].image.as_deref(), Some("ghcr.io/oras-project/registry:latest"));
        assert_eq!(set.metadata.owner_references.as_ref().map(|o| o[0].uid.as_str()), Some("u"));
        let selector = service.spec.as_ref().and_then(|s| s.selector.clone()).expect("selector");
        assert_eq!(selector.get(labels::WORKFLOW).map(String::as_str), Some("wf"));

        let mut persistent = spec();
        persistent.storage = Some("1Gi".into());
        persistent.storage_class_name = Some("manual".into());
        persistent.node_selector = Some("c5.large".into());
        let spec = objects("wf", "ns", &persistent, None, "smo-system").expect("objects").statefulset.spec;
        let claims = spec.volume_claim_templates.expect("a claim");
        assert_eq!(claims[0].spec.as_ref().and_then(|s| s.storage_class_name.as_deref()), Some("manual"));
        let pod = spec.template.spec.expect("pod spec");
        let volumes = pod.volumes.unwrap_or_default();
        assert!(volumes.iter().all(|v| v.empty_dir.is_none()), "the claim replaces the emptyDir: {volumes:?}");
        assert_eq!(
            pod.node_selector.and_then(|n| n.get("node.kubernetes.io/instance-type").cloned()).as_deref(),
            Some("c5.large")
        );
    }

    #[test]
    fn the_registry_asks_for_the_password_of_its_own_secret_and_keeps_what_is_pushed() {
        let mut asked = spec();
        asked.replicas = 3;
        let Objects { statefulset, .. } = objects("wf", "ns", &asked, None, "smo-system").expect("objects");
        assert_eq!(statefulset.spec.replicas, Some(1), "replicas would not share artifacts");
        let pod = statefulset.spec.template.spec.expect("pod spec");
        let env: BTreeMap<String, String> = pod.containers[0]
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
            .collect();
        assert_eq!(env["REGISTRY_AUTH"], "htpasswd");
        assert_eq!(env["REGISTRY_AUTH_HTPASSWD_PATH"], format!("{AUTH_DIR}/{HTPASSWD_KEY}"));
        assert_eq!(env["REGISTRY_STORAGE_DELETE_ENABLED"], "false", "no step deletes, so nobody may");
        let auth = pod.volumes.iter().flatten().find_map(|v| v.secret.as_ref()).expect("the htpasswd volume");
        assert_eq!(auth.secret_name.as_deref(), Some(credentials_name("wf", &asked).as_str()));
        assert_eq!(
            auth.items.as_ref().map(|i| i[0].key.as_str()),
            Some(HTPASSWD_KEY),
            "only the htpasswd file, not the password"
        );
        let mounts = pod.containers[0].volume_mounts.clone().unwrap_or_default();
        assert!(mounts.iter().any(|m| m.mount_path == AUTH_DIR && m.read_only == Some(true)), "{mounts:?}");
        // Every API path asks for the password, so an HTTP readiness probe would never pass.
        let probe = pod.containers[0].readiness_probe.as_ref().expect("a probe");
        assert!(probe.tcp_socket.is_some() && probe.http_get.is_none());

        let owner = OwnerReference { name: "wf".into(), uid: "u".into(), ..OwnerReference::default() };
        let secret = credentials_secret("wf", "ns", &spec(), Some(&owner), "pw", "smo:$2b$hash").expect("secret");
        assert_eq!(secret.metadata.name.as_deref(), Some("wf-registry-auth"));
        assert_eq!(secret.metadata.owner_references.as_ref().map(|o| o[0].uid.as_str()), Some("u"));
        let data = secret.string_data.expect("string data");
        assert_eq!((data[USERNAME_KEY].as_str(), data[PASSWORD_KEY].as_str()), (USERNAME, "pw"));
        assert_eq!(data[HTPASSWD_KEY], "smo:$2b$hash\n");
    }

    #[test]
    fn only_the_workflows_own_pods_and_the_operator_may_reach_its_registry() {
        let Objects { network_policy, .. } = objects("wf", "team-a", &spec(), None, "smo-system").expect("objects");
        let policy = serde_json::to_value(&network_policy).expect("json");
        assert_eq!(policy["metadata"]["namespace"], "team-a");
        assert_eq!(policy["spec"]["podSelector"]["matchLabels"][COMPONENT], "registry");
        assert_eq!(policy["spec"]["podSelector"]["matchLabels"][labels::WORKFLOW], "wf");
        assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress"]));
        let ingress = policy["spec"]["ingress"].as_array().expect("ingress rules");
        assert_eq!(ingress.len(), 1, "one rule: nothing else is admitted");
        assert_eq!(ingress[0]["ports"], json!([{"port": PORT, "protocol": "TCP"}]));
        let from = ingress[0]["from"].as_array().expect("peers");
        // The workflow's Pods: no namespaceSelector, so this namespace only.
        assert_eq!(
            from[0],
            json!({"podSelector": {"matchLabels": {(labels::WORKFLOW): "wf", (labels::MANAGED_BY): labels::MANAGER}}})
        );
        // The operator: its namespace and its Pods' label, both required (one peer).
        assert_eq!(from[1]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], "smo-system");
        assert_eq!(from[1]["podSelector"]["matchLabels"][OPERATOR_POD_LABEL.0], OPERATOR_POD_LABEL.1);
        assert_eq!(from.len(), 2);
    }
}
