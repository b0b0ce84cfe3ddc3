#!/usr/bin/env bash
# env.sh - print the export lines for the running cluster (and nothing else on stdout):
#   eval "$(tests/cluster/env.sh)"      or      eval "$(make -s cluster-env)"
# then kubectl and smo use it:  KUBECONFIG=<state>/admin.kubeconfig, SMO_REGISTRY=<bridge-ip>:<port>
# (a plain-HTTP registry: SMO_PLAIN_HTTP=1), SMO_IMAGE (the image `make image` builds, which
# delivers smo to step Pods) and SMO_REGISTRY_IMAGE (its registry image, for `smo operator`).
set -euo pipefail
# shellcheck source=tests/cluster/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[[ -f $STATE/env ]] || { echo "[env] the cluster is not running ($STATE/env missing); start it with: make cluster-up" >&2; exit 1; }
cat "$STATE/env"
echo "export SMO_PLAIN_HTTP=1"
echo "export SMO_IMAGE=$SMO_IMAGE"
echo "export SMO_REGISTRY_IMAGE=$SMO_REGISTRY_IMAGE"
