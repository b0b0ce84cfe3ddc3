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
