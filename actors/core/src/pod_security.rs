//! Pod Security: the profile a step's Pods run with, and a check of a Pod against the
//! Kubernetes Pod Security Standards (`baseline`, `restricted`), rule by rule as the standard
//! writes them (<https://kubernetes.io/docs/concepts/security/pod-security-standards/>).
//!
//! Step Pods mount no ServiceAccount token and, by default, pass `baseline` with two hardenings
//! on top (no privilege escalation, the runtime's default seccomp profile). A step asks for
//! `podSecurity: restricted` (non-root, every capability dropped), or `privileged` for an image
//! that needs what those hardenings take away (setuid programs, syscalls outside the default
//! profile). The init container that delivers `smo` and the workflow's registry always pass
//! `restricted`. [`violations`] is what the tests check the built Pods with.

use k8s_openapi::api::core::v1::{
    Capabilities, Container, PodSecurityContext, PodSpec, SELinuxOptions, SeccompProfile, SecurityContext,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The user id of smo's own containers (the init container, the registry): the conventional
/// "nonroot" id of distroless images, which owns nothing on a node.
pub const NONROOT_UID: i64 = 65532;

/// How a step's Pods are confined (`podSecurity` of a step).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurity {
    /// Passes the `baseline` standard, with no privilege escalation and the runtime's default
    /// seccomp profile. The image may run as root.
    #[default]
    Baseline,
    /// Passes the `restricted` standard: the image must run as a non-root user; every
    /// capability is dropped.
    Restricted,
    /// Nothing is set (as the original's Pods): for an image that needs setuid programs or
    /// syscalls outside the runtime's default profile. Never `privileged: true`.
    Privileged,
}

impl PodSecurity {
    /// The standard Pods of this profile pass, if any.
    pub fn standard(self) -> Option<Level> {
        match self {
            PodSecurity::Baseline => Some(Level::Baseline),
            PodSecurity::Restricted => Some(Level::Restricted),
            PodSecurity::Privileged => None,
        }
    }

    /// The Pod-level security context of a step Pod.
    pub fn pod_context(self) -> Option<PodSecurityContext> {
        match self {
            PodSecurity::Privileged => None,
            PodSecurity::Baseline => {
                Some(PodSecurityContext { seccomp_profile: runtime_default(), ..Default::default() })
            }
            PodSecurity::Restricted => Some(PodSecurityContext {
                run_as_non_root: Some(true),
                seccomp_profile: runtime_default(),
                ..Default::default()
            }),
        }
    }

    /// The security context of a step's container.
    pub fn container_context(self) -> Option<SecurityContext> {
        match self {
            PodSecurity::Privileged => None,
            PodSecurity::Baseline => {
                Some(SecurityContext { allow_privilege_escalation: Some(false), ..Default::default() })
            }
            PodSecurity::Restricted => Some(SecurityContext {
                allow_privilege_escalation: Some(false),
                capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), add: None }),
                ..Default::default()
            }),
        }
    }
}

/// The security context of smo's own containers (the init container, the registry): passes
/// `restricted` in any Pod, whatever the image's user.
pub fn own_container_context() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(NONROOT_UID),
        run_as_group: Some(NONROOT_UID),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), add: None }),
        read_only_root_filesystem: Some(true),
        seccomp_profile: runtime_default(),
        ..Default::default()
    }
}

fn runtime_default() -> Option<SeccompProfile> {
    Some(SeccompProfile { type_: "RuntimeDefault".into(), localhost_profile: None })
}

/// A Pod Security Standard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Prevents known privilege escalations.
    Baseline,
    /// Baseline, and current Pod hardening best practice.
    Restricted,
}

/// Capabilities `baseline` lets a container add.
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Sysctls `baseline` allows.
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
];

/// SELinux types `baseline` allows.
const SELINUX_TYPES: &[&str] = &["", "container_t", "container_init_t", "container_kvm_t"];

/// SELinux options `baseline` allows: a container type, no user, no role.
fn selinux_allowed(se: &SELinuxOptions) -> bool {
    SELINUX_TYPES.contains(&se.type_.as_deref().unwrap_or("")) && se.user.is_none() && se.role.is_none()
}

/// Every rule of `level` that `pod` breaks, one line each naming the field.
pub fn violations(pod: &PodSpec, level: Level) -> Vec<String> {
    let mut out = Vec::new();
    let pod_context = pod.security_context.clone().unwrap_or_default();
    let containers: Vec<(&str, &Container)> = pod
        .init_containers
        .iter()
        .flatten()
        .map(|c| ("initContainers", c))
        .chain(pod.containers.iter().map(|c| ("containers", c)))
        .collect();
    let at = |kind: &str, c: &Container, field: &str| format!("spec.{kind}[{}].securityContext.{field}", c.name);

    // Baseline.
    for (field, set) in [("hostNetwork", pod.host_network), ("hostPID", pod.host_pid), ("hostIPC", pod.host_ipc)] {
        if set == Some(true) {
            out.push(format!("spec.{field}: host namespaces are not allowed"));
        }
    }
    if pod_context.windows_options.as_ref().and_then(|w| w.host_process) == Some(true) {
        out.push("spec.securityContext.windowsOptions.hostProcess: not allowed".into());
    }
    for v in pod.volumes.iter().flatten() {
        if v.host_path.is_some() {
            out.push(format!("spec.volumes[{}].hostPath: not allowed", v.name));
        }
    }
    for s in pod_context.sysctls.iter().flatten() {
        if !SAFE_SYSCTLS.contains(&s.name.as_str()) {
            out.push(format!("spec.securityContext.sysctls[{}]: not a safe sysctl", s.name));
        }
    }
    if pod_context.se_linux_options.as_ref().is_some_and(|se| !selinux_allowed(se)) {
        out.push("spec.securityContext.seLinuxOptions: only the container types, no user or role".into());
    }
    if pod_context.seccomp_profile.as_ref().is_some_and(|p| p.type_ == "Unconfined") {
        out.push("spec.securityContext.seccompProfile.type: Unconfined is not allowed".into());
    }
    for (kind, c) in &containers {
        let sc = c.security_context.clone().unwrap_or_default();
        if sc.privileged == Some(true) {
            out.push(format!("{}: privileged containers are not allowed", at(kind, c, "privileged")));
        }
        if sc.windows_options.as_ref().and_then(|w| w.host_process) == Some(true) {
            out.push(format!("{}: not allowed", at(kind, c, "windowsOptions.hostProcess")));
        }
        let added = sc.capabilities.as_ref().and_then(|k| k.add.clone()).unwrap_or_default();
        for cap in &added {
            if !BASELINE_CAPABILITIES.contains(&cap.as_str()) {
                out.push(format!("{}: {cap} is beyond the baseline set", at(kind, c, "capabilities.add")));
            }
        }
        for p in c.ports.iter().flatten() {
            if p.host_port.is_some_and(|h| h != 0) {
                out.push(format!("spec.{kind}[{}].ports: hostPort is not allowed", c.name));
            }
        }
        if sc.se_linux_options.as_ref().is_some_and(|se| !selinux_allowed(se)) {
            out.push(format!("{}: only the container types, no user or role", at(kind, c, "seLinuxOptions")));
        }
        if sc.proc_mount.as_deref().is_some_and(|m| m != "Default") {
            out.push(format!("{}: only Default", at(kind, c, "procMount")));
        }
        if sc.seccomp_profile.as_ref().is_some_and(|p| p.type_ == "Unconfined") {
            out.push(format!("{}: Unconfined is not allowed", at(kind, c, "seccompProfile.type")));
        }
        if level == Level::Baseline {
            continue;
        }
        // Restricted.
        if sc.allow_privilege_escalation != Some(false) {
            out.push(format!("{}: must be false", at(kind, c, "allowPrivilegeEscalation")));
        }
        let non_root = sc.run_as_non_root.or(pod_context.run_as_non_root);
        if non_root != Some(true) {
            out.push(format!("{}: must be true (here or in the Pod's securityContext)", at(kind, c, "runAsNonRoot")));
        }
        if sc.run_as_user == Some(0) {
            out.push(format!("{}: must not be 0", at(kind, c, "runAsUser")));
        }
        let seccomp = sc.seccomp_profile.as_ref().or(pod_context.seccomp_profile.as_ref()).map(|p| p.type_.as_str());
        if !matches!(seccomp, Some("RuntimeDefault" | "Localhost")) {
            out.push(format!(
                "{}: must be RuntimeDefault or Localhost (here or in the Pod's)",
                at(kind, c, "seccompProfile.type")
            ));
        }
        let dropped = sc.capabilities.as_ref().and_then(|k| k.drop.clone()).unwrap_or_default();
        if !dropped.iter().any(|d| d == "ALL") {
            out.push(format!("{}: must include ALL", at(kind, c, "capabilities.drop")));
        }
        for cap in added.iter().filter(|c| *c != "NET_BIND_SERVICE") {
            out.push(format!("{}: only NET_BIND_SERVICE may be added, not {cap}", at(kind, c, "capabilities.add")));
        }
    }
    if level == Level::Restricted {
        if pod_context.run_as_user == Some(0) {
            out.push("spec.securityContext.runAsUser: must not be 0".into());
        }
        const ALLOWED: &str =
            "configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected, secret";
        for v in pod.volumes.iter().flatten() {
            let allowed = v.config_map.is_some()
                || v.csi.is_some()
                || v.downward_api.is_some()
                || v.empty_dir.is_some()
                || v.ephemeral.is_some()
                || v.persistent_volume_claim.is_some()
                || v.projected.is_some()
                || v.secret.is_some();
            if !allowed {
                out.push(format!("spec.volumes[{}]: only {ALLOWED} volumes are allowed", v.name));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> PodSpec {
        serde_json::from_value(spec).expect("pod spec")
    }

    #[test]
    fn the_standards_rules_are_checked_field_by_field() {
        let bare = pod(json!({"containers": [{"name": "c", "image": "i"}]}));
        assert!(violations(&bare, Level::Baseline).is_empty());
        let restricted = violations(&bare, Level::Restricted);
        assert_eq!(
            restricted,
            [
                "spec.containers[c].securityContext.allowPrivilegeEscalation: must be false",
                "spec.containers[c].securityContext.runAsNonRoot: must be true (here or in the Pod's securityContext)",
                "spec.containers[c].securityContext.seccompProfile.type: must be RuntimeDefault or Localhost (here or in the Pod's)",
                "spec.containers[c].securityContext.capabilities.drop: must include ALL",
            ]
        );
        let loose = pod(json!({
            "hostNetwork": true,
            "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
            "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]},
            "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "hostPort": 80}],
                "securityContext": {"privileged": true, "capabilities": {"add": ["SYS_ADMIN"]}, "seccompProfile": {"type": "Unconfined"}}}],
        }));
        let found = violations(&loose, Level::Baseline);
        for want in [
            "spec.hostNetwork",
            "spec.volumes[h].hostPath",
            "sysctls[kernel.msgmax]",
            "privileged containers",
            "SYS_ADMIN is beyond the baseline set",
            "hostPort",
            "seccompProfile.type: Unconfined",
        ] {
            assert!(found.iter().any(|v| v.contains(want)), "{want} not in {found:#?}");
        }
        assert!(violations(&loose, Level::Restricted).iter().any(|v| v.contains("only configMap")));
    }

    #[test]
    fn each_profile_passes_its_standard_and_smos_own_containers_pass_restricted() {
        for profile in [PodSecurity::Baseline, PodSecurity::Restricted] {
            let mut spec = pod(json!({
                "volumes": [{"name": "e", "emptyDir": {}}],
                "initContainers": [{"name": "smo-install", "image": "smo"}],
                "containers": [{"name": "step", "image": "i"}],
            }));
            spec.security_context = profile.pod_context();
            spec.init_containers.iter_mut().flatten().for_each(|c| c.security_context = Some(own_container_context()));
            spec.containers[0].security_context = profile.container_context();
            let level = profile.standard().expect("a standard");
            assert!(violations(&spec, level).is_empty(), "{profile:?}: {:#?}", violations(&spec, level));
            // The init container passes restricted even beside a baseline step.
            assert!(!violations(&spec, Level::Restricted).iter().any(|v| v.contains("smo-install")), "{profile:?}");
        }
        assert_eq!(PodSecurity::Privileged.pod_context(), None);
        assert_eq!(PodSecurity::Privileged.container_context(), None);
    }
}
