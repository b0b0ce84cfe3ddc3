#!/usr/bin/env bash
# Installs the programs the tests start by themselves, from Debian's packages:
#   docker-registry  a real OCI registry (distribution 2.8) for artifact tests
#   python3          runs the original's `parse_log` metric scripts
# Each test starts its own instance on a free loopback port; nothing runs as a service.
set -euo pipefail
need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v bash >/dev/null 2>&1 || need+=(bash)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "tests/services/install.sh: missing ${need[*]}; run as root (or apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps the package's own service from starting; the tests start their own.
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
