//! Generated files in `dist/` must match what the code generates today.

use std::path::Path;

fn committed(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn dist_crd_matches_the_rust_types() {
    assert!(
        committed("crd.yaml") == smo::dist::crd_yaml(),
        "dist/crd.yaml is stale: run `make dist` and commit the result"
    );
}

#[test]
fn dist_install_files_match_the_code() {
    assert!(
        committed("install.yaml") == smo::dist::install_yaml(smo::dist::DEFAULT_IMAGE),
        "dist/install.yaml is stale: run `make dist` and commit the result"
    );
    assert!(
        committed("servicemonitor.yaml") == smo::dist::service_monitor_yaml(),
        "dist/servicemonitor.yaml is stale: run `make dist` and commit the result"
    );
}

/// The install manifests are well-formed Kubernetes objects (each document parses as its
/// k8s-openapi type), and the operator runs as non-root with probes and limits.
#[test]
fn install_manifests_are_valid_objects_with_a_hardened_operator() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    let text = smo::dist::install_yaml("example.org/smo:1");
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("install.yaml parses");
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap_or("?")).collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "CustomResourceDefinition",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Deployment",
            "Service"
        ]
    );
    fn typed<T: serde::de::DeserializeOwned>(doc: &serde_json::Value) -> T {
        serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{} does not parse: {e}", doc["kind"]))
    }
    let _: Namespace = typed(&docs[0]);
    let _: ServiceAccount = typed(&docs[2]);
    let role: ClusterRole = typed(&docs[3]);
    let _: ClusterRoleBinding = typed(&docs[4]);
    let _: Role = typed(&docs[5]);
    let _: RoleBinding = typed(&docs[6]);
    let deployment: Deployment = typed(&docs[7]);
    let _: Service = typed(&docs[8]);
    // Least privilege: no wildcard, no secrets, nothing cluster-scoped beyond reading the CRD's objects.
    for rule in role.rules.unwrap_or_default() {
        let all = rule.verbs.iter().chain(rule.resources.iter().flatten()).chain(rule.api_groups.iter().flatten());
        assert!(all.clone().all(|x| x != "*"), "no wildcard: {rule:?}");
        assert!(!rule.resources.unwrap_or_default().iter().any(|r| r == "secrets"), "no secrets");
    }
    let pod = deployment.spec.template.spec.expect("pod spec");
    assert_eq!(pod.security_context.and_then(|s| s.run_as_non_root), Some(true));
    let container = &pod.containers[0];
    assert_eq!(container.image.as_deref(), Some("example.org/smo:1"));
    assert!(container.liveness_probe.is_some() && container.readiness_probe.is_some(), "probes");
    assert!(container.resources.as_ref().and_then(|r| r.limits.as_ref()).is_some(), "limits");
    let env = container.env.clone().unwrap_or_default();
    assert!(env.iter().any(|e| e.name == "SMO_IMAGE" && e.value.as_deref() == Some("example.org/smo:1")));
}

#[test]
fn crd_keeps_the_original_identity_and_defaults() {
    let crd: serde_json::Value = serde_saphyr::from_str(&smo::dist::crd_yaml()).expect("CRD parses");
    assert_eq!(crd["metadata"]["name"], "statemachines.state-machine.converged-computing.org");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert!(version["subresources"]["status"].is_object(), "status subresource");
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(spec["required"], serde_json::json!(["cluster", "workflow"]));
    let step = &spec["properties"]["jobs"]["items"]["properties"];
    assert_eq!(step["config"]["properties"]["nodes"]["default"], 1);
    assert_eq!(step["config"]["properties"]["coresPerTask"]["default"], 3);
    assert_eq!(step["config"]["properties"]["pullPolicy"]["default"], "IfNotPresent");
    assert_eq!(step["arch"]["default"], "amd64");
    assert_eq!(step["registry"]["properties"]["plainHttp"]["default"], true);
    let registry = &spec["properties"]["registry"]["properties"];
    assert_eq!(registry["name"]["default"], "registry");
    assert_eq!(registry["image"]["default"], "ghcr.io/oras-project/registry:latest");
    assert!(registry["TLSVerify"].is_object(), "the original's JSON key is kept verbatim");
    let manager = &spec["properties"]["manager"]["properties"];
    assert_eq!(manager["subdomain"]["default"], "r");
    assert_eq!(manager["coresPerNode"]["default"], 4);
}
