//! A cluster several teams share: the operator installed from `dist/install.yaml` as a Pod, a
//! well-behaved workflow in one namespace, and resources in another that try every attack of
//! issue 16 on the operator and on their neighbour. Each attack must be refused with a
//! condition (or by the API's schema) naming the field and the limit, or be bounded; the
//! operator must stay ready throughout (`/readyz` within 1 s at every probe); the neighbour must
//! finish within 1.25× its time alone, its artifacts neither read nor changed.
//!
//! `#[ignore]`d in a plain `cargo test`; `make test-cluster` starts the cluster and runs it.
//! What it measured is printed (`--nocapture`), for the record in `tests/bench/README.md`.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{Installed, Namespace, eventually, kubectl, kubectl_with_input, state_machine, text};
use serde_json::Value;

/// The operator's ServiceAccount, as RBAC sees it.
const OPERATOR: &str = "system:serviceaccount:smo-system:smo-operator";

fn apply(ns: &Namespace, manifest: &str) -> std::process::Output {
    kubectl_with_input(&["-n", &ns.0, "apply", "-f", "-"], manifest.as_bytes())
}

fn applied(ns: &Namespace, manifest: &str) {
    let out = apply(ns, manifest);
    assert!(out.status.success(), "kubectl apply: {}\n{manifest}", text(&out));
}

fn status(ns: &Namespace, name: &str) -> Value {
    let out = kubectl(&["-n", &ns.0, "get", "statemachine", name, "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice::<Value>(&out.stdout).expect("JSON")["status"].clone()
}

fn ready_condition(status: &Value) -> (String, String) {
    let ready = status["conditions"].as_array().into_iter().flatten().find(|c| c["type"] == "Ready");
    let field = |key: &str| ready.and_then(|c| c[key].as_str()).unwrap_or_default().to_string();
    (field("reason"), field("message"))
}

/// `kubectl wait --for=condition=<condition>` within `seconds`, failing with the status and the
/// operator's log.
fn wait_for(ns: &Namespace, name: &str, condition: &str, seconds: u32) {
    let out = kubectl(&[
        "-n",
        &ns.0,
        "wait",
        &format!("--for=condition={condition}"),
        &format!("statemachine/{name}"),
        &format!("--timeout={seconds}s"),
    ]);
    assert!(out.status.success(), "{}\nstatus: {:#}\n{}", text(&out), status(ns, name), Installed::logs());
}

/// The well-behaved workflow: 4 sequences of two steps of 5 s, 2 at a time, passing an
/// artifact from the first to the second through its own registry.
fn good_workflow(name: &str) -> String {
    state_machine(
        name,
        "  workflow: {completed: 4}\n  cluster: {maxSize: 2}\n",
        &[("a", "sleep 5; echo \"$jobid\" > a.txt"), ("b", "sleep 5; cat a.txt > b.txt")],
        0,
    )
    .replacen("    script: |\n      sleep 5; echo", "    registry: {push: a}\n    script: |\n      sleep 5; echo", 1)
    .replacen(
        "    script: |\n      sleep 5; cat",
        "    registry: {pull: a, push: b}\n    script: |\n      sleep 5; cat",
        1,
    )
}

/// Probes the operator's `/readyz` every 200 ms until stopped: the slowest answer, and every
/// probe that was not answered 200 within 2 s.
struct ReadinessProbe {
    stop: Arc<AtomicBool>,
    record: Arc<Mutex<(Duration, usize, Vec<String>)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReadinessProbe {
    fn start(host: String) -> ReadinessProbe {
        let stop = Arc::new(AtomicBool::new(false));
        let record = Arc::new(Mutex::new((Duration::ZERO, 0, Vec::new())));
        let (stop_flag, shared) = (stop.clone(), record.clone());
        let thread = std::thread::spawn(move || {
            while !stop_flag.load(Ordering::Relaxed) {
                let started = Instant::now();
                let answer = readyz(&host);
                let took = started.elapsed();
                if let Ok(mut r) = shared.lock() {
                    r.0 = r.0.max(took);
                    r.1 += 1;
                    if let Err(e) = answer {
                        r.2.push(format!("after {took:?}: {e}"));
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        ReadinessProbe { stop, record, thread: Some(thread) }
    }

    /// Stops probing: (slowest answer, probes, failed probes).
    fn finish(mut self) -> (Duration, usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.record.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// `GET /readyz` on `host`: Ok on 200, within 2 s.
fn readyz(host: &str) -> Result<(), String> {
    let address = host.parse().map_err(|e| format!("{host}: {e}"))?;
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).map_err(|e| e.to_string())?;
    write!(stream, "GET /readyz HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    let first = answer.lines().next().unwrap_or_default().to_string();
    if first.contains(" 200") { Ok(()) } else { Err(first) }
}

/// Applies `manifest` and waits for the workflow `name` to complete: the time it took.
fn timed_run(ns: &Namespace, name: &str, manifest: &str, during: impl FnOnce()) -> Duration {
    let started = Instant::now();
    applied(ns, manifest);
    during();
    wait_for(ns, name, "Complete", 300);
    let took = started.elapsed();
    let s = status(ns, name);
    assert_eq!((s["completed"].as_i64(), s["failed"].as_i64()), (Some(4), Some(0)), "{s:#}");
    took
}

/// The process of the installed operator's container, seen from the node (this machine).
fn operator_root() -> PathBuf {
    let pids = std::fs::read_dir("/proc").expect("read /proc").filter_map(|e| e.ok()?.file_name().into_string().ok());
    for pid in pids.filter(|p| p.chars().all(|c| c.is_ascii_digit())) {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let words: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if words.iter().any(|w| *w == b"operator") && words.iter().any(|w| *w == b"--leader-elect") {
            return PathBuf::from(format!("/proc/{pid}/root"));
        }
    }
    panic!("the installed operator's process is not on this node");
}

/// Every attack, and the outcome that was expected and seen.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn hostile_tenants_are_refused_or_bounded_and_their_neighbour_keeps_its_pace() {
    let installed = Installed::apply();
    let out = kubectl(&["-n", "smo-system", "rollout", "status", "deployment/smo-operator", "--timeout=180s"]);
    assert!(out.status.success(), "the operator's Pod is not ready: {}\n{}", text(&out), Installed::logs());
    // The Pod that leads and answers: an earlier test's Pods may still be terminating.
    let operator_host = eventually(Duration::from_secs(120), "no operator Pod leads and answers /readyz", || {
        let leader = Installed::leader();
        let out = kubectl(&["-n", "smo-system", "get", "pod", &leader, "-o", "jsonpath={.status.podIP}"]);
        let host = format!("{}:8080", String::from_utf8_lossy(&out.stdout).trim());
        match readyz(&host) {
            Ok(()) => Ok(host),
            Err(e) => Err(format!("{leader} at {host}: {e}")),
        }
    });
    let good = Namespace::new("good");
    let hostile = Namespace::new("hostile");
    let mut report: Vec<String> = Vec::new();

    // What the operator may do: Secrets created, never read.
    let can = |verb: &str, what: &str| {
        let out = kubectl(&["auth", "can-i", verb, what, "-n", &good.0, "--as", OPERATOR]);
        String::from_utf8_lossy(&out.stdout).trim() == "yes"
    };
    assert!(can("create", "secrets") && !can("get", "secrets") && !can("list", "secrets") && !can("watch", "secrets"));
    let rights = kubectl(&["auth", "can-i", "--list", "-n", &good.0, "--as", OPERATOR]);
    report.push(format!("RBAC of {OPERATOR} in a tenant namespace:\n{}", String::from_utf8_lossy(&rights.stdout)));

    // 1. The neighbour alone.
    let alone = timed_run(&good, "alone", &good_workflow("alone"), || {});
    let out = kubectl(&["-n", &good.0, "delete", "statemachine", "alone", "--wait=true"]);
    assert!(out.status.success(), "{}", text(&out));

    // 2. The hostile tenant's namespace has the defaults a shared cluster gives a team.
    let limits = "apiVersion: v1\nkind: LimitRange\nmetadata: {name: team-defaults}\nspec:\n  limits:\n  - type: Container\n    default: {cpu: 200m, memory: 256Mi}\n    defaultRequest: {cpu: 10m, memory: 16Mi}\n";
    applied(&hostile, limits);
    let probe = ReadinessProbe::start(operator_host);
    let one = "  workflow: {completed: 1}\n  cluster: {maxSize: 1}\n";
    let mut refused: Vec<(&str, &str, &str)> = Vec::new();
    let attack = |name: &'static str, manifest: String| {
        applied(&hostile, &manifest);
        name
    };
    // A template that never ends, and one that would allocate gigabytes.
    let forever = "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}x{% endfor %}{% endfor %}{% endfor %}";
    refused.push((
        attack("forever", state_machine("forever", one, &[("a", forever)], 0)),
        "spec.jobs[0].script",
        "template steps",
    ));
    let gigabytes = "{% set s = 'x' * 4000000000 %}{{ s }}";
    refused.push((
        attack("gigabytes", state_machine("gigabytes", one, &[("a", gigabytes)], 0)),
        "spec.jobs[0].script",
        "template steps",
    ));
    // Counts under the CRD's ceilings but over the operator's limits.
    let many = "  workflow: {completed: 200000}\n  cluster: {maxSize: 5000}\n";
    refused.push((
        attack("many", state_machine("many", many, &[("a", "echo a")], 0)),
        "spec.workflow.completed",
        "--limit completed=N",
    ));
    // A huge regex, and more patterns than the operator allows.
    let huge = "    events:\n      metrics:\n      - {key: x, pattern: '(?:\\w{100}){100}'}\n";
    refused.push((
        attack(
            "huge-regex",
            state_machine("huge-regex", one, &[("a", "echo a")], 0).replacen(
                "    script: |",
                &format!("{huge}    script: |"),
                1,
            ),
        ),
        "events.metrics[0].pattern",
        "256 KiB",
    ));
    let patterns: String = (0..100).map(|i| format!("      - {{key: k{i}, pattern: 'v{i} ([0-9]+)'}}\n")).collect();
    refused.push((
        attack(
            "patterns",
            state_machine("patterns", one, &[("a", "echo a")], 0).replacen(
                "    script: |",
                &format!("    events:\n      metrics:\n{patterns}    script: |"),
                1,
            ),
        ),
        "events.metrics",
        "--limit metrics=N",
    ));
    // Counts at 2^31-1: the API server refuses them by the CRD's schema, naming the field.
    let out = apply(
        &hostile,
        &state_machine(
            "huge",
            "  workflow: {completed: 2147483647}\n  cluster: {maxSize: 2147483647}\n",
            &[("a", "echo a")],
            0,
        ),
    );
    let said = text(&out);
    assert!(
        !out.status.success() && said.contains("spec.workflow.completed") && said.contains("spec.cluster.maxSize"),
        "{said}"
    );
    report.push(format!(
        "counts at 2^31-1: refused by the API server: {}",
        said.lines().filter(|l| l.contains("spec.")).collect::<Vec<_>>().join(" ")
    ));
    // A thousand patterns: over the CRD's ceiling of 256.
    let thousand: String = (0..1000).map(|i| format!("      - {{key: k{i}, pattern: 'v{i}'}}\n")).collect();
    let out = apply(
        &hostile,
        &state_machine("thousand", one, &[("a", "echo a")], 0).replacen(
            "    script: |",
            &format!("    events:\n      metrics:\n{thousand}    script: |"),
            1,
        ),
    );
    let said = text(&out);
    assert!(!out.status.success() && said.contains("events.metrics") && said.contains("256"), "{said}");
    report.push("a thousand patterns: refused by the API server (spec.jobs.events.metrics: at most 256 items)".into());
    // A step that prints without end (15 s here), keeping its log at a save-path outside its place.
    let printer = state_machine(
        "printer",
        one,
        &[(
            "print",
            "line=$(printf 'x%.0s' $(seq 1000)); timeout 15 bash -c \"while true; do echo $line; done\"; exit 0",
        )],
        0,
    )
    .replacen("    script: |", "    properties: {save-path: '/../../etc/smo-was-here'}\n    script: |", 1);
    applied(&hostile, &printer);
    // A parse_log (the original's LAMMPS-style rule) that looks for credentials: it reports
    // its metric only if it sees none of the operator's.
    let snooper = state_machine(
        "snooper",
        "  workflow:\n    completed: 3\n    events:\n    - {metric: mean.look.steps, when: '>= 100', action: finish-workflow}\n  cluster: {maxSize: 1}\n",
        &[("look", "echo 'Loop time of 3.5 on 1 procs for 100 steps with 32000 atoms'")],
        0,
    )
    .replacen(
        "    script: |",
        r#"    events:
      script: |
        def parse_log(log):
            import os, socket
            token = os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount")
            data = os.path.exists("/var/lib/smo")
            env = [k for k in ("SMO_IMAGE", "SMO_REGISTRY_IMAGE", "SMO_LOG_FORMAT", "POD_NAME", "KUBECONFIG") if k in os.environ]
            host = socket.gethostname()
            print("parse_log sees: token", token, "operator data", data, "operator env", env, "host", host)
            if token or data or env or not host.startswith("look-"):
                return {}
            for line in log.splitlines():
                if "Loop time of" in line:
                    return {"steps": float(line.split()[-5])}
            return {}
    script: |"#,
        1,
    );
    applied(&hostile, &snooper);

    // 3. The neighbour again, while all that goes on; mid-run, Pods of the hostile tenant try
    // to pull and overwrite one of its artifacts.
    let mut target = (String::new(), String::new());
    let with = timed_run(&good, "with", &good_workflow("with"), || {
        target = eventually(Duration::from_secs(120), "the neighbour's second step never started", || {
            let jobs = good.jobs_of("with");
            let id = jobs.iter().find(|j| j.1 == "b").map(|j| j.0.clone()).ok_or_else(|| format!("{jobs:?}"))?;
            let out = kubectl(&["-n", &good.0, "get", "service", "with-registry", "-o", "jsonpath={.spec.clusterIP}"]);
            Ok::<_, String>((id, String::from_utf8_lossy(&out.stdout).trim().to_string()))
        });
        let (id, ip) = &target;
        let smo_image = std::env::var("SMO_TEST_SMO_IMAGE").unwrap_or_else(|_| "docker.io/library/smo:dev".into());
        for (name, args) in [
            (
                "thief-pull",
                format!(
                    r#"["artifact", "pull", "{ip}:5000/{id}:a", "--plain-http", "--retries", "0", "--output", "/loot/a"]"#
                ),
            ),
            (
                "thief-push",
                format!(r#"["artifact", "push", "{ip}:5000/{id}:a", "/etc/ssl", "--plain-http", "--retries", "0"]"#),
            ),
        ] {
            let pod = format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  automountServiceAccountToken: false\n  containers:\n  - name: thief\n    image: {smo_image}\n    args: {args}\n    env: [{{name: TMPDIR, value: /loot}}]\n    volumeMounts: [{{name: loot, mountPath: /loot}}]\n  volumes: [{{name: loot, emptyDir: {{}}}}]\n"
            );
            applied(&hostile, &pod);
        }
    });
    let (slowest, probes, failed) = probe.finish();

    // 4. The outcomes.
    for (name, field, limit) in &refused {
        let s = eventually(Duration::from_secs(60), &format!("{name} was not refused"), || {
            let s = status(&hostile, name);
            if ready_condition(&s).0 == "InvalidSpec" { Ok(s) } else { Err(s) }
        });
        let (_, message) = ready_condition(&s);
        assert_eq!(s["phase"], "Failed", "{name}: {s:#}");
        assert!(
            message.contains(field) && message.contains(limit),
            "{name}: the message names {field} and {limit}: {message}"
        );
        assert!(hostile.jobs_of(name).is_empty(), "{name}: nothing ran");
        report.push(format!("{name}: refused, InvalidSpec: {message}"));
    }
    wait_for(&hostile, "printer", "Complete", 120);
    let kept_dir = operator_root().join(format!("var/lib/smo/{}/printer/save-path/etc/smo-was-here/logs", hostile.0));
    let kept: Vec<(PathBuf, u64)> = std::fs::read_dir(&kept_dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| (e.path(), e.metadata().map(|m| m.len()).unwrap_or(0))).collect())
        .unwrap_or_default();
    assert_eq!(kept.len(), 1, "one log kept, in the workflow's own place {}: {kept:?}", kept_dir.display());
    assert!(kept[0].1 > 0 && kept[0].1 <= (16 << 20) + 4096, "bounded by limitBytes (16 MiB): {kept:?}");
    assert!(!operator_root().join("etc/smo-was-here").exists(), "save-path did not leave its place");
    report.push(format!(
        "printer: a step printing for 15 s; its save-path '/../../etc/smo-was-here' kept under the operator's {}: {} bytes (limit 16 MiB)",
        kept_dir.strip_prefix(operator_root()).unwrap_or(&kept_dir).display(),
        kept[0].1
    ));
    wait_for(&hostile, "snooper", "Complete", 120);
    let s = status(&hostile, "snooper");
    assert_eq!(s["completed"].as_i64(), Some(1), "parse_log saw no credential, and its LAMMPS-style rule fired: {s:#}");
    report.push("snooper: parse_log ran in the step's Pod and saw no token, none of the operator's environment or files; its rule mean.look.steps >= 100 fired".into());
    for thief in ["thief-pull", "thief-push"] {
        let phase = eventually(Duration::from_secs(60), &format!("{thief} did not end"), || {
            let out = kubectl(&["-n", &hostile.0, "get", "pod", thief, "-o", "jsonpath={.status.phase}"]);
            let phase = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if phase == "Succeeded" || phase == "Failed" { Ok(phase) } else { Err(phase) }
        });
        let log = text(&kubectl(&["-n", &hostile.0, "logs", thief]));
        assert_eq!(phase, "Failed", "{thief}: {log}");
        assert!(log.contains("asks for a user name and password"), "{thief}: {log}");
        report.push(format!(
            "{thief}: refused by the neighbour's registry: {}",
            log.lines().find(|l| l.starts_with("smo:")).unwrap_or_default()
        ));
    }
    // The neighbour's artifact is what its own step wrote.
    let (id, ip) = &target;
    let read = |key: &str| {
        let template = format!("go-template={{{{.data.{key} | base64decode}}}}");
        String::from_utf8_lossy(
            &kubectl(&["-n", &good.0, "get", "secret", "with-registry-auth", "-o", &template]).stdout,
        )
        .into_owned()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = common::smo()
        .args(["artifact", "pull", &format!("{ip}:5000/{id}:a"), "--plain-http", "--output"])
        .arg(dir.path())
        .env("SMO_REGISTRY_USERNAME", read("username"))
        .env("SMO_REGISTRY_PASSWORD", read("password"))
        .output()
        .expect("run smo artifact pull");
    assert!(out.status.success(), "{}", text(&out));
    let entries: Vec<String> = std::fs::read_dir(dir.path())
        .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    assert_eq!(entries, ["a.txt"], "the artifact holds what the step wrote, nothing pushed over it");
    assert_eq!(std::fs::read_to_string(dir.path().join("a.txt")).expect("a.txt").trim(), id.as_str());

    report.push(format!("/readyz: {probes} probes, slowest {slowest:?}, failed {}", failed.len()));
    report.push(format!(
        "the neighbour (4 sequences × 2 steps of 5 s, 2 at a time, own registry): alone {:.1} s, with the hostile tenant {:.1} s ({:.2}×)",
        alone.as_secs_f64(),
        with.as_secs_f64(),
        with.as_secs_f64() / alone.as_secs_f64()
    ));
    eprintln!("hostile tenants:\n- {}", report.join("\n- "));
    assert!(failed.is_empty(), "the operator was not ready at every probe: {failed:?}");
    assert!(slowest < Duration::from_secs(1), "/readyz answered within 1 s every time: slowest {slowest:?}");
    assert!(
        with.as_secs_f64() <= 1.25 * alone.as_secs_f64(),
        "the neighbour kept its pace: alone {alone:?}, with the hostile tenant {with:?}"
    );
    drop(installed);
}
