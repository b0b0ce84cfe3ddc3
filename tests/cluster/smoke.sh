#!/usr/bin/env bash
# smoke.sh - quick check that the cluster from up.sh really runs Pods, in a fresh namespace
# (deleted at the end). Exits non-zero on the first failure.
#   - a Job with an init container, a ConfigMap volume and an emptyDir runs on the node -> Complete
#   - kubectl logs (main and init container)
#   - a Pod reaches the registry at $SMO_REGISTRY (bash /dev/tcp, GET /v2/ -> 200)
#   - a Pod reaches the apiserver through svc/kubernetes with its ServiceAccount token
#   - a failing Job (image rockylinux:9 = the Debian 12 image) -> condition Failed, exit code 3
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
env_lines=$("$SCRIPT_DIR/env.sh") || exit 1
eval "$env_lines"
NS=smoke-$$
T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
# kubectl 1.32 against a 1.20 server warns about the version skew on every call: drop that line
k() { kubectl -n "$NS" "$@" 2> >(grep -v '^Warning: version difference' >&2); }
ok() { echo "ok   - $*"; }
fail() { echo "FAIL - $*" >&2; k get pods -o wide >&2 || true; exit 1; }
wait_job() { # JOB CONDITION TIMEOUT_S
  for _ in $(seq 1 $(( $3 * 5 ))); do
    [[ $(k get job "$1" -o jsonpath="{.status.conditions[?(@.type=='$2')].status}") == True ]] && return 0
    sleep 0.2
  done
  k describe job "$1" | tail -8 >&2; fail "job $1 never got condition $2 within $3 s"
}

[[ $(k get node -o jsonpath='{.items[0].status.conditions[?(@.type=="Ready")].status}') == True ]] || fail "no Ready node"
ok "node $(k get node -o jsonpath='{.items[0].metadata.name}') Ready"
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://$SMO_REGISTRY/v2/") == 200 ]] || fail "registry http://$SMO_REGISTRY/v2/ from the host"
ok "registry http://$SMO_REGISTRY/v2/ -> 200 from the host"

k create namespace "$NS" >/dev/null
trap 'kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 50); do k get secret -o name 2>/dev/null | grep -q '^secret/default-token' && break; sleep 0.2; done
k create rolebinding default-view --clusterrole=view --serviceaccount="$NS:default" >/dev/null

k apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: ConfigMap
metadata: {name: job-cfg}
data: {greeting.txt: "hello from configmap"}
---
apiVersion: batch/v1
kind: Job
metadata: {name: steps}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      volumes:
      - {name: cfg, configMap: {name: job-cfg}}
      - {name: work, emptyDir: {}}
      initContainers:
      - name: init
        image: debian:12
        command: [bash, -c, 'echo "written by init" > /scratch/from-init.txt; echo init done']
        volumeMounts: [{name: work, mountPath: /scratch}]
      containers:
      - name: main
        image: debian:12
        env: [{name: SMO_REGISTRY, value: "$SMO_REGISTRY"}]
        command:
        - bash
        - -c
        - |
          set -e
          echo "cm=\$(cat /cfg/greeting.txt)"
          echo "emptydir=\$(cat /scratch/from-init.txt)"
          echo "debian=\$(cat /etc/debian_version)"
          exec 3<>/dev/tcp/\${SMO_REGISTRY%:*}/\${SMO_REGISTRY#*:}
          printf 'GET /v2/ HTTP/1.0\r\nHost: %s\r\n\r\n' "\$SMO_REGISTRY" >&3
          echo "registry=\$(head -1 <&3 | tr -d '\r')"
          sa=/var/run/secrets/kubernetes.io/serviceaccount
          echo "apiserver=\$(curl -sS --cacert \$sa/ca.crt -H "Authorization: Bearer \$(cat \$sa/token)" \
            https://\$KUBERNETES_SERVICE_HOST:\$KUBERNETES_SERVICE_PORT/api/v1/namespaces/\$(cat \$sa/namespace)/configmaps/job-cfg \
            | grep -o '"greeting.txt": *"[^"]*"' | sed 's/.*: *//')"
        volumeMounts: [{name: cfg, mountPath: /cfg}, {name: work, mountPath: /scratch}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: failing}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: main, image: rockylinux:9, command: [bash, -c, 'echo about to fail >&2; exit 3']}
EOF2

wait_job steps Complete 90
ok "Job with init container + ConfigMap volume + emptyDir Complete after $(elapsed) s"
P=$(k get pods -l job-name=steps -o jsonpath='{.items[0].metadata.name}')
LOGS=$(k logs "$P" -c main)
[[ $(k logs "$P" -c init) == "init done" ]] || fail "kubectl logs -c init: $(k logs "$P" -c init)"
ok "kubectl logs -c init"
grep -qx "cm=hello from configmap" <<<"$LOGS" || fail "ConfigMap volume: $LOGS"
grep -qx "emptydir=written by init" <<<"$LOGS" || fail "emptyDir: $LOGS"
grep -q "^debian=12" <<<"$LOGS" || fail "debian image: $LOGS"
ok "kubectl logs: ConfigMap volume, emptyDir from the init container, Debian $(sed -n 's/^debian=//p' <<<"$LOGS")"
grep -Eq "^registry=HTTP/1\.[01] 200" <<<"$LOGS" || fail "Pod -> registry $SMO_REGISTRY: $(grep '^registry=' <<<"$LOGS")"
ok "Pod reaches the registry at $SMO_REGISTRY: $(sed -n 's/^registry=//p' <<<"$LOGS")"
grep -qx 'apiserver="hello from configmap"' <<<"$LOGS" || fail "Pod -> apiserver via svc/kubernetes: $(grep '^apiserver=' <<<"$LOGS")"
ok "Pod reaches the apiserver via svc/kubernetes ($(k get svc kubernetes -n default -o jsonpath='{.spec.clusterIP}') -> $(k get endpoints kubernetes -n default -o jsonpath='{.subsets[0].addresses[0].ip}')) with its ServiceAccount token"

wait_job failing Failed 60
PF=$(k get pods -l job-name=failing -o jsonpath='{.items[0].metadata.name}')
code=$(k get pod "$PF" -o jsonpath='{.status.containerStatuses[0].state.terminated.exitCode}')
[[ $code == 3 ]] || fail "failing pod exit code $code, expected 3"
ok "failing Job (image rockylinux:9) -> Failed ($(k get job failing -o jsonpath='{.status.conditions[0].reason}')), exit code $code, logs: $(k logs "$PF")"
echo "all cluster smoke checks passed in $(elapsed) s"
