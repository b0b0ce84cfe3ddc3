#!/usr/bin/env bash
# Installs the programs the tests start by themselves, from Debian's packages:
#   docker-registry  a real OCI registry (distribution 2.8) for artifact tests
#   python3          runs the original's `parse_log` metric scripts
#   oras (PyPI)      the original's python ORAS client, for the interop test (a venv)
#   chromium         a real browser (headless) that loads the live page as a person would
# Each test starts its own instance on a free loopback port; nothing runs as a service.
set -euo pipefail
need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v bash >/dev/null 2>&1 || need+=(bash)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# Debian's python3 needs python3-venv for `python3 -m venv` (ensurepip).
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need+=(python3-venv)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "tests/services/install.sh: missing ${need[*]}; run as root (or apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps the package's own service from starting; the tests start their own.
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The PyPI `oras` client (the original's python library), for the interop test, in a venv kept
# outside the repository so reruns on this machine reuse it.
venv=/var/cache/smo/oras-venv
if ! "$venv/bin/python" -c 'import oras.client' >/dev/null 2>&1; then
  mkdir -p /var/cache/smo
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'oras==0.2.43'
fi
