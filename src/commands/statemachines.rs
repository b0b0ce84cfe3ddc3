//! `smo get [NAME]`, `smo describe NAME`, `smo logs NAME`, `smo timeline NAME`, `smo suspend NAME`,
//! `smo resume NAME`, `smo stop NAME [--now]`:
//! StateMachines in the cluster as kubectl shows resources — the current kubeconfig context and
//! namespace, `-n`, `-A`, `-o`, `-w` — read and patched with the user's own credentials
//! ([`smo_actors::inspect`]). Installed as `kubectl-smo` on the PATH, the same binary is the
//! kubectl plugin `kubectl smo get`.

use std::process::ExitCode;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_core::ResourceExt as _;
use smo_actors::inspect;
use smo_core::api::{Phase, ShutdownStrategy, StateMachine, StateMachineStatus};

use super::run_dir;
use crate::cli::{DescribeArgs, GetArgs, GetOutput, LogsArgs, StopArgs, TimelineArgs, TimelineFormat};
use crate::table::{Align, table};

/// `smo get`: exit 1 with kubectl's words when the cluster cannot be read or `NAME` is not there.
pub fn get(args: &GetArgs) -> ExitCode {
    block_on("get", list(args))
}

/// `smo describe NAME`.
pub fn describe(args: &DescribeArgs) -> ExitCode {
    if let Some(dir) = run_dir::run_dir(&args.name) {
        return run_dir::describe(&dir).map_or_else(|e| fail("describe", &e), super::print);
    }
    block_on("describe", async { describe_one(args).await.map(super::print) })
}

/// `smo logs NAME`: each step Pod's log under a `==> POD (step S, sequence ID, attempt N) <==`
/// line, oldest Pod first; with `-f`, the lines of every selected Pod as they come, each
/// prefixed with `[POD]`.
pub fn logs(args: &LogsArgs) -> ExitCode {
    if let Some(dir) = run_dir::run_dir(&args.name) {
        return run_dir::logs(&dir, args.step.as_deref(), args.sequence.as_deref(), args.follow)
            .unwrap_or_else(|e| fail("logs", &e));
    }
    block_on("logs", async {
        let (client, namespace) = inspect::cluster(args.namespace.as_deref()).await.map_err(|e| e.to_string())?;
        // Named first: a typo is `not found`, not an empty answer.
        inspect::get(&client, &namespace, &args.name).await.map_err(|e| e.to_string())?;
        let (step, sequence) = (args.step.as_deref(), args.sequence.as_deref());
        let pods =
            inspect::step_pods(&client, &namespace, &args.name, step, sequence).await.map_err(|e| e.to_string())?;
        if pods.is_empty() {
            eprintln!("No step Pods of statemachine/{} match (a Pod goes with its Job).", args.name);
            return Ok(ExitCode::SUCCESS);
        }
        if args.follow {
            let mut streams = Vec::new();
            for pod in &pods {
                let prefix = format!("[{}] ", pod.name_any());
                let lines = inspect::pod_log(&client, &namespace, pod, true).await.map_err(|e| e.to_string())?;
                streams.push(lines.map(move |line| line.map(|l| format!("{prefix}{l}\n"))).boxed_local());
            }
            let mut all = futures::stream::select_all(streams);
            while let Some(line) = all.next().await {
                let line = line.map_err(|e| format!("reading a log: {e}"))?;
                if super::print(line) != ExitCode::SUCCESS {
                    return Ok(ExitCode::FAILURE);
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        for pod in &pods {
            let mut text = format!("==> {} <==\n", pod_header(pod));
            let mut lines =
                std::pin::pin!(inspect::pod_log(&client, &namespace, pod, false).await.map_err(|e| e.to_string())?);
            while let Some(line) = lines.next().await {
                text.push_str(&line.map_err(|e| format!("reading the log of {}: {e}", pod.name_any()))?);
                text.push('\n');
            }
            if super::print(text) != ExitCode::SUCCESS {
                return Ok(ExitCode::FAILURE);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `smo timeline NAME`: the timeline the operator keeps, drawn as SVG (or the original's
/// workflow-times.json); `wrote FILE (N jobs)` on stderr, as `smo report` says.
pub fn timeline(args: &TimelineArgs) -> ExitCode {
    block_on("timeline", async {
        let (times, title, stem) = match run_dir::run_dir(&args.name) {
            Some(dir) => {
                let stem = dir.file_name().map_or_else(|| "run".into(), |n| n.to_string_lossy().into_owned());
                (run_dir::times(&dir)?, format!("local run {}", dir.display()), stem)
            }
            None => {
                let (client, namespace) =
                    inspect::cluster(args.namespace.as_deref()).await.map_err(|e| e.to_string())?;
                inspect::get(&client, &namespace, &args.name).await.map_err(|e| e.to_string())?;
                let chunks = inspect::timeline(&client, &namespace, &args.name).await.map_err(|e| e.to_string())?;
                if chunks.is_empty() {
                    return Err(format!(
                        "statemachine/{} has no timeline yet (the operator writes it every few seconds once its run starts)",
                        args.name
                    ));
                }
                let title = format!("statemachine/{} in {namespace}", args.name);
                (smo_core::timeline::times(&chunks), title, args.name.clone())
            }
        };
        let (text, default) = match args.format {
            TimelineFormat::Svg => (crate::report::timeline_svg(&times, &title), format!("{stem}-timeline.svg")),
            TimelineFormat::Original => (times.to_json(), format!("{stem}-workflow-times.json")),
        };
        let out = args.output.clone().unwrap_or_else(|| std::path::PathBuf::from(default));
        std::fs::write(&out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        eprintln!("wrote {} ({} jobs)", out.display(), times.spans().len());
        Ok(ExitCode::SUCCESS)
    })
}

/// `POD (step S, sequence ID, attempt N)`, from the Pod's labels.
fn pod_header(pod: &k8s_openapi::api::core::v1::Pod) -> String {
    match smo_core::classify::step_job_key(pod.labels()) {
        Some(key) => format!("{} (step {}, sequence {}, attempt {})", pod.name_any(), key.step, key.jobid, key.attempt),
        None => pod.name_any(),
    }
}

/// `smo suspend NAME` (`suspend` true) and `smo resume NAME`: `statemachine.…/NAME suspended`
/// (or `resumed`), as kubectl says what it did.
pub fn suspend(args: &DescribeArgs, suspend: bool) -> ExitCode {
    let verb = if suspend { "suspend" } else { "resume" };
    block_on(verb, async {
        let (client, namespace) = inspect::cluster(args.namespace.as_deref()).await.map_err(|e| e.to_string())?;
        inspect::set_suspended(&client, &namespace, &args.name, suspend).await.map_err(|e| e.to_string())?;
        let done = if suspend { "suspended" } else { "resumed" };
        Ok(super::print(format!("statemachine.state-machine.converged-computing.org/{} {done}\n", args.name)))
    })
}

/// `smo stop NAME` (`spec.shutdown: Stop`) and `smo stop NAME --now` (`Terminate`):
/// `statemachine.…/NAME stopped` (or `terminated`), as kubectl says what it did. The operator
/// carries it out; a workflow that has ended already stays as it ended.
pub fn stop(args: &StopArgs) -> ExitCode {
    let strategy = if args.now { ShutdownStrategy::Terminate } else { ShutdownStrategy::Stop };
    block_on("stop", async {
        let (client, namespace) = inspect::cluster(args.namespace.as_deref()).await.map_err(|e| e.to_string())?;
        // As `argo stop` refuses a completed workflow: nothing to stop, and a later edit would
        // not undo the end anyway.
        let sm = inspect::get(&client, &namespace, &args.name).await.map_err(|e| e.to_string())?;
        if let Some(ended) = ended(sm.status.as_ref()) {
            return Err(format!("statemachine/{} has already ended ({ended}); nothing to stop", args.name));
        }
        inspect::set_shutdown(&client, &namespace, &args.name, strategy).await.map_err(|e| e.to_string())?;
        let done = if args.now { "terminated" } else { "stopped" };
        Ok(super::print(format!("statemachine.state-machine.converged-computing.org/{} {done}\n", args.name)))
    })
}

/// `Phase: message` of a workflow whose run has ended (succeeded, failed, stopped), as its status
/// says; None while it runs, waits or is invalid (an invalid spec is `Failed` but not accepted).
fn ended(status: Option<&StateMachineStatus>) -> Option<String> {
    let status = status?;
    let accepted = status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
    let phase = status.phase.filter(|p| matches!(p, Phase::Succeeded | Phase::Failed) && accepted)?;
    Some(format!("{phase:?}: {}", status.message.as_deref().unwrap_or("")))
}

/// Runs `work` on a runtime of its own; its error is printed as `smo VERB: …`, exit 1.
fn block_on(verb: &str, work: impl Future<Output = Result<ExitCode, String>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(verb, &format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(work) {
        Ok(code) => code,
        Err(message) => fail(verb, &message),
    }
}

fn fail(verb: &str, message: &str) -> ExitCode {
    eprintln!("smo {verb}: {message}");
    ExitCode::FAILURE
}

async fn list(args: &GetArgs) -> Result<ExitCode, String> {
    let (client, namespace) = inspect::cluster(args.namespace.as_deref()).await.map_err(|e| e.to_string())?;
    let namespace = (!args.all_namespaces).then_some(namespace);
    let mut found = match (&args.name, &namespace) {
        (Some(name), Some(ns)) => vec![inspect::get(&client, ns, name).await.map_err(|e| e.to_string())?],
        (name, ns) => {
            let mut all = inspect::list(&client, ns.as_deref()).await.map_err(|e| e.to_string())?;
            all.retain(|sm| name.as_ref().is_none_or(|n| sm.name_any() == *n));
            all
        }
    };
    let now = now_seconds();
    let code = super::print(render(&found, args, now, true));
    if !args.watch {
        if found.is_empty() && args.output.is_none() {
            let place = namespace.map_or("any namespace".into(), |ns| format!("{ns} namespace"));
            eprintln!("No StateMachines found in {place}.");
        }
        return Ok(code);
    }
    // `-w`: each change as one more line (or document), as kubectl prints them.
    let mut changes = std::pin::pin!(inspect::changes(&client, namespace.as_deref()));
    let mut seen: std::collections::HashMap<String, String> =
        found.drain(..).map(|sm| (key(&sm), render(std::slice::from_ref(&sm), args, now, false))).collect();
    while let Some(change) = changes.next().await {
        let Ok(sm) = change else { continue };
        if args.name.as_ref().is_some_and(|n| sm.name_any() != *n) {
            continue;
        }
        let line = render(std::slice::from_ref(&sm), args, now_seconds(), false);
        // The first list repeats what was printed; a status write that changes no column is
        // no news either.
        if seen.get(&key(&sm)) == Some(&line) {
            continue;
        }
        seen.insert(key(&sm), line.clone());
        if super::print(line) != ExitCode::SUCCESS {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(code)
}

fn key(sm: &StateMachine) -> String {
    format!("{}/{}", sm.namespace().unwrap_or_default(), sm.name_any())
}

/// The resources as `-o` asks: a table (with its header when `header`), documents or names.
fn render(found: &[StateMachine], args: &GetArgs, now: i64, header: bool) -> String {
    match args.output {
        Some(GetOutput::Json) => documents(found, |v| serde_json::to_string_pretty(v).map(|s| s + "\n").ok()),
        Some(GetOutput::Yaml) => documents(found, |v| serde_saphyr::to_string(v).ok().map(|s| format!("---\n{s}"))),
        Some(GetOutput::Name) => found.iter().map(|sm| format!("statemachine/{}\n", sm.name_any())).collect(),
        Some(GetOutput::Wide) | None if found.is_empty() => String::new(),
        Some(GetOutput::Wide) | None => {
            let wide = args.output == Some(GetOutput::Wide);
            let mut columns = vec!["NAME", "PHASE", "COMPLETED", "ACTIVE", "FAILED", "FIRINGS", "AGE"];
            if args.all_namespaces {
                columns.insert(0, "NAMESPACE");
            }
            if wide {
                columns.extend(["STEPS", "MESSAGE"]);
            }
            let rows: Vec<Vec<String>> = found.iter().map(|sm| row(sm, args.all_namespaces, wide, now)).collect();
            let text = table(&columns, &rows, Align::Left);
            if header { text } else { text.lines().skip(1).map(|l| format!("{l}\n")).collect() }
        }
    }
}

/// One document per resource (a single one as itself, several as kubectl's `List`).
fn documents(found: &[StateMachine], write: impl Fn(&serde_json::Value) -> Option<String>) -> String {
    let values: Vec<serde_json::Value> = found.iter().filter_map(|sm| serde_json::to_value(sm).ok()).collect();
    let value = match values.as_slice() {
        [one] => one.clone(),
        _ => serde_json::json!({"apiVersion": "v1", "kind": "List", "items": values}),
    };
    write(&value).unwrap_or_default()
}

fn row(sm: &StateMachine, namespaced: bool, wide: bool, now: i64) -> Vec<String> {
    let status = sm.status.clone().unwrap_or_default();
    let phase = status.phase.map_or("<none>".to_string(), |p| format!("{p:?}"));
    let mut row = vec![
        sm.name_any(),
        phase,
        format!("{}/{}", status.completed, sm.spec.workflow.completed),
        status.active.to_string(),
        status.failed.to_string(),
        status.rule_firings.to_string(),
        sm.metadata.creation_timestamp.as_ref().map_or("<unknown>".into(), |t| age(now - t.0.as_second())),
    ];
    if namespaced {
        row.insert(0, sm.namespace().unwrap_or_default());
    }
    if wide {
        let running: Vec<String> =
            status.steps.iter().filter(|s| s.active > 0).map(|s| format!("{}:{}", s.name, s.active)).collect();
        row.push(if running.is_empty() { "<none>".into() } else { running.join(",") });
        row.push(status.message.clone().unwrap_or_default());
    }
    row
}

async fn describe_one(args: &DescribeArgs) -> Result<String, String> {
    let (client, namespace) = inspect::cluster(args.namespace.as_deref()).await.map_err(|e| e.to_string())?;
    let sm = inspect::get(&client, &namespace, &args.name).await.map_err(|e| e.to_string())?;
    let events =
        inspect::events(&client, &namespace, &args.name, sm.uid().as_deref()).await.map_err(|e| e.to_string())?;
    Ok(description(&sm, &events, now_seconds()))
}

/// What `smo describe` prints of `sm` and its `events` at `now` (seconds since the epoch).
fn description(sm: &StateMachine, events: &[Event], now: i64) -> String {
    let status: StateMachineStatus = sm.status.clone().unwrap_or_default();
    let when = |t: &Option<Time>| {
        t.as_ref().map_or("<none>".to_string(), |t| format!("{} ({} ago)", t.0, age(now - t.0.as_second())))
    };
    let mut out = String::new();
    let mut field = |name: &str, value: String| out.push_str(&format!("{:<14}{value}\n", format!("{name}:")));
    field("Name", sm.name_any());
    field("Namespace", sm.namespace().unwrap_or_default());
    field("Created", when(&sm.metadata.creation_timestamp));
    field("Phase", status.phase.map_or("<none>".to_string(), |p| format!("{p:?}")));
    field("Message", status.message.clone().unwrap_or_else(|| "<none>".into()));
    field(
        "Sequences",
        format!(
            "{} of {} completed, {} running, {} failed (at most {})",
            status.completed,
            sm.spec.workflow.completed,
            status.active,
            status.failed,
            // The cap the operator runs with: the spec's, else the original's default.
            sm.spec.workflow.max_failures.map_or_else(
                || smo_core::defaults::max_failures(sm.spec.workflow.completed.max(1) as u32),
                |m| m.max(1) as u32
            )
        ),
    );
    field("Node budget", format!("{} (cluster.maxSize)", sm.spec.cluster.max_size));
    field("Started", when(&status.start_time));
    field("Ended", when(&status.completion_time));
    out.push_str("Steps:\n");
    let steps: Vec<Vec<String>> = status
        .steps
        .iter()
        .map(|s| {
            let secs = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
            vec![
                s.name.clone(),
                s.active.to_string(),
                s.succeeded.to_string(),
                s.failed.to_string(),
                s.nodes.to_string(),
                secs(s.median_seconds),
                secs(s.p95_seconds),
                secs(s.max_seconds),
            ]
        })
        .collect();
    if steps.is_empty() {
        out.push_str("  <none yet>\n");
    } else {
        let header = ["STEP", "ACTIVE", "SUCCEEDED", "FAILED", "NODES", "MEDIAN (s)", "P95 (s)", "MAX (s)"];
        out.push_str(&indent(&table(&header, &steps, Align::Numbers)));
    }
    out.push_str(&format!("Rule firings: {}\n", status.rule_firings));
    for firing in &status.recent_firings {
        out.push_str(&format!("  {firing}\n"));
    }
    out.push_str("Conditions:\n");
    let conditions: Vec<Vec<String>> = status
        .conditions
        .iter()
        .map(|c| {
            vec![
                c.type_.clone(),
                c.status.clone(),
                c.reason.clone(),
                age(now - c.last_transition_time.0.as_second()),
                c.message.clone(),
            ]
        })
        .collect();
    if conditions.is_empty() {
        out.push_str("  <none>\n");
    } else {
        out.push_str(&indent(&table(&["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"], &conditions, Align::Left)));
    }
    out.push_str("Events:\n");
    let events: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let count = e.series.as_ref().and_then(|s| s.count).or(e.count).unwrap_or(1);
            let seen = inspect::last_seen(e);
            let ago = if seen > 0 { age(now - seen) } else { "<unknown>".into() };
            let ago = if count > 1 { format!("{ago} (x{count})") } else { ago };
            vec![
                e.type_.clone().unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
                ago,
                e.message.clone().unwrap_or_default().replace('\n', " "),
            ]
        })
        .collect();
    if events.is_empty() {
        out.push_str("  <none>\n");
    } else {
        out.push_str(&indent(&table(&["TYPE", "REASON", "AGE", "MESSAGE"], &events, Align::Left)));
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// A duration as kubectl prints ages: `45s`, `5m10s`, `42m`, `3h4m`, `30h`, `2d3h`, `12d`.
fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match s {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 => format!("{m}m{}s", s % 60),
        _ if h < 3 => format!("{m}m"),
        _ if h < 8 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if d < 8 => format!("{d}d{}h", h % 24),
        _ => format!("{d}d"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_kubectls() {
        let cases = [(5, "5s"), (119, "119s"), (130, "2m10s"), (42 * 60, "42m"), (3 * 3600 + 240, "3h4m")];
        for (seconds, shown) in cases {
            assert_eq!(age(seconds), shown);
        }
        assert_eq!(age(30 * 3600), "30h");
        assert_eq!(age(2 * 86400 + 3 * 3600), "2d3h");
        assert_eq!(age(12 * 86400), "12d");
        assert_eq!(age(-3), "0s", "a clock a little behind the apiserver's");
    }

    fn state_machine() -> StateMachine {
        let manifest = "apiVersion: state-machine.converged-computing.org/v1alpha1\nkind: StateMachine\nmetadata:\n  name: chain\n  namespace: team-a\n  creationTimestamp: \"2026-12-06T10:00:00Z\"\nspec:\n  workflow: {completed: 4}\n  cluster: {maxSize: 2}\n  jobs:\n  - {name: a, image: x, script: echo}\nstatus:\n  phase: Running\n  completed: 3\n  active: 1\n  failed: 1\n  ruleFirings: 2\n  message: 3/4 sequences completed, 1 running, 1 failed\n  steps:\n  - {name: a, active: 1, succeeded: 3, failed: 1, nodes: 1, medianSeconds: 2.5, p95Seconds: 3.9, maxSeconds: 4.0}\n  conditions:\n  - {type: Ready, status: \"True\", reason: Accepted, message: the spec is valid, lastTransitionTime: \"2026-12-06T10:00:01Z\"}\n";
        serde_saphyr::from_str(manifest).expect("a StateMachine")
    }

    #[test]
    fn get_prints_kubectls_columns_and_wide_adds_the_running_steps() {
        let sm = state_machine();
        let created = sm.metadata.creation_timestamp.as_ref().map_or(0, |t| t.0.as_second());
        let args = GetArgs { name: None, namespace: None, all_namespaces: true, output: None, watch: false };
        let text = render(std::slice::from_ref(&sm), &args, created + 130, true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["NAMESPACE", "NAME", "PHASE", "COMPLETED", "ACTIVE", "FAILED", "FIRINGS", "AGE"]
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["team-a", "chain", "Running", "3/4", "1", "1", "2", "2m10s"]
        );
        let wide = GetArgs { output: Some(GetOutput::Wide), all_namespaces: false, ..args };
        let text = render(&[sm], &wide, created + 130, false);
        assert!(text.starts_with("chain"), "no header in a watch's line: {text}");
        assert!(text.contains("a:1") && text.contains("3/4 sequences completed"), "{text}");
    }

    #[test]
    fn stop_refuses_a_workflow_that_has_ended_but_not_one_that_runs_or_is_invalid() {
        let mut sm = state_machine();
        assert_eq!(ended(sm.status.as_ref()), None, "running");
        let status = sm.status.get_or_insert_with(StateMachineStatus::default);
        status.phase = Some(Phase::Succeeded);
        status.message = Some("4/4 sequences completed".into());
        assert_eq!(ended(sm.status.as_ref()).as_deref(), Some("Succeeded: 4/4 sequences completed"));
        // Failed as invalid: never accepted, so not a run that ended.
        let status = sm.status.get_or_insert_with(StateMachineStatus::default);
        status.phase = Some(Phase::Failed);
        status.conditions.iter_mut().for_each(|c| c.status = "False".into());
        assert_eq!(ended(sm.status.as_ref()), None);
    }

    #[test]
    fn describe_shows_steps_conditions_and_events() {
        let sm = state_machine();
        let event = Event {
            type_: Some("Warning".into()),
            reason: Some("SequenceFailed".into()),
            message: Some("sequence x1 failed".into()),
            count: Some(2),
            last_timestamp: sm.metadata.creation_timestamp.clone(),
            ..Event::default()
        };
        let created = sm.metadata.creation_timestamp.as_ref().map_or(0, |t| t.0.as_second());
        let text = description(&sm, &[event], created + 60);
        assert!(text.contains("Phase:        Running"), "{text}");
        assert!(text.contains("Sequences:    3 of 4 completed, 1 running, 1 failed"), "{text}");
        let step = text.lines().find(|l| l.trim_start().starts_with("a ")).unwrap_or_default();
        assert_eq!(
            step.split_whitespace().collect::<Vec<_>>(),
            ["a", "1", "3", "1", "1", "2.5", "3.9", "4.0"],
            "{text}"
        );
        assert!(text.contains("Ready  True    Accepted"), "{text}");
        assert!(text.contains("Warning  SequenceFailed  60s (x2)  sequence x1 failed"), "{text}");
    }
}
