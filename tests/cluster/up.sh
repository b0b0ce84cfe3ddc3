#!/usr/bin/env bash
# up.sh - start smo's local test cluster: a real Kubernetes v1.20.2 control plane, a real node
# and a real OCI registry, all on this machine (root; no Docker, no image pulls).
#
#   etcd 3.4 (Debian etcd-server)                 127.0.0.1:$ETCD_PORT
#   kube-apiserver, -controller-manager, -scheduler   apiserver on https://$BRIDGE_IP:$APISERVER_PORT
#   containerd + runc (Debian), CNI bridge $BRIDGE ($POD_CIDR), kubelet, kube-proxy (iptables)
#   docker-registry (Debian's distribution 2.8)   http://$BRIDGE_IP:$REGISTRY_PORT  (= $SMO_REGISTRY)
#
# The bridge is created first, with the address the CNI bridge plugin uses as the Pods'
# gateway, and the apiserver and the registry listen on it: the host and the Pods reach them
# at the same address. The apiserver publishes it as the endpoint of svc/kubernetes
# (ClusterIP $SERVICE_IP, via kube-proxy), so in-cluster clients work too.
#
# First run: build.sh installs packages and builds the binaries and images (several minutes).
# Later runs: ~15 s. Idempotent: when already up it says so and exits 0. If a step fails,
# everything it started is stopped again (logs kept in $STATE/logs).
# Stop with down.sh; print the environment with env.sh. Knobs: see common.sh.
set -euo pipefail
LOG_NAME=up
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/common.sh
source "$SCRIPT_DIR/common.sh"
need_root

# ------------------------------------------------------------ 0. already up?
KUBECTL=(kubectl --kubeconfig "$STATE/admin.kubeconfig")
node_ready() { [[ $("${KUBECTL[@]}" get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]; }
if [[ -f $STATE/pids ]]; then
  ok=1
  while read -r name pid exe; do
    [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$exe" ]] && alive "$pid" || { ok=0; echo "[up] $name (pid $pid) is not running"; }
  done < "$STATE/pids"
  if (( ok )) && [[ -f $STATE/env ]] && node_ready; then
    echo "[up] cluster already up ($STATE/pids); eval \"\$($SCRIPT_DIR/env.sh)\" to use it"; exit 0
  fi
  echo "[up] stale or incomplete cluster in $STATE: running down.sh first"
  "$SCRIPT_DIR/down.sh"
fi

# ------------------------------------------------------------ 1. packages, binaries, images
"$SCRIPT_DIR/build.sh"
T0=$(date +%s.%N)   # start time from here on

ip link show "$BRIDGE" >/dev/null 2>&1 && die "network interface $BRIDGE already exists (another cluster? run down.sh, or: ip link del $BRIDGE)"
for hp in 127.0.0.1:$ETCD_PORT 127.0.0.1:$ETCD_PEER_PORT 127.0.0.1:$KCM_PORT 127.0.0.1:$SCHED_PORT \
          127.0.0.1:10250 127.0.0.1:10248 127.0.0.1:10249 127.0.0.1:10256 "0.0.0.0:$APISERVER_PORT" "0.0.0.0:$REGISTRY_PORT"; do
  ss -Hltn "sport = :${hp##*:}" | grep -q . && die "port ${hp##*:} is already in use ($(ss -Hltnp "sport = :${hp##*:}" | awk '{print $NF}' | head -1)); stop that or change the port knob in common.sh"
done
[[ -S $SOCK ]] && ctr version >/dev/null 2>&1 && die "a containerd already serves $SOCK (run down.sh)"

rm -rf "$STATE"; mkdir -p "$STATE/pki" "$STATE/logs" "$STATE/net.d" "$LIB" "$RUN"; chmod 700 "$STATE"
: > "$STATE/pids"
up_ok=0
cleanup_on_failure() {
  (( up_ok )) && return 0
  echo "[up] FAILED; stopping what was started (logs kept in $STATE/logs)" >&2
  SMO_CLUSTER_KEEP_STATE=1 "$SCRIPT_DIR/down.sh" >&2 || true
}
trap cleanup_on_failure EXIT

# start NAME BINARY ARGS... : detached (own session), log in $STATE/logs/NAME.log, PID recorded
start() {
  local name=$1 exe; exe=$(readlink -f "$2"); shift
  setsid "$@" > "$STATE/logs/$name.log" 2>&1 < /dev/null &
  echo "$name $! $exe" >> "$STATE/pids"
}
# wait_for NAME TIMEOUT CMD... : poll CMD; fail when NAME's process exits or on timeout
wait_for() {
  local name=$1 t=$2; shift 2
  local end=$(( $(date +%s) + t )) pid; pid=$(awk -v n="$name" '$1==n{print $2}' "$STATE/pids")
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s) > end )) || { [[ -n $pid ]] && ! alive "$pid"; }; then
      echo "[up] $name not ready (process exited, or ${t}s timeout); last lines of $STATE/logs/$name.log:" >&2
      tail -30 "$STATE/logs/$name.log" >&2 || true
      die "$name did not start"
    fi
    sleep 0.3
  done
  log "${WHAT:-$name} ready"
}

# ------------------------------------------------------------ 2. network: bridge, sysctls
# record what we (and kubelet/kube-proxy) change, so down.sh can restore it
for k in net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.ipv4.conf.all.route_localnet \
         vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops \
         kernel.keys.root_maxkeys kernel.keys.root_maxbytes; do
  v=$(sysctl -n "$k" 2>/dev/null) && echo "$k=$v" >> "$STATE/sysctl.orig"
done
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || { modprobe br_netfilter 2>/dev/null; sysctl -qw net.bridge.bridge-nf-call-iptables=1; } \
  || die "cannot set net.bridge.bridge-nf-call-iptables (kernel without br_netfilter?)"
ls /var/run/netns 2>/dev/null | sort > "$STATE/netns.before" || true
[[ -d /var/log/pods ]] || touch "$STATE/created-var-log-pods"   # the kubelet writes container logs there
mountpoint -q /run/netns || touch "$STATE/created-run-netns"       # containerd bind-mounts pod netns there
# The CNI bridge plugin adopts an existing bridge when it carries exactly its gateway address.
ip link add "$BRIDGE" type bridge || die "cannot create bridge $BRIDGE"
echo "$BRIDGE" > "$STATE/created-bridge"
ip addr add "$BRIDGE_IP/$BRIDGE_PREFIX" dev "$BRIDGE"
ip link set "$BRIDGE" up
log "bridge $BRIDGE $BRIDGE_IP/$BRIDGE_PREFIX up"

# ------------------------------------------------------------ 3. PKI + kubeconfigs
PKI=$STATE/pki
cd "$PKI"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=smo-cluster-ca" 2>/dev/null
# cert NAME CN O(or "") EXTKEYUSAGE SAN(or "")
cert() {
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2${3:+/O=$3}" 2>/dev/null
  { echo "extendedKeyUsage=$4"; echo "keyUsage=digitalSignature,keyEncipherment"; [[ -n $5 ]] && echo "subjectAltName=$5"; } > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "${CA_NAME:-ca}.crt" -CAkey "${CA_NAME:-ca}.key" -CAcreateserial \
    -out "$1.crt" -days 3650 -extfile "$1.ext" 2>/dev/null
}
cert apiserver kube-apiserver "" serverAuth \
  "IP:$BRIDGE_IP,IP:127.0.0.1,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert admin kubernetes-admin system:masters clientAuth ""
cert controller-manager system:kube-controller-manager "" clientAuth ""
cert scheduler system:kube-scheduler "" clientAuth ""
cert kubelet-client "system:node:$NODE_NAME" system:nodes clientAuth ""
cert kubelet-serving "system:node:$NODE_NAME" system:nodes serverAuth "DNS:$NODE_NAME,IP:$BRIDGE_IP,IP:127.0.0.1"
cert kube-proxy system:kube-proxy "" clientAuth ""
# front-proxy CA + client: without them controller-manager/scheduler log "missing content for CA bundle"
openssl req -x509 -newkey rsa:2048 -nodes -keyout front-proxy-ca.key -out front-proxy-ca.crt -days 3650 \
  -subj "/CN=smo-cluster-front-proxy-ca" 2>/dev/null
CA_NAME=front-proxy-ca cert front-proxy-client front-proxy-client "" clientAuth ""
openssl genrsa -out sa.key 2048 2>/dev/null
openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
ADMIN_TOKEN=$(openssl rand -hex 16)
echo "$ADMIN_TOKEN,admin-token,admin-token-uid,system:masters" > tokens.csv
echo "$ADMIN_TOKEN" > admin.token
chmod 600 ./*.key tokens.csv admin.token
cd /
APISERVER=https://$BRIDGE_IP:$APISERVER_PORT
kubeconfig() { # FILE USER CERT KEY (embedded, so the file can be copied)
  cat > "$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: smo-cluster
  cluster:
    server: $APISERVER
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 < "$3")
    client-key-data: $(base64 -w0 < "$4")
contexts:
- name: smo-cluster
  context: {cluster: smo-cluster, user: $2, namespace: default}
current-context: smo-cluster
KC
  chmod 600 "$1"
}
kubeconfig "$STATE/admin.kubeconfig" admin "$PKI/admin.crt" "$PKI/admin.key"
for c in controller-manager:system:kube-controller-manager scheduler:system:kube-scheduler \
         kubelet:system:node:$NODE_NAME kube-proxy:system:kube-proxy; do
  f=${c%%:*}; u=${c#*:}; crt=$f; [[ $f == kubelet ]] && crt=kubelet-client
  kubeconfig "$STATE/$f.kubeconfig" "$u" "$PKI/$crt.crt" "$PKI/$crt.key"
done
log "pki + kubeconfigs ok"
CURL=(curl -fsS --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key")

# ------------------------------------------------------------ 4. control plane
mkdir -p "$STATE/etcd"; chmod 700 "$STATE/etcd"
start etcd /usr/bin/etcd --name smo-cluster --data-dir "$STATE/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "smo-cluster=http://127.0.0.1:$ETCD_PEER_PORT" \
  --logger zap --log-outputs stderr --log-level warn
wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

# Every deletion is audited (who deleted what, and when) in $STATE/logs/audit.log: the chaos
# suite tells a Job deleted by the cluster's garbage collector from one smo deleted.
cat > "$STATE/audit-policy.yaml" <<'AUDIT'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [delete, deletecollection]
- level: None
AUDIT
# Bound to the bridge address (not 127.0.0.1) so Pods reach it; the default "lease" endpoint
# reconciler publishes $BRIDGE_IP:$APISERVER_PORT as the endpoint of svc/kubernetes.
start apiserver "$BIN/kube-apiserver" \
  --audit-policy-file "$STATE/audit-policy.yaml" --audit-log-path "$STATE/logs/audit.log" \
  --audit-log-maxsize 200 --audit-log-maxbackup 1 \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address "$BRIDGE_IP" --advertise-address "$BRIDGE_IP" --secure-port "$APISERVER_PORT" --insecure-port 0 \
  --endpoint-reconciler-type lease \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --client-ca-file "$PKI/ca.crt" --token-auth-file "$PKI/tokens.csv" \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --authorization-mode RBAC \
  --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
  --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
  --requestheader-extra-headers-prefix X-Remote-Extra- \
  --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
  --allow-privileged=true \
  --feature-gates TTLAfterFinished=true \
  --profiling=false --v=1
wait_for apiserver 90 "${CURL[@]}" "$APISERVER/readyz"

start controller-manager "$BIN/kube-controller-manager" \
  --kubeconfig "$STATE/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --port 0 --cert-dir "$PKI/kcm-serving" \
  --leader-elect=false \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --use-service-account-credentials=true \
  --feature-gates TTLAfterFinished=true \
  --profiling=false --v=1
start scheduler "$BIN/kube-scheduler" \
  --kubeconfig "$STATE/scheduler.kubeconfig" \
  --authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
  --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --port 0 --cert-dir "$PKI/sched-serving" \
  --leader-elect=false --profiling=false --v=1
wait_for controller-manager 60 curl -fsSk "https://127.0.0.1:$KCM_PORT/healthz"
wait_for scheduler 60 curl -fsSk "https://127.0.0.1:$SCHED_PORT/healthz"
# The apiserver runs RBAC without the Node authorizer: the built-in system:node binding has no
# subjects, so bind the role to the nodes' group.
"${KUBECTL[@]}" create clusterrolebinding smo-cluster:system:nodes --clusterrole=system:node --group=system:nodes \
  >/dev/null 2>&1 || die "cannot create the system:nodes ClusterRoleBinding"

# ------------------------------------------------------------ 5. registry
mkdir -p "$STATE/registry/data"
cat > "$STATE/registry/config.yml" <<REG
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $STATE/registry/data}
  delete: {enabled: true}
http:
  addr: $BRIDGE_IP:$REGISTRY_PORT
REG
start registry /usr/bin/docker-registry serve "$STATE/registry/config.yml"
wait_for registry 20 curl -fsS "http://$BRIDGE_IP:$REGISTRY_PORT/v2/"

# ------------------------------------------------------------ 6. containerd + images
cat > "$STATE/containerd.toml" <<CT
version = 2
root = "$LIB/containerd"
state = "$RUN/containerd"
[grpc]
  address = "$SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  enable_selinux = false
  # this VM denies CAP_SYS_RESOURCE even to root: lowering oom_score_adj (pause -998) fails in
  # runc init ("can't get final child's PID from pipe: EOF"); clamp to our own value instead
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/net.d"
  # images can also be pulled from the cluster's registry (plain HTTP)
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$BRIDGE_IP:$REGISTRY_PORT"]
    endpoint = ["http://$BRIDGE_IP:$REGISTRY_PORT"]
[plugins."io.containerd.internal.v1.opt"]
  path = "$LIB/containerd-opt"
CT
cat > "$STATE/net.d/10-smo-cluster.conflist" <<CNI
{
  "cniVersion": "0.4.0",
  "name": "smo-cluster",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$BRIDGE_IP"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$RUN/cni-ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI
start containerd /usr/bin/containerd --config "$STATE/containerd.toml"
wait_for containerd 30 ctr version

# import_images: every $IMAGES/*.tar (docker-archive or OCI archive) that is new or changed since
# its last import (size + mtime stamp under $LIB/imported). This is the hook for extra images:
# drop a tar into $IMAGES (e.g. smo's own image) and it is present after the next start.
import_images() {
  local t stamp cur
  mkdir -p "$LIB/imported"
  for t in "$IMAGES"/*.tar; do
    [[ -f $t ]] || continue
    stamp=$LIB/imported/$(basename "$t").stamp; cur=$(stat -c '%s %Y' "$t")
    [[ -f $stamp && $(cat "$stamp") == "$cur" ]] && continue
    ctr -n k8s.io images import "$t" >/dev/null || die "ctr images import $t failed"
    echo "$cur" > "$stamp"; log "imported $t"
  done
  # the Debian 12 userland also stands in for other images (e.g. the original's rockylinux:9)
  local a; for a in $DEBIAN_ALIASES; do ctr -n k8s.io images tag --force "$DEBIAN_IMAGE" "$a" >/dev/null; done
}
import_images
log "images: $(ctr -n k8s.io images ls -q | grep -v '^sha256:' | tr '\n' ' ')"

# ------------------------------------------------------------ 7. kubelet
mkdir -p "$LIB/kubelet" "$LIB/volume-plugins"
# The apiserver reaches the kubelet (logs/exec) at the node's Hostname address first: if the
# name resolves to loopback (it does here: /etc/hosts "127.0.0.1 vm"), listen on 127.0.0.1.
KUBELET_ADDR=$BRIDGE_IP
[[ $(getent ahostsv4 "$NODE_NAME" | awk 'NR==1{print $1}') == 127.* ]] && KUBELET_ADDR=127.0.0.1
cat > "$STATE/kubelet-config.yaml" <<KCFG
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $KUBELET_ADDR
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
# the apiserver has no --kubelet-client-certificate: it calls the kubelet anonymously for
# logs/exec. Allowed; the kubelet only listens on $KUBELET_ADDR.
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failSwapOn: false
podCIDR: $POD_CIDR
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
serializeImagePulls: false
# the default 5 QPS caps a node at ~1.5 pods/s
kubeAPIQPS: 50
kubeAPIBurst: 100
eventRecordQPS: 50
eventBurst: 100
# imported images cannot be pulled again: never garbage-collect them
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
syncFrequency: 10s
nodeStatusUpdateFrequency: 3s
fileCheckFrequency: 20s
rotateCertificates: false
serverTLSBootstrap: false
KCFG
start kubelet "$BIN/kubelet" --config "$STATE/kubelet-config.yaml" \
  --kubeconfig "$STATE/kubelet.kubeconfig" \
  --container-runtime remote --container-runtime-endpoint "unix://$SOCK" \
  --pod-infra-container-image "$PAUSE_IMAGE" \
  --root-dir "$LIB/kubelet" --cert-dir "$PKI" --volume-plugin-dir "$LIB/volume-plugins" \
  --hostname-override "$NODE_NAME" --node-ip "$BRIDGE_IP" \
  --v=1
wait_for kubelet 60 curl -fsS http://127.0.0.1:10248/healthz
WHAT="node $NODE_NAME" wait_for kubelet 90 node_ready

# ------------------------------------------------------------ 8. kube-proxy (Service ClusterIPs)
start kube-proxy "$BIN/kube-proxy" --kubeconfig "$STATE/kube-proxy.kubeconfig" \
  --hostname-override "$NODE_NAME" --proxy-mode iptables --cluster-cidr "$POD_CIDR" \
  --bind-address 127.0.0.1 --healthz-bind-address 127.0.0.1:10256 --metrics-bind-address 127.0.0.1:10249 \
  --conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
  --v=1
wait_for kube-proxy 30 curl -fsS http://127.0.0.1:10256/healthz

# ------------------------------------------------------------ 9. ready for Pods
# Pods are admitted once the namespace's "default" ServiceAccount and (1.20) its token Secret exist.
sa_ready() { "${CURL[@]}" "$APISERVER/api/v1/namespaces/default/serviceaccounts/default" | grep -q '"secrets"'; }
WHAT="default ServiceAccount + token Secret" wait_for controller-manager 60 sa_ready
ep_ready() { [[ $("${KUBECTL[@]}" get endpoints kubernetes -o jsonpath='{.subsets[0].addresses[0].ip}') == "$BRIDGE_IP" ]]; }
WHAT="svc/kubernetes endpoint $BRIDGE_IP:$APISERVER_PORT" wait_for apiserver 30 ep_ready

cat > "$STATE/env" <<ENV
export KUBECONFIG=$STATE/admin.kubeconfig
export SMO_REGISTRY=$BRIDGE_IP:$REGISTRY_PORT
ENV
up_ok=1
log "cluster up: apiserver $APISERVER, registry http://$BRIDGE_IP:$REGISTRY_PORT, node $NODE_NAME Ready"
echo "    use it:   eval \"\$($SCRIPT_DIR/env.sh)\"   (or: eval \"\$(make -s cluster-env)\")"
echo "    images:   $PAUSE_IMAGE $DEBIAN_IMAGE $DEBIAN_ALIASES"
echo "    stop:     $SCRIPT_DIR/down.sh"
