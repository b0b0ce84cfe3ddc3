//! Helpers of the tests that need the project's cluster (`make test-cluster`): kubectl, a
//! namespace per test, polling with a deadline, the Jobs of a workflow.

use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The image steps run in: Debian 12, made locally by the cluster scripts.
pub fn image() -> String {
    std::env::var("SMO_TEST_IMAGE").unwrap_or_else(|_| "docker.io/library/debian:12-slim".into())
}

pub fn registry() -> String {
    std::env::var("SMO_REGISTRY").expect("SMO_REGISTRY is set by `make test-cluster` (eval \"$(make -s cluster-env)\")")
}

pub fn kubectl(args: &[&str]) -> Output {
    Command::new("kubectl").args(args).output().expect("run kubectl")
}

/// kubectl with `input` on its standard input.
pub fn kubectl_with_input(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new("kubectl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input).expect("write to kubectl");
    child.wait_with_output().expect("kubectl ends")
}

/// A namespace of its own for one test, deleted when dropped.
pub struct Namespace(pub String);

impl Namespace {
    pub fn new(test: &str) -> Namespace {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!("smo-{test}-{:05}", nanos % 100_000);
        let out = kubectl(&["create", "namespace", &name]);
        assert!(out.status.success(), "cannot create namespace {name}: {}", String::from_utf8_lossy(&out.stderr));
        // The controller-manager gives every namespace a `default` ServiceAccount; Pods wait for it.
        eventually(Duration::from_secs(30), &format!("namespace {name} got no default ServiceAccount"), || {
            kubectl(&["-n", &name, "get", "serviceaccount", "default"]).status.success().then_some(()).ok_or("")
        });
        Namespace(name)
    }

    /// What a person would look at in the namespace when a run hangs: its StatefulSets, Pods
    /// and endpoints, and its Events (the latest last).
    pub fn looks(&self) -> String {
        let objects = kubectl(&["-n", &self.0, "get", "statefulsets,pods,endpoints,endpointslices", "-o", "wide"]);
        let events = kubectl(&["-n", &self.0, "get", "events", "--sort-by=.lastTimestamp"]);
        let events = String::from_utf8_lossy(&events.stdout).into_owned();
        let events = events.lines().rev().take(60).collect::<Vec<_>>();
        // A node the control plane took for gone marks its Pods not ready (their Services then
        // refuse connections): its conditions and Events say so.
        let node = kubectl(&[
            "get",
            "nodes",
            "-o",
            "custom-columns=NAME:.metadata.name,CONDITIONS:.status.conditions[*].type,STATUS:.status.conditions[*].status,TAINTS:.spec.taints[*].key",
        ]);
        let node_events = kubectl(&["get", "events", "-n", "default", "--field-selector", "involvedObject.kind=Node"]);
        // What the controller-manager (endpoints, EndpointSlices, StatefulSets) said of the
        // namespace, from the project's cluster's log.
        let state = std::env::var("SMO_CLUSTER_STATE").unwrap_or_else(|_| "/tmp/smo-cluster".into());
        let log = std::fs::read_to_string(format!("{state}/logs/controller-manager.log")).unwrap_or_default();
        let said: Vec<&str> = log.lines().filter(|l| l.contains(self.0.as_str())).collect();
        format!(
            "--- namespace {}\n{}--- its latest Events\n{}\n--- the node\n{}{}--- the controller-manager on it\n{}",
            self.0,
            text(&objects),
            events.into_iter().rev().collect::<Vec<_>>().join("\n"),
            text(&node),
            text(&node_events),
            said[said.len().saturating_sub(60)..].join("\n")
        )
    }

    /// Every Job in the namespace: (jobid, step, phase: `Complete`, `Failed` or `running`).
    pub fn jobs(&self) -> Vec<(String, String, String)> {
        self.jobs_selected(&[])
    }

    /// The Jobs of the workflow `name` (its label), as [`Namespace::jobs`].
    pub fn jobs_of(&self, name: &str) -> Vec<(String, String, String)> {
        let selector = format!("state-machine.converged-computing.org/workflow={name}");
        self.jobs_selected(&["-l", &selector])
    }

    fn jobs_selected(&self, selector: &[&str]) -> Vec<(String, String, String)> {
        let mut args = vec!["-n", &self.0, "get", "jobs", "-o", "json"];
        args.extend_from_slice(selector);
        let out = kubectl(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let list: Value = serde_json::from_slice(&out.stdout).expect("kubectl prints JSON");
        let items = list["items"].as_array().cloned().unwrap_or_default();
        items
            .iter()
            .map(|job| {
                let label = |k: &str| job["metadata"]["labels"][k].as_str().unwrap_or_default().to_string();
                let conditions = job["status"]["conditions"].as_array().cloned().unwrap_or_default();
                let phase = conditions
                    .iter()
                    .find(|c| c["status"] == "True" && (c["type"] == "Complete" || c["type"] == "Failed"))
                    .and_then(|c| c["type"].as_str())
                    .unwrap_or("running")
                    .to_string();
                (label("jobid"), label("app"), phase)
            })
            .collect()
    }
}

impl Namespace {
    /// Waits until a run is in full swing: some Jobs completed, others running; `also` is
    /// checked on every poll.
    pub fn wait_mid_run(&self, mut also: impl FnMut()) {
        eventually(Duration::from_secs(120), "the run made no progress", || {
            also();
            let jobs = self.jobs();
            let done = jobs.iter().filter(|j| j.2 == "Complete").count();
            if done >= 3 && jobs.iter().any(|j| j.2 == "running") { Ok(()) } else { Err(jobs) }
        });
    }
}

impl Drop for Namespace {
    /// Deletes the namespace, unless the test failed and `SMO_KEEP_FAILED` is set: then it is
    /// kept for a look, and named.
    fn drop(&mut self) {
        if std::thread::panicking() && std::env::var_os("SMO_KEEP_FAILED").is_some() {
            eprintln!("kept namespace {} of the failed test (SMO_KEEP_FAILED)", self.0);
            return;
        }
        let _ = kubectl(&["delete", "namespace", &self.0, "--wait=false"]);
    }
}

pub fn text(out: &Output) -> String {
    format!("--- stdout\n{}--- stderr\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Polls `check` until it gives a value; after `limit`, fails the test with `what` and the last
/// state `check` reported.
pub fn eventually<T, S: std::fmt::Debug>(limit: Duration, what: &str, mut check: impl FnMut() -> Result<T, S>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match check() {
            Ok(value) => return value,
            Err(state) => assert!(Instant::now() < deadline, "{what}: {state:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `command` to its end; kills it and fails the test if that takes longer than `limit`.
pub fn within(mut command: Command, limit: Duration) -> Output {
    let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start smo");
    let pid = child.id();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(child.wait_with_output()));
    match receiver.recv_timeout(limit) {
        Ok(out) => out.expect("smo ends"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            let out = receiver.recv().expect("smo was killed").expect("smo ends");
            panic!("smo did not end within {} s:\n{}", limit.as_secs(), text(&out));
        }
    }
}

/// (jobid, step) → how many Jobs, of the Jobs in `jobs`.
pub fn per_job(jobs: &[(String, String, String)]) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for (jobid, step, _) in jobs {
        *counts.entry((jobid.clone(), step.clone())).or_insert(0) += 1;
    }
    counts
}

/// A StateMachine manifest named `name`: `spec_head` (workflow/cluster lines, indented by two),
/// then `steps` (name, script) in the test image, each asking for `cores` CPUs.
pub fn state_machine(name: &str, spec_head: &str, steps: &[(&str, &str)], cores: u32) -> String {
    let mut jobs = String::new();
    for (step, script) in steps {
        let script: String = script.lines().map(|l| format!("      {l}\n")).collect();
        jobs.push_str(&format!(
            "  - name: {step}\n    image: {}\n    config: {{coresPerTask: {cores}}}\n    script: |\n{script}",
            image()
        ));
    }
    format!(
        "apiVersion: state-machine.converged-computing.org/v1alpha1\nkind: StateMachine\nmetadata:\n  name: {name}\nspec:\n{spec_head}  jobs:\n{jobs}"
    )
}

/// Minimal CRDs of JobSet (jobset.x-k8s.io) and the Flux Operator's MiniCluster
/// (flux-framework.org): the API the executor creates objects in. Their controllers are absent
/// from the test cluster; `tests/kubernetes.rs`' `ControllerStandIn` does what they do for smo.
pub const CUSTOM_CRDS: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: jobsets.jobset.x-k8s.io}
spec:
  group: jobset.x-k8s.io
  scope: Namespaced
  names: {kind: JobSet, listKind: JobSetList, plural: jobsets, singular: jobset}
  versions:
  - name: v1alpha2
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: miniclusters.flux-framework.org}
spec:
  group: flux-framework.org
  scope: Namespaced
  names: {kind: MiniCluster, listKind: MiniClusterList, plural: miniclusters, singular: minicluster}
  versions:
  - name: v1alpha2
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"#;

pub fn install_custom_crds() {
    let out = kubectl_with_input(&["apply", "-f", "-"], CUSTOM_CRDS.as_bytes());
    assert!(out.status.success(), "{}", text(&out));
    let out = kubectl(&[
        "wait",
        "--for=condition=established",
        "--timeout=60s",
        "crd/jobsets.jobset.x-k8s.io",
        "crd/miniclusters.flux-framework.org",
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

/// JobSets served, MiniClusters not: the custom CRDs installed, then the MiniCluster one removed.
pub fn serve_jobsets_but_not_miniclusters() {
    install_custom_crds();
    let out = kubectl(&["delete", "crd", "miniclusters.flux-framework.org", "--ignore-not-found", "--wait=true"]);
    assert!(out.status.success(), "{}", text(&out));
}

/// Names of the `kind` objects in `ns` that `selector` (a label selector; empty: all) and the
/// JSONPath `filter` (`{.items[?(…)].metadata.name}`) give.
pub fn names(ns: &str, kind: &str, selector: &str, filter: &str) -> Vec<String> {
    let mut args = vec!["-n", ns, "get", kind];
    if !selector.is_empty() {
        args.extend(["-l", selector]);
    }
    let jsonpath = format!("jsonpath={filter}");
    args.extend(["-o", &jsonpath]);
    let out = kubectl(&args);
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect()
}

/// The first `kind` object in `ns` running now: a Job with an active Pod, or a `Running` Pod,
/// within a minute.
pub fn first_running(ns: &Namespace, kind: &str) -> String {
    let filter = match kind {
        "jobs" => "{.items[?(@.status.active==1)].metadata.name}",
        _ => "{.items[?(@.status.phase==\"Running\")].metadata.name}",
    };
    eventually(Duration::from_secs(60), &format!("no {kind} ran"), || {
        let found = names(&ns.0, kind, "", filter);
        found.first().cloned().ok_or(found)
    })
}

/// Restarts one component of the running cluster in place (`tests/cluster/restart.sh`), as a
/// crash and a supervisor would: `apiserver`, for one.
pub fn restart_component(component: &str) {
    let out =
        Command::new(super::root().join("tests/cluster/restart.sh")).arg(component).output().expect("run restart.sh");
    assert!(out.status.success(), "restart.sh {component}: {}", text(&out));
}

/// The CRD, installed (or updated) from `smo crd` once per test binary.
pub fn install_crd() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let crd = super::smo().arg("crd").output().expect("run smo crd");
        assert!(crd.status.success(), "{}", text(&crd));
        let out = kubectl_with_input(&["apply", "-f", "-"], &crd.stdout);
        assert!(out.status.success(), "cannot install the CRD: {}", text(&out));
        eventually(Duration::from_secs(30), "the CRD is not served", || {
            kubectl(&["get", "statemachines", "-A"]).status.success().then_some(()).ok_or("")
        });
    });
}

/// The operator installed as a user installs it (`smo manifests` with the image `make image`
/// built, applied with kubectl) for as long as a test runs; removed afterwards, CRD aside.
pub struct Installed {
    manifests: Vec<u8>,
}

impl Installed {
    /// `kubectl apply -f dist/install.yaml` (its image is the one `make image` builds; another
    /// comes from `smo manifests --image $SMO_TEST_SMO_IMAGE`).
    pub fn apply() -> Installed {
        install_crd();
        let manifests = match std::env::var("SMO_TEST_SMO_IMAGE") {
            Ok(image) => {
                let out = super::smo().args(["manifests", "--image", &image]).output().expect("run smo manifests");
                assert!(out.status.success(), "{}", text(&out));
                out.stdout
            }
            Err(_) => std::fs::read(super::root().join("dist/install.yaml")).expect("read dist/install.yaml"),
        };
        Self::apply_manifests(manifests)
    }

    /// `smo manifests ARGS` (with the test's image), applied.
    pub fn apply_generated(args: &[&str]) -> Installed {
        install_crd();
        let image = std::env::var("SMO_TEST_SMO_IMAGE").unwrap_or_else(|_| "docker.io/library/smo:dev".into());
        let out = super::smo().args(["manifests", "--image", &image]).args(args).output().expect("run smo manifests");
        assert!(out.status.success(), "{}", text(&out));
        Self::apply_manifests(out.stdout)
    }

    fn apply_manifests(manifests: Vec<u8>) -> Installed {
        let applied = kubectl_with_input(&["apply", "-f", "-"], &manifests);
        assert!(applied.status.success(), "kubectl apply: {}", text(&applied));
        Installed { manifests }
    }

    pub fn logs() -> String {
        let out = kubectl(&[
            "-n",
            "smo-system",
            "logs",
            "-l",
            "app.kubernetes.io/name=smo-operator",
            "--tail=40",
            "--prefix",
        ]);
        text(&out)
    }

    /// The Pod holding the leader Lease.
    pub fn leader() -> String {
        let out =
            kubectl(&["-n", "smo-system", "get", "lease", "smo-operator", "-o", "jsonpath={.spec.holderIdentity}"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        // Everything but the CRD (other tests' resources live under it) and the namespace
        // (deleting it takes long; applying it again is harmless).
        let text = String::from_utf8_lossy(&self.manifests);
        let keep = |doc: &str| doc.contains("kind: CustomResourceDefinition") || doc.contains("kind: Namespace");
        let rest: Vec<&str> = text.split("\n---\n").filter(|d| !keep(d)).collect();
        let _ = kubectl_with_input(&["delete", "--wait=false", "-f", "-"], rest.join("\n---\n").as_bytes());
    }
}

/// `smo timeline NAME --format original`: the original's workflow-times.json of the timeline
/// the operator keeps for `name` (written to a file in `dir`).
pub fn timeline_of(ns: &Namespace, name: &str, dir: &std::path::Path) -> Value {
    let file = dir.join(format!("{name}-times.json"));
    let out = super::smo()
        .args(["timeline", name, "-n", &ns.0, "--format", "original", "-o"])
        .arg(&file)
        .output()
        .expect("smo timeline");
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_str(&std::fs::read_to_string(&file).expect("the timeline")).expect("JSON")
}

/// The objects of namespace `ns` the cluster's garbage collector deleted, as `(resource, name)`,
/// from the apiserver's audit log (`tests/cluster/up.sh` audits every deletion).
pub fn collected_by_the_garbage_collector(ns: &str) -> Vec<(String, String)> {
    // The cluster's state directory holds its admin kubeconfig (`tests/cluster/env.sh`).
    let kubeconfig = std::env::var("KUBECONFIG").expect("KUBECONFIG is set by `make test-cluster`");
    let state = std::path::Path::new(&kubeconfig).parent().expect("the kubeconfig's directory").to_path_buf();
    let log = state.join("logs/audit.log");
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("the audit log {}: {e}", log.display()));
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|e| {
            e["verb"] == "delete"
                && e["objectRef"]["namespace"] == ns
                && e["user"]["username"] == "system:serviceaccount:kube-system:generic-garbage-collector"
                && e["responseStatus"]["code"].as_i64().is_some_and(|c| c < 300)
        })
        .map(|e| {
            let field = |k: &str| e["objectRef"][k].as_str().unwrap_or_default().to_string();
            (field("resource"), field("name"))
        })
        .collect()
}
