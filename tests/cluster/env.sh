#!/usr/bin/env bash
# env.sh - print the export lines for the running cluster (and nothing else on stdout):
#   eval "$(tests/cluster/env.sh)"      or      eval "$(make -s cluster-env)"
# then kubectl and smo use it:  KUBECONFIG=<state>/admin.kubeconfig, SMO_REGISTRY=<bridge-ip>:<port>
set -euo pipefail
# shellcheck source=tests/cluster/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[[ -f $STATE/env ]] || { echo "[env] the cluster is not running ($STATE/env missing); start it with: make cluster-up" >&2; exit 1; }
cat "$STATE/env"
