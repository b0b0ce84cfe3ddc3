# common.sh - settings shared by the cluster scripts (sourced, not run).
# Every knob is an environment variable; the defaults are what `make cluster-up` uses.
# shellcheck shell=bash disable=SC2034
K8S_VERSION=1.20.2
DEB_SRC_VERSION="1.20.5+really1.20.2-1.1+deb12u1"    # Debian bookworm(-security) source package `kubernetes`
DEB_SRC_TARBALL="kubernetes_1.20.5+really1.20.2.orig.tar.gz"

STATE=${SMO_CLUSTER_STATE:-/tmp/smo-cluster}              # runtime: pki, kubeconfigs, etcd, registry data, logs, pids
BIN=${SMO_K8S_BIN:-/opt/smo-k8s/v$K8S_VERSION/bin}      # the 5 built binaries
CACHE=${SMO_K8S_CACHE:-/var/cache/smo/k8s}              # source tarball, build logs, binary tarball
IMAGES=${SMO_K8S_IMAGES:-$CACHE/images}                 # image tars (docker-archive); every *.tar is imported at start
BIN_TARBALL=${SMO_K8S_BIN_TARBALL-$CACHE/k8s-bin-v$K8S_VERSION.tar.zst}  # "" = do not write/use it
LIB=${SMO_K8S_LIB:-/var/lib/smo-k8s}                    # containerd root (imported images persist) + kubelet root
RUN=/run/smo-k8s                                        # containerd socket + state, CNI IPAM

# Network. The bridge is created by up.sh (before anything starts) with the gateway address;
# that address is where the host AND the Pods reach the apiserver and the registry.
BRIDGE=${SMO_CLUSTER_BRIDGE:-smo0}
POD_CIDR=${SMO_CLUSTER_POD_CIDR:-10.244.0.0/24}
BRIDGE_IP=${POD_CIDR%.*}.1                              # the CNI bridge plugin's gateway (first IP)
BRIDGE_PREFIX=${POD_CIDR#*/}
SERVICE_CIDR=10.0.0.0/24
SERVICE_IP=10.0.0.1                                     # ClusterIP of svc/kubernetes
ETCD_PORT=${SMO_ETCD_PORT:-12379}
ETCD_PEER_PORT=${SMO_ETCD_PEER_PORT:-12380}
APISERVER_PORT=${SMO_APISERVER_PORT:-6443}
KCM_PORT=10257
SCHED_PORT=10259
REGISTRY_PORT=${SMO_REGISTRY_PORT:-5000}
NODE_NAME=${SMO_NODE_NAME:-$(hostname)}
PAUSE_IMAGE=k8s.gcr.io/pause:3.2
DEBIAN_IMAGE=docker.io/library/debian:12
# Tags the Debian 12 image also gets in containerd, so manifests written for other images run unchanged.
DEBIAN_ALIASES=${SMO_DEBIAN_ALIASES-"docker.io/library/debian:12-slim docker.io/library/debian:bookworm docker.io/library/rockylinux:9"}
# smo's images as `make image` builds them (Makefile: SMO_IMAGE, REGISTRY_IMAGE); env.sh exports them.
SMO_IMAGE=${SMO_IMAGE:-docker.io/library/smo:dev}
SMO_REGISTRY_IMAGE=${SMO_REGISTRY_IMAGE:-docker.io/library/smo-registry:dev}
SOCK=$RUN/containerd.sock
export CONTAINERD_ADDRESS=$SOCK
export DEBIAN_FRONTEND=noninteractive

T0=${T0:-$(date +%s.%N)}
log() { printf '[%s %6.1fs] %s\n' "${LOG_NAME:-cluster}" "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" "$*"; }
die() { echo "[${LOG_NAME:-cluster}] ERROR: $*" >&2; exit 1; }
need_root() { [[ $(id -u) == 0 ]] || die "must run as root (it installs packages, starts containerd/kubelet, changes iptables)"; }
# alive PID: exists and is not a zombie (PID 1 in this VM reaps orphans lazily)
alive() { local s; s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [[ -n $s && $s != Z ]]; }
