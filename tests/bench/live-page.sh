#!/usr/bin/env bash
# The live page's numbers: its size; the time headless Chromium takes to its first picture of a
# local run with 1,000 sequences on screen; and the operator's CPU and peak memory during a
# 200 × 3 run on the project's cluster with 10 pages open against none.
#
#   make bench-live            (the operator part needs the cluster: it runs after `make cluster-up image`)
#
# SMO: the smo binary to measure (default: the static release build `make image` makes).
# PARTS: `page operator` (default), or one of them.
set -euo pipefail
cd "$(dirname "$0")/../.."
smo=${SMO:-/var/cache/smo/static-target/x86_64-unknown-linux-gnu/release/smo}
[ -x "$smo" ] || { echo "no smo binary at $smo (make image builds it)" >&2; exit 1; }
command -v chromium >/dev/null || { echo "chromium is missing: make services" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -f -- "--user-data-dir=$work" 2>/dev/null || true
  sleep 1
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
attr() { grep -o "$1=\"[^\"]*\"" "$2" | head -1 | cut -d'"' -f2; }
browser() { # URL OUT [LOG]: load the page once; the DOM is read once its stream has ended and 1 s of
  # page time passed (page time stands still while the stream is open). LOG: the browser's
  # console, each line stamped with the wall clock.
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
    --user-data-dir="$(mktemp -d -p "$work")" --enable-logging=stderr --log-level=0 \
    --virtual-time-budget=1000 --dump-dom "$1" >"$2" 2>"${3:-/dev/null}"
}
stamp() { # PATTERN LOG: the wall-clock second of the first console line matching PATTERN
  grep -m1 "$1" "$2" | sed -E 's/^\[[0-9]+:[0-9]+:[0-9]{4}\/([0-9]{2})([0-9]{2})([0-9]{2}\.[0-9]+):.*/\1 \2 \3/' |
    awk '{printf "%.6f", $1 * 3600 + $2 * 60 + $3}'
}
parts=${PARTS:-page operator}

# --- The page and 1,000 sequences (local) ---
if [[ " $parts " == *" page "* ]]; then
cd "$work"
printf 'name: a\nconfig: {nnodes: 1}\nscript: |\n  sleep 0.2\n' >a.yaml
printf 'name: b\nconfig: {nnodes: 1}\nscript: |\n  sleep 0.2\n' >b.yaml
printf 'name: c\nconfig: {nnodes: 1}\nscript: |\n  sleep 120\n' >c.yaml
printf 'workflow:\n  completed: 1000\n  prefix: many_\ncluster:\n  max_size: 1000\njobs:\n- config: a.yaml\n- config: b.yaml\n- config: c.yaml\n' >many.yaml
ui=127.0.0.1:$(port)
"$smo" run many.yaml --no-progress --ui "$ui" >run.log 2>&1 &
pids+=($!)
until curl -sf "http://$ui/runs" >/dev/null; do sleep 0.2; done
page_bytes=$(curl -s "http://$ui/" | wc -c)
page_gzip=$(curl -s "http://$ui/" | gzip -9 | wc -c)
echo "page: ${page_bytes} bytes (${page_gzip} gzipped), one file with its script and style"
# Every sequence in its last step: 1,000 sequences, 3,000 jobs on screen (1,000 still running).
until [ "$(cat smo-runs/*/times.jsonl 2>/dev/null | grep -c '_c_start')" -ge 1000 ]; do sleep 0.5; done
for load in 1 2 3; do
  # Loaded while the run goes (its stream open): the browser is stopped once the page has drawn.
  browser "http://$ui/" page.html console.log &
  chrome=$!
  for _ in $(seq 600); do grep -q 'smo live: first picture' console.log 2>/dev/null && break; sleep 0.1; done
  kill "$chrome" 2>/dev/null || true
  wait "$chrome" 2>/dev/null || true
  started=$(stamp 'smo live: page script started' console.log)
  pictured=$(stamp 'smo live: first picture' console.log)
  echo "1,000 sequences, load $load: first picture $(echo "($pictured - $started) * 1000" | bc | xargs printf '%.0f') ms after the page's script started" \
    "($(grep -m1 -o 'first picture, [0-9]* sequences, [0-9]* jobs' console.log | cut -d, -f2-))"
done
kill "${pids[0]}" 2>/dev/null || true
wait "${pids[0]}" || true
cd - >/dev/null
fi
[[ " $parts " == *" operator "* ]] || exit 0

# --- The operator, 200 × 3, with 10 pages open and with none (the project's cluster) ---
if ! kubectl version >/dev/null 2>&1; then
  echo "operator: no cluster (make cluster-up image; eval \"\$(make -s cluster-env)\")" >&2
  exit 0
fi
"$smo" crd | kubectl apply -f - >/dev/null
manifest() {
  cat <<EOF
apiVersion: state-machine.converged-computing.org/v1alpha1
kind: StateMachine
metadata: {name: live}
spec:
  workflow: {completed: 200, maxFailures: 50}
  cluster: {maxSize: 100}
  jobs:
$(for s in a b c; do printf '  - name: %s\n    image: %s\n    config: {coresPerTask: 0}\n    script: |\n      true\n' "$s" "${SMO_TEST_IMAGE:-docker.io/library/debian:12-slim}"; done)
EOF
}
for pages in 0 10; do
  ns=smo-bench-live-$pages-$RANDOM
  kubectl create namespace "$ns" >/dev/null
  until kubectl -n "$ns" get serviceaccount default >/dev/null 2>&1; do sleep 0.5; done
  ui=127.0.0.1:$(port)
  "$smo" operator --namespace "$ns" --registry "$SMO_REGISTRY" --plain-http --smo-image "$SMO_IMAGE" \
    --ui-addr "$ui" --data-dir "$work/data-$pages" >"$work/operator-$pages.log" 2>&1 &
  op=$!
  pids+=($op)
  until curl -sf "http://$ui/runs" >/dev/null; do sleep 0.2; done
  manifest | kubectl -n "$ns" apply -f - >/dev/null
  began=$(date +%s.%N)
  browsers=()
  for i in $(seq 1 "$pages"); do
    browser "http://$ui/" "$work/page-$i.html" &
    browsers+=($!)
  done
  until [ "$(kubectl -n "$ns" get statemachine live -o jsonpath='{.status.phase}')" = Succeeded ]; do sleep 1; done
  took=$(echo "$(date +%s.%N) - $began" | bc)
  ticks=$(awk '{print $14 + $15}' "/proc/$op/stat")
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$op/status")
  # The pages end once the run has: their streams close with it.
  for b in "${browsers[@]}"; do wait "$b" || true; done
  shown=$(for i in $(seq 1 "$pages"); do attr data-completed "$work/page-$i.html"; done | sort | uniq -c | tr -s ' ' | tr '\n' ';')
  printf 'operator, %2d pages open: 200 × 3 in %.1f s, operator CPU %.2f s, peak RSS %d MiB%s\n' "$pages" "$took" \
    "$(echo "$ticks / $(getconf CLK_TCK)" | bc -l)" $((hwm / 1024)) "${shown:+ (pages showing completed: $shown)}"
  kill "$op"
  kubectl delete namespace "$ns" --wait=true >/dev/null
done
