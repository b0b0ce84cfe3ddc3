//! The `jobset.x-k8s.io/v1alpha2` JobSet that runs a step with the `jobset` property.
//!
//! One replicated Job named `jobset` with one replica: its child Job is `<name>-jobset-0` and its
//! pod 0 answers at `<name>-jobset-0-0.<name>` (examples build `MASTER_ADDR` from `$jobname`).
//! The child Job template and its pods carry the step job's labels, so the watcher sees the
//! child Job like any batch Job. Unlike the original, `ports` is optional, the pods get
//! `restartPolicy: Never` and the node selector, and environment values are always strings.

use k8s_openapi::api::batch::v1::JobTemplateSpec;
use k8s_openapi::api::core::v1::EnvVar;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

use super::pod::{PodFlavour, job_spec, pod_template};
use super::{JOBSET_API_VERSION, JobContext, labels};
use crate::Error;

/// Name of the JobSet's one replicated Job.
pub const REPLICATED_JOB: &str = "jobset";

/// Name of the child Job the JobSet controller creates for the JobSet `name`.
pub fn child_job_name(name: &str) -> String {
    format!("{name}-{REPLICATED_JOB}-0")
}

/// The JobSet of one step job, named `<step>-<jobid>` in the step's namespace.
///
/// Fails only if the typed Job template cannot be turned into JSON ([`Error::Serialize`]).
pub fn jobset(ctx: &JobContext) -> crate::Result<Value> {
    let name = ctx.name();
    let jobname = EnvVar { name: "jobname".into(), value: Some(name.clone()), ..Default::default() };
    let template = pod_template(ctx, PodFlavour { subdomain: false, ports: true, extra_env: vec![jobname] });
    let job = JobTemplateSpec {
        metadata: Some(ObjectMeta { labels: Some(labels(ctx)), ..Default::default() }),
        spec: Some(job_spec(ctx, template)),
    };
    let job =
        serde_json::to_value(&job).map_err(|source| Error::Serialize { what: format!("JobSet {name}"), source })?;
    let metadata = serde_json::to_value(ctx.metadata())
        .map_err(|source| Error::Serialize { what: format!("JobSet {name} metadata"), source })?;
    Ok(json!({
        "apiVersion": JOBSET_API_VERSION,
        "kind": "JobSet",
        "metadata": metadata,
        "spec": {
            "suspend": false,
            "replicatedJobs": [{
                "name": REPLICATED_JOB,
                "replicas": 1,
                "template": job,
            }],
        },
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::jobs::test_support::{context, step, workflow};
    use crate::names::JobId;
    use crate::workflow::WorkloadKind;

    #[test]
    fn jobs_jobset_has_ports_jobname_and_labels_on_every_level() {
        let mut s = step("train");
        s.properties.workload = WorkloadKind::JobSet;
        s.properties.ports = vec![3389, 8080];
        s.walltime = Some(Duration::from_secs(600));
        s.retry_failure = true;
        s.command = Some(vec!["torchrun".into(), "train.py".into()]);
        s.environment
            .insert("RANK".into(), "from:metadata.annotations['batch.kubernetes.io/job-completion-index']".into());
        s.environment.insert("EPOCHS".into(), "10".into());
        s.properties.node_selector.insert("pool".into(), "gpu".into());
        let wf = workflow(vec![s]);
        let id = JobId::new("job_012345678");
        let ctx = JobContext { nodes: 2, ..context(&wf, &id) };
        let v = jobset(&ctx).expect("jobset");
        let want_labels = serde_json::to_value(labels(&ctx)).expect("labels");

        assert_eq!(v["apiVersion"], "jobset.x-k8s.io/v1alpha2");
        assert_eq!(v["kind"], "JobSet");
        assert_eq!(v["metadata"]["name"], "train-job-012345678");
        assert_eq!(v["metadata"]["namespace"], "default");
        assert_eq!(v["metadata"]["labels"], want_labels);
        assert_eq!(v["spec"]["suspend"], false);
        let rj = &v["spec"]["replicatedJobs"][0];
        assert_eq!(rj["name"], "jobset");
        assert_eq!(rj["replicas"], 1);
        assert_eq!(rj["template"]["metadata"]["labels"], want_labels);
        let job = &rj["template"]["spec"];
        assert_eq!((job["parallelism"].as_i64(), job["completions"].as_i64()), (Some(2), Some(2)));
        assert_eq!(job["backoffLimit"], 6);
        assert_eq!(job["activeDeadlineSeconds"], 600);
        assert_eq!(job["template"]["metadata"]["labels"], want_labels);
        let pod = &job["template"]["spec"];
        // The JobSet names the pods' subdomain after itself; pod DNS depends on it.
        assert!(pod.get("subdomain").is_none());
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["nodeSelector"], json!({"pool": "gpu"}));
        assert_eq!(pod["volumes"][0]["configMap"]["name"], "train-job-012345678");
        let c = &pod["containers"][0];
        assert_eq!(c["name"], "step");
        assert_eq!(c["command"], json!(["torchrun"]));
        assert_eq!(c["args"], json!(["train.py"]));
        assert_eq!(c["ports"], json!([{"containerPort": 3389}, {"containerPort": 8080}]));
        assert_eq!(
            c["env"],
            json!([
                {"name": "EPOCHS", "value": "10"},
                {"name": "RANK", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}},
                {"name": "jobname", "value": "train-job-012345678"},
            ])
        );
        assert_eq!(child_job_name("train-job-012345678"), "train-job-012345678-jobset-0");
    }

    #[test]
    fn jobs_jobset_without_ports_property_intended_not_bug() {
        // The original crashed on `int("")` when `ports` was missing.
        let wf = workflow(vec![step("job_a")]);
        let id = JobId::new("job_012345678");
        let ctx = JobContext { nodes: 1, smo_image: Some("smo:dev"), ..context(&wf, &id) };
        let v = jobset(&ctx).expect("jobset");
        let pod = &v["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"];
        assert!(pod["containers"][0].get("ports").is_none());
        assert_eq!(pod["initContainers"][0]["name"], "smo-install");
    }
}
