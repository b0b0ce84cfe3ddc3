//! `smo operator`: runs `StateMachine` resources in the cluster until SIGTERM (see
//! `smo_actors::operator`).
//!
//! It checks at start that the cluster serves StateMachines (exit 2 with the install command
//! if not), then watches them. SIGTERM or Ctrl-C stops the process without touching any
//! workflow: its Jobs keep running, and the next operator carries on from them.
//!
//! With `--leader-elect`, replicas compete for a `coordination.k8s.io` Lease
//! (`<--lease-namespace>/smo-operator`, kube-lease-manager): only the holder acts; a standby
//! takes over within the lease's 15 s after the leader dies, at once after it stops cleanly
//! (the lease is released), and a leader that loses its lease exits (code 1) rather than act
//! beside the new one. A leader also exits once it cannot confirm its hold for
//! 10 s (`RENEW_DEADLINE`, client-go's renew deadline): the lease library learns of a lost lease
//! only at its next renewal, which after an error it puts off by up to 30 s, while a standby
//! may take an expired lease after 15 s — two leaders for a while, without this check.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use actix::Actor as _;
use k8s_openapi::api::coordination::v1::Lease;
use kube_lease_manager::LeaseManagerBuilder;
use smo_actors::executor::kubernetes::{self, RequestLimits};
use smo_actors::operator::metrics::OperatorMetrics;
use smo_actors::operator::{self, Controller, OperatorConfig};
use smo_core::limits::Limits;

use crate::cli::OperatorArgs;
use crate::endpoints::{self, Endpoints};

/// Exit code when the operator cannot start.
const CANNOT_START: u8 = 2;

/// Seconds a leader's lease lasts without renewal: a standby takes over within this much
/// (plus the grace) after the leader dies.
const LEASE_SECONDS: u64 = 15;

/// Seconds before the end of its lease a leader renews it.
const LEASE_GRACE_SECONDS: u64 = 5;

/// How long a leader acts without confirming its hold on the lease: less than the lease lasts
/// ([`LEASE_SECONDS`]), so it has stopped before a standby may take the lease over.
const RENEW_DEADLINE: Duration = Duration::from_secs(10);

/// How often a leader reads its lease to confirm its hold.
const HOLD_CHECK_EVERY: Duration = Duration::from_secs(2);

/// How the operator ended.
enum Ending {
    /// A signal: exit 0.
    Signal,
    /// Leadership lost: exit 1, so that the Pod restarts as a standby and never acts beside the
    /// new leader.
    LostLeadership,
}

/// Runs the operator until a signal; see the module docs.
pub fn run(args: &OperatorArgs) -> ExitCode {
    let system = actix::System::new();
    let result: Result<Ending, String> = system.block_on(operate(args));
    match result {
        Ok(Ending::Signal) => ExitCode::SUCCESS,
        Ok(Ending::LostLeadership) => {
            eprintln!("smo operator: lost the leader lease; exiting so that only the new leader acts");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("smo operator: {e}");
            ExitCode::from(CANNOT_START)
        }
    }
}

async fn operate(args: &OperatorArgs) -> Result<Ending, String> {
    let workflow_limits = Limits::parse(args.limits.iter().map(String::as_str)).map_err(|e| format!("--limit {e}"))?;
    let limits = RequestLimits { qps: args.kube_api_qps, burst: args.kube_api_burst };
    let (client, _, requests) = kubernetes::connect(limits).await.map_err(|e| e.to_string())?;
    let metrics = Arc::new(OperatorMetrics::new(requests).map_err(|e| e.to_string())?);
    let ready = Arc::new(AtomicBool::new(false));
    if let Some(addr) = args.metrics_addr {
        let served = Endpoints { metrics: metrics.clone(), ready: ready.clone() };
        endpoints::serve(addr, served).await.map_err(|e| format!("cannot serve --metrics-addr {addr}: {e}"))?;
    }
    // Unique among the operators that may compete for the lease: a Pod's name, else host + pid.
    let instance = std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "smo-operator".into());
        format!("{host}-{}", std::process::id())
    });
    let live = match args.ui_addr {
        Some(addr) => {
            let live = crate::live::Live::new(smo_actors::live::Board::new(), "operator", Some(instance.clone()));
            live.standby.store(args.leader_elect, Ordering::Relaxed);
            crate::live::serve(addr, live.clone()).await.map_err(|e| format!("cannot serve --ui-addr {addr}: {e}"))?;
            Some(live)
        }
        None => None,
    };
    operator::check_crd(&client, args.namespaces.iter().find(|n| !n.is_empty()).map(String::as_str))
        .await
        .map_err(|e| e.to_string())?;
    let mut leading = None;
    if args.leader_elect {
        let lease = LeaseManagerBuilder::new(client.clone(), operator::CONTROLLER_NAME)
            .with_namespace(args.lease_namespace.clone())
            .with_identity(instance.clone())
            .with_duration(LEASE_SECONDS)
            .with_grace(LEASE_GRACE_SECONDS)
            .with_field_manager(operator::CONTROLLER_NAME)
            .build()
            .await
            .map_err(|e| format!("cannot use the lease {}/{}: {e}", args.lease_namespace, operator::CONTROLLER_NAME))?;
        let (mut channel, task) = lease.watch().await;
        // A standby is ready: it serves its purpose by waiting.
        ready.store(true, Ordering::Relaxed);
        tracing::info!(identity = %instance, lease = %format!("{}/{}", args.lease_namespace, operator::CONTROLLER_NAME), "waiting to lead");
        loop {
            if *channel.borrow_and_update() {
                break;
            }
            tokio::select! {
                changed = channel.changed() => if changed.is_err() {
                    return Err(format!("the lease manager stopped: {:?}", task.await));
                },
                () = wait_for_signal() => return Ok(Ending::Signal),
            }
        }
        ready.store(false, Ordering::Relaxed);
        if let Some(live) = &live {
            live.standby.store(false, Ordering::Relaxed);
        }
        tracing::info!(identity = %instance, "leading");
        let leases: kube::Api<Lease> = kube::Api::namespaced(client.clone(), &args.lease_namespace);
        leading = Some((channel, task, leases));
    }
    let config_instance = instance.clone();
    let config = OperatorConfig {
        share: kubernetes::FairShare::new(limits),
        client,
        namespaces: args.namespaces.iter().filter(|n| !n.is_empty()).cloned().collect(),
        smo_image: args.smo_image.clone(),
        default_registry: args.registry.clone().map(|host| (host, args.plain_http)),
        registry_image: args.registry_image.clone(),
        own_namespace: args.lease_namespace.clone(),
        infra_retries: args.infra_retries,
        pending_timeout: args.pending_timeout.map(std::time::Duration::from_secs),
        limits: workflow_limits,
        data_dir: args.data_dir.clone(),
        instance,
        metrics,
        ready,
        board: live.as_ref().map(|l| l.board.clone()),
    };
    tracing::info!(
        namespaces = if args.namespaces.is_empty() { "(all)".to_string() } else { args.namespaces.join(",") },
        "smo operator started; watching StateMachines"
    );
    let _controller = Controller::new(config).start();
    let ending = match &mut leading {
        None => {
            wait_for_signal().await;
            Ending::Signal
        }
        Some((channel, _, leases)) => {
            let lost = async {
                while channel.changed().await.is_ok() {
                    if !*channel.borrow_and_update() {
                        break;
                    }
                }
            };
            tokio::select! {
                () = wait_for_signal() => Ending::Signal,
                () = lost => Ending::LostLeadership,
                () = hold_unconfirmed(leases, &config_instance) => Ending::LostLeadership,
            }
        }
    };
    if let Some((channel, task, _)) = leading {
        // Closing the channel stops the lease task; releasing the lease lets a standby lead now
        // rather than when the lease runs out.
        drop(channel);
        if let Ok(Ok(lease)) = task.await
            && matches!(ending, Ending::Signal)
            && let Err(e) = lease.release().await
        {
            tracing::warn!(error = %e, "cannot release the leader lease; a standby leads when it runs out");
        }
    }
    tracing::info!("smo operator stopping; running workflows carry on with the next operator");
    Ok(ending)
}

/// Returns once the hold of `me` on the lease cannot be confirmed: another holds it, it ran out
/// unrenewed, or no read of it has succeeded for [`RENEW_DEADLINE`].
async fn hold_unconfirmed(leases: &kube::Api<Lease>, me: &str) {
    let mut confirmed = Instant::now();
    loop {
        tokio::time::sleep(HOLD_CHECK_EVERY).await;
        match leases.get(operator::CONTROLLER_NAME).await {
            Ok(lease) if holds(&lease, me, SystemTime::now()) => confirmed = Instant::now(),
            Ok(lease) => {
                let holder = lease.spec.and_then(|s| s.holder_identity).unwrap_or_default();
                tracing::warn!(identity = %me, %holder, "the leader lease is no longer ours, or ran out unrenewed");
                return;
            }
            Err(e) if confirmed.elapsed() >= RENEW_DEADLINE => {
                tracing::warn!(identity = %me, error = %e, deadline = ?RENEW_DEADLINE, "cannot confirm the leader lease within the renew deadline");
                return;
            }
            Err(_) => {}
        }
    }
}

/// Whether `lease` is held by `me` and still runs at `now` (renewed within its duration).
fn holds(lease: &Lease, me: &str, now: SystemTime) -> bool {
    let Some(spec) = &lease.spec else { return false };
    let renewed = spec.renew_time.as_ref().map(|t| SystemTime::from(t.0));
    let lasts = spec.lease_duration_seconds.and_then(|s| u64::try_from(s).ok()).map(Duration::from_secs);
    spec.holder_identity.as_deref() == Some(me)
        && matches!((renewed, lasts), (Some(renewed), Some(lasts)) if renewed + lasts > now)
}

/// Returns at Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn lease(holder: &str, renewed: SystemTime, seconds: i32) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                renew_time: Some(MicroTime(renewed.try_into().expect("a time"))),
                lease_duration_seconds: Some(seconds),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    #[test]
    fn a_leader_holds_its_lease_only_while_it_runs_unrenewed() {
        let now = SystemTime::now();
        let ago = |s: u64| now - Duration::from_secs(s);
        assert!(holds(&lease("me", ago(9), 15), "me", now), "renewed 9 s ago, lasts 15 s");
        assert!(!holds(&lease("me", ago(16), 15), "me", now), "ran out: a standby may have taken it");
        assert!(!holds(&lease("other", ago(1), 15), "me", now), "another holds it");
        assert!(!holds(&Lease::default(), "me", now), "no spec");
        // The check stops a leader before a standby may take its lease over.
        assert!(RENEW_DEADLINE + HOLD_CHECK_EVERY < Duration::from_secs(LEASE_SECONDS));
    }
}
