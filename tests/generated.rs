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
        committed("install.yaml") == smo::dist::install_yaml(&smo::dist::Install::default()),
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
    let install = smo::dist::Install {
        image: "example.org/smo:1".into(),
        registry_image: "example.org/registry:2".into(),
        namespaces: Vec::new(),
    };
    let text = smo::dist::install_yaml(&install);
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
            "ClusterRole",
            "ClusterRole",
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
    let edit: ClusterRole = typed(&docs[5]);
    let view: ClusterRole = typed(&docs[6]);
    let lease: Role = typed(&docs[7]);
    let _: RoleBinding = typed(&docs[8]);
    let deployment: Deployment = typed(&docs[9]);
    let _: Service = typed(&docs[10]);
    // Namespace editors and viewers get StateMachines through Kubernetes' aggregated roles.
    let label = |r: &ClusterRole, key: &str| r.metadata.labels.as_ref().and_then(|l| l.get(key)).cloned();
    assert_eq!(label(&edit, "rbac.authorization.k8s.io/aggregate-to-edit").as_deref(), Some("true"));
    assert_eq!(label(&view, "rbac.authorization.k8s.io/aggregate-to-view").as_deref(), Some("true"));
    assert!(
        view.rules.iter().flatten().all(|r| r.verbs.iter().all(|v| ["get", "list", "watch"].contains(&v.as_str())))
    );
    // The Lease rule names its Lease for every verb that can be limited by name.
    let lease_rules = lease.rules.unwrap_or_default();
    assert!(
        lease_rules
            .iter()
            .all(|r| r.verbs == ["create"] || r.resource_names.as_deref() == Some(&["smo-operator".to_string()][..])),
        "{lease_rules:?}"
    );
    // Nodes are read (listed, nothing more) for the steps' fit: a cluster-wide install only.
    let rules = role.rules.clone().unwrap_or_default();
    let nodes: Vec<&Vec<String>> =
        rules.iter().filter(|r| r.resources.iter().flatten().any(|x| x == "nodes")).map(|r| &r.verbs).collect();
    assert_eq!(nodes, [&vec!["list".to_string()]], "{rules:?}");
    // Least privilege: no wildcard; Secrets created (a workflow registry's credentials), never
    // read, listed or watched.
    for rule in role.rules.unwrap_or_default() {
        let all = rule.verbs.iter().chain(rule.resources.iter().flatten()).chain(rule.api_groups.iter().flatten());
        assert!(all.clone().all(|x| x != "*"), "no wildcard: {rule:?}");
        if rule.resources.unwrap_or_default().iter().any(|r| r == "secrets") {
            assert_eq!(rule.verbs, ["create"], "Secrets may only be created");
        }
    }
    // A workflow's registry admits the operator's Pods by this label.
    let (key, value) = smo_core::registry::OPERATOR_POD_LABEL;
    let pod_labels = deployment.spec.template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    assert_eq!(pod_labels.get(key).map(String::as_str), Some(value), "{pod_labels:?}");
    let pod = deployment.spec.template.spec.expect("pod spec");
    assert_eq!(pod.security_context.and_then(|s| s.run_as_non_root), Some(true));
    let container = &pod.containers[0];
    assert_eq!(container.image.as_deref(), Some("example.org/smo:1"));
    assert!(container.liveness_probe.is_some() && container.readiness_probe.is_some(), "probes");
    assert!(container.resources.as_ref().and_then(|r| r.limits.as_ref()).is_some(), "limits");
    let env = container.env.clone().unwrap_or_default();
    assert!(env.iter().any(|e| e.name == "SMO_IMAGE" && e.value.as_deref() == Some("example.org/smo:1")));
    assert!(env.iter().any(|e| e.name == "SMO_REGISTRY_IMAGE" && e.value.as_deref() == Some("example.org/registry:2")));
}

/// `smo manifests --namespaces a,b`: no cluster-wide grant of the operator's rules, a Role and
/// RoleBinding in each namespace, and an operator that watches just those.
#[test]
fn a_namespaced_install_grants_the_operator_nothing_outside_its_namespaces() {
    let install = smo::dist::Install { namespaces: vec!["team-a".into(), "team-b".into()], ..Default::default() };
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&smo::dist::install_yaml(&install)).expect("install.yaml parses");
    let of = |kind: &str| docs.iter().filter(|d| d["kind"] == kind).collect::<Vec<_>>();
    assert!(of("ClusterRoleBinding").is_empty(), "no cluster-wide binding");
    // The only ClusterRoles are the aggregated ones for namespace editors and viewers.
    let cluster_roles: Vec<&str> = of("ClusterRole").iter().filter_map(|r| r["metadata"]["name"].as_str()).collect();
    assert_eq!(cluster_roles, ["smo-operator-statemachines-edit", "smo-operator-statemachines-view"]);
    let roles: Vec<(&str, &str)> = of("Role")
        .iter()
        .filter(|r| r["metadata"]["name"] == "smo-operator")
        .map(|r| (r["metadata"]["namespace"].as_str().unwrap_or(""), r["metadata"]["name"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(roles, [("team-a", "smo-operator"), ("team-b", "smo-operator")]);
    // A Role cannot grant nodes (they are not namespaced): the operator skips the fit check.
    let granted =
        of("Role").iter().flat_map(|r| r["rules"].as_array().cloned().unwrap_or_default()).collect::<Vec<_>>();
    assert!(granted.iter().all(|r| !r["resources"].to_string().contains("nodes")), "{granted:?}");
    let bindings: Vec<&str> = of("RoleBinding")
        .iter()
        .filter(|b| b["roleRef"]["name"] == "smo-operator")
        .filter_map(|b| b["metadata"]["namespace"].as_str())
        .collect();
    assert_eq!(bindings, ["team-a", "team-b"]);
    let env = &of("Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["env"];
    let watch = env.as_array().into_iter().flatten().find(|e| e["name"] == "SMO_WATCH_NAMESPACE");
    assert_eq!(watch.map(|e| e["value"].clone()), Some(serde_json::json!("team-a,team-b")));
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
    // No schema default: the operator's --registry-image fills an unset image (the original's
    // ghcr.io/oras-project/registry:latest unless the install names another), which a default
    // written by the apiserver would hide.
    assert!(registry["image"].is_object() && registry["image"].get("default").is_none(), "{}", registry["image"]);
    assert!(registry["TLSVerify"].is_object(), "the original's JSON key is kept verbatim");
    let manager = &spec["properties"]["manager"]["properties"];
    assert_eq!(manager["subdomain"]["default"], "r");
    assert_eq!(manager["coresPerNode"]["default"], 4);
}
