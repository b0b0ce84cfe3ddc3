#!/usr/bin/env bash
# down.sh - stop the cluster started by up.sh and undo what it changed on the machine.
# Signals only the PIDs recorded in $STATE/pids (each checked against /proc/PID/exe), and the
# containerd shims of OUR containerd socket. Then removes pod mounts and netns, the bridge,
# the KUBE-*/CNI-* iptables chains, the kubepods cgroups, and restores the sysctls.
# Kept: binaries ($BIN), image tars ($IMAGES), containerd's image store ($LIB/containerd).
#   SMO_CLUSTER_KEEP_STATE=1  keep $STATE (logs, certs) after stopping
set -uo pipefail
LOG_NAME=down
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/common.sh
source "$SCRIPT_DIR/common.sh"
need_root
[[ -f $STATE/pids ]] || { echo "[down] nothing recorded in $STATE/pids: not running"; exit 0; }

pid_of() { awk -v n="$1" '$1==n{print $2}' "$STATE/pids"; }
# stop NAME: TERM (KILL after 10 s) the recorded PID, if it still is the binary we started
stop() {
  local pid exe
  read -r pid exe < <(awk -v n="$1" '$1==n{print $2, $3}' "$STATE/pids")
  [[ -n ${pid:-} ]] || return 0
  [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$exe" ]] || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
  alive "$pid" && kill -KILL "$pid" 2>/dev/null
  echo "[down] stopped $1 (pid $pid)"
}

# 1. kube-proxy, then its iptables rules
stop kube-proxy
[[ -n $(pid_of kube-proxy) && -x $BIN/kube-proxy ]] && "$BIN/kube-proxy" --cleanup >/dev/null 2>&1
# 2. kubelet
stop kubelet
# 3. every container of our containerd, then containerd, then shims of our socket that survived
if [[ -n $(pid_of containerd) ]] && ctr version >/dev/null 2>&1; then
  for t in $(ctr -n k8s.io tasks ls -q 2>/dev/null); do ctr -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
  sleep 0.5
  for t in $(ctr -n k8s.io tasks ls -q 2>/dev/null); do ctr -n k8s.io tasks delete -f "$t" >/dev/null 2>&1; done
  for c in $(ctr -n k8s.io containers ls -q 2>/dev/null); do ctr -n k8s.io containers delete "$c" >/dev/null 2>&1; done
fi
stop containerd
for d in /proc/[0-9]*; do
  [[ $(basename "$(readlink "$d/exe" 2>/dev/null)") == containerd-shim-runc-v2 ]] || continue
  tr '\0' ' ' < "$d/cmdline" 2>/dev/null | grep -qF -- "-address $SOCK" || continue
  kill -KILL "${d#/proc/}" 2>/dev/null && echo "[down] killed leftover shim ${d#/proc/}"
done
# 4. registry and control plane, reverse start order
for n in registry scheduler controller-manager apiserver etcd; do stop "$n"; done

# 5. what the pods left: mounts (kubelet volumes, rootfs, shm), netns, the bridge
grep -oE " ($LIB/kubelet|$RUN|$LIB/containerd)(/[^ ]*)?" /proc/self/mounts | sort -r | while read -r m; do
  umount -l "$m" 2>/dev/null
done
if [[ -f $STATE/netns.before ]]; then
  comm -13 "$STATE/netns.before" <(ls /var/run/netns 2>/dev/null | sort) | while read -r ns; do
    [[ $ns == cni-* ]] && ip netns del "$ns" 2>/dev/null
  done
fi
[[ -f $STATE/created-run-netns ]] && umount /run/netns 2>/dev/null && rmdir /run/netns 2>/dev/null
[[ -f $STATE/created-bridge ]] && ip link del "$(cat "$STATE/created-bridge")" 2>/dev/null && echo "[down] removed bridge $BRIDGE"
# iptables: chains left by the kubelet (KUBE-FIREWALL, KUBE-MARK-*), by kube-proxy after
# --cleanup (canaries) and by the CNI bridge/portmap plugins (CNI-*): unhook, flush, delete
for t in filter nat mangle; do
  iptables -t $t -S 2>/dev/null | grep -E -- '-j (KUBE|CNI)-' | grep -vE '^-A (KUBE|CNI)-' | sed 's/^-A/-D/' \
    | while read -r r; do eval iptables -t $t "$r" 2>/dev/null; done
  chains=$(iptables -t $t -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^(KUBE|CNI)-/{print $2}')
  for c in $chains; do iptables -t $t -F "$c" 2>/dev/null; done
  for c in $chains; do iptables -t $t -X "$c" 2>/dev/null; done
done
rm -rf "$LIB/kubelet" "$RUN"
# empty pod/QoS cgroups the kubelet created (it never removes /kubepods itself)
for c in /sys/fs/cgroup/*/kubepods; do [[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null; done
[[ -f $STATE/created-var-log-pods ]] && rm -rf /var/log/pods /var/log/containers
# 6. sysctls back to what they were
[[ -f $STATE/sysctl.orig ]] && while IFS= read -r kv; do sysctl -qw "$kv" 2>/dev/null; done < "$STATE/sysctl.orig"

rm -f "$STATE/pids" "$STATE/env"
if [[ ${SMO_CLUSTER_KEEP_STATE:-0} != 1 ]]; then rm -rf "$STATE"; echo "[down] removed $STATE"; fi
exit 0
