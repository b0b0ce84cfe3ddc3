#!/usr/bin/env bash
# restart.sh NAME [FLAG...] - restarts one component of the running cluster in place: stops it
# by its recorded PID and starts it again with the command line it was first started with, plus
# FLAGs (a later flag wins), then waits until it is healthy. State (etcd, Jobs, Pods) is kept.
#
#   restart.sh apiserver        the watch caches start over: a client resuming a watch from an
#                               older resourceVersion gets 410 Gone and must re-list
#   restart.sh controller-manager --kube-api-qps=200 --kube-api-burst=300
#   restart.sh controller-manager          back to the command line it was first started with
#
# NAME is one of: apiserver, controller-manager, scheduler (see $STATE/pids).
set -euo pipefail
LOG_NAME=restart
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/common.sh
source "$SCRIPT_DIR/common.sh"
need_root

name=${1:?usage: restart.sh NAME [FLAG...]}
shift
PKI=$STATE/pki
case $name in
  apiserver) healthy=(curl -fsS --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://$BRIDGE_IP:$APISERVER_PORT/readyz") ;;
  controller-manager) healthy=(curl -fsSk "https://127.0.0.1:$KCM_PORT/healthz") ;;
  scheduler) healthy=(curl -fsSk "https://127.0.0.1:$SCHED_PORT/healthz") ;;
  *) die "cannot restart \`$name\`: give apiserver, controller-manager or scheduler" ;;
esac
[[ -f $STATE/pids ]] || die "no cluster in $STATE (run make cluster-up)"
read -r pid exe < <(awk -v n="$name" '$1==n{print $2, $3}' "$STATE/pids")
[[ -n ${pid:-} ]] || die "$name has no recorded PID in $STATE/pids"
# The first command line is kept, so restarts never pile FLAGs onto each other; a component
# that is down (e.g. after FLAGs it refused) is started again from it.
original=$STATE/cmdline.$name
if [[ ! -f $original ]]; then
  alive "$pid" || die "$name (pid $pid) is not running and its command line is unknown: run make cluster-down cluster-up"
  cp "/proc/$pid/cmdline" "$original"
fi
mapfile -d '' argv < "$original"
[[ $(readlink -f "${argv[0]}") == "$exe" ]] || die "the recorded command line of $name does not run $exe"

if alive "$pid"; then
  kill "$pid"
  for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
  alive "$pid" && { kill -9 "$pid"; sleep 0.2; }
fi

# start_healthy FLAG... : start it with the original command line plus FLAGs; fails if it exits
# or is not healthy within 90 s
start_healthy() {
  setsid "${argv[@]}" "$@" >> "$STATE/logs/$name.log" 2>&1 < /dev/null &
  new=$!
  awk -v n="$name" -v p="$new" '$1==n{$2=p} {print}' "$STATE/pids" > "$STATE/pids.new" && mv "$STATE/pids.new" "$STATE/pids"
  local end=$(( $(date +%s) + 90 ))
  until "${healthy[@]}" > /dev/null 2>&1; do
    alive "$new" || { tail -5 "$STATE/logs/$name.log" >&2; return 1; }
    (( $(date +%s) < end )) || return 1
    sleep 0.2
  done
}
if ! start_healthy "$@"; then
  (( $# )) || die "$name does not start again (see $STATE/logs/$name.log)"
  echo "[restart] $name does not run with $*; starting it as it was" >&2
  start_healthy || die "$name does not start again (see $STATE/logs/$name.log)"
  die "$name refused $* (it runs as it was)"
fi
log "$name restarted (pid $new)${*:+ with $*}"
