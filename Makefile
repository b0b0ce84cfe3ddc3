# smo — the state-machine operator. `make help` lists the targets.

CARGO ?= cargo
SMO := $(CARGO) run --quiet --bin smo --

.DEFAULT_GOAL := help

##@ Develop

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^##@/ {printf "\n%s\n", substr($$0, 5)} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build the smo binary (debug; RELEASE=1 for an optimised one).
	$(CARGO) build --bin smo $(if $(RELEASE),--release,)

.PHONY: fmt
fmt: ## Format the code.
	$(CARGO) fmt --all

.PHONY: lint
lint: ## Check formatting, run clippy and build the docs (intra-doc links), warnings as errors.
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS='-D warnings' $(CARGO) doc --workspace --no-deps

##@ Generated files

.PHONY: dist
dist: ## Regenerate dist/ from the code (CRD, install manifests, ServiceMonitor).
	$(SMO) crd > dist/crd.yaml
	$(SMO) manifests > dist/install.yaml
	$(SMO) manifests --service-monitor > dist/servicemonitor.yaml

.PHONY: verify
verify: dist ## Regenerate dist/ and fail if it differs from what is committed.
	git diff --exit-code -- dist/

##@ Test

.PHONY: services
services: ## Install what the tests start themselves (docker-registry, python3, python oras; root once).
	bash tests/services/install.sh

.PHONY: test
test: services ## Run every test: unit, actors, CLI, registry, examples, drift, and the cluster tests.
	@echo "make test: the first run on a machine builds smo (debug and static release), the cluster and the images: about 40 minutes on 2 cores; later runs about 30 (cached under /var/cache/smo and cargo's target directory)"
	SMO_REQUIRE_SERVICES=1 SMO_ORAS_PYTHON=/var/cache/smo/oras-venv/bin/python $(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc
	$(MAKE) test-cluster

.PHONY: test-cluster
test-cluster: cluster-up image ## Run the tests that need the cluster (smo run --executor kubernetes, smo operator end to end, hostile tenants, a short chaos run).
	eval "$$(bash tests/cluster/env.sh)" && SMO_REQUIRE_SERVICES=1 $(CARGO) test --test kubernetes --test operator --test hostile --test chaos -- --ignored --test-threads 1

SEED ?= 1
FAULTS ?= 30

.PHONY: chaos
chaos: cluster-up image ## The seeded chaos suite, longer than make test's (SEED=N FAULTS=N; a failing run prints its seed and faults).
	eval "$$(bash tests/cluster/env.sh)" && SMO_CHAOS_SEED=$(SEED) SMO_CHAOS_FAULTS=$(FAULTS) $(CARGO) test --test chaos -- --ignored --nocapture --test-threads 1

ORIGINAL_EXAMPLES ?= $(SMO_ORIGINAL_EXAMPLES)

.PHONY: test-compat
test-compat: ## Opt-in, on external data: validate and run locally the original project's own examples (ORIGINAL_EXAMPLES=DIR).
	@if [ -z "$(ORIGINAL_EXAMPLES)" ] || [ ! -d "$(ORIGINAL_EXAMPLES)" ]; then \
	  echo "make test-compat needs a directory of the original project's example files:" >&2; \
	  echo "  make test-compat ORIGINAL_EXAMPLES=DIR   (or SMO_ORIGINAL_EXAMPLES=DIR; got '$(ORIGINAL_EXAMPLES)')" >&2; \
	  echo "DIR holds the original's StateMachine manifests and workflow files (its examples/ directory)." >&2; \
	  exit 2; \
	fi
	SMO_ORIGINAL_EXAMPLES="$(abspath $(ORIGINAL_EXAMPLES))" $(CARGO) test --test original_examples -- --ignored

##@ Benchmark

.PHONY: bench-live
bench-live: services cluster-up image ## The live page: its size, Chromium's first picture of 1,000 sequences, the operator's CPU and memory in a 200×3 run with 10 pages open and none (about 15 minutes).
	eval "$$(bash tests/cluster/env.sh)" && bash tests/bench/live-page.sh

.PHONY: bench-kubernetes
bench-kubernetes: cluster-up ## smo against the floor on the local cluster: 200×3 and 1000×3 (about an hour; BENCH_ARGS='--sizes 200x100 --raise-controller-manager').
	eval "$$(bash tests/cluster/env.sh)" && $(CARGO) bench --bench kubernetes -- $(BENCH_ARGS)

##@ Image

SMO_IMAGE ?= docker.io/library/smo:dev
IMAGE_TAR ?= /var/cache/smo/k8s/images/smo.tar
REGISTRY_IMAGE ?= docker.io/library/smo-registry:dev
REGISTRY_IMAGE_TAR ?= /var/cache/smo/k8s/images/smo-registry.tar
STATIC_TARGET_DIR ?= /var/cache/smo/static-target
STATIC_SMO := $(STATIC_TARGET_DIR)/x86_64-unknown-linux-gnu/release/smo

.PHONY: image
image: ## Build the smo image (a static binary, FROM scratch; dist/Containerfile) and a registry image (dist/Containerfile.registry) with buildah; a running test cluster gets them too.
	command -v buildah >/dev/null || apt-get install -y --no-install-recommends buildah
	[ -f /etc/ssl/certs/ca-certificates.crt ] || apt-get install -y --no-install-recommends ca-certificates
	@[ -x $(STATIC_SMO) ] || echo "image: building smo as a static release binary, first time only: about 5-6 minutes on 2 cores (then cached in $(STATIC_TARGET_DIR))"
	RUSTFLAGS='-C target-feature=+crt-static' CARGO_TARGET_DIR=$(STATIC_TARGET_DIR) $(CARGO) build --release --target x86_64-unknown-linux-gnu --bin smo
	set -e; ctx=$$(mktemp -d); trap 'rm -rf "$$ctx"' EXIT; \
	  cp $(STATIC_SMO) "$$ctx/smo"; strip "$$ctx/smo"; cp /etc/ssl/certs/ca-certificates.crt "$$ctx/"; \
	  buildah --storage-driver vfs bud --quiet -f dist/Containerfile -t $(SMO_IMAGE) "$$ctx"; \
	  mkdir -p $(dir $(IMAGE_TAR)); rm -f $(IMAGE_TAR); \
	  buildah --storage-driver vfs push --quiet $(SMO_IMAGE) docker-archive:$(IMAGE_TAR):$(SMO_IMAGE); \
	  if ctr --address /run/smo-k8s/containerd.sock version >/dev/null 2>&1; then ctr --address /run/smo-k8s/containerd.sock -n k8s.io images import $(IMAGE_TAR) >/dev/null; fi; \
	  echo "image $(SMO_IMAGE) in $(IMAGE_TAR)"
	command -v docker-registry >/dev/null || apt-get install -y --no-install-recommends docker-registry
	set -e; ctx=$$(mktemp -d); trap 'rm -rf "$$ctx"' EXIT; \
	  cp /usr/bin/docker-registry /lib/x86_64-linux-gnu/libc.so.6 /lib64/ld-linux-x86-64.so.2 "$$ctx/"; \
	  printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n' > "$$ctx/config.yml"; \
	  buildah --storage-driver vfs bud --quiet -f dist/Containerfile.registry -t $(REGISTRY_IMAGE) "$$ctx"; \
	  rm -f $(REGISTRY_IMAGE_TAR); \
	  buildah --storage-driver vfs push --quiet $(REGISTRY_IMAGE) docker-archive:$(REGISTRY_IMAGE_TAR):$(REGISTRY_IMAGE); \
	  if ctr --address /run/smo-k8s/containerd.sock version >/dev/null 2>&1; then ctr --address /run/smo-k8s/containerd.sock -n k8s.io images import $(REGISTRY_IMAGE_TAR) >/dev/null; fi; \
	  echo "image $(REGISTRY_IMAGE) in $(REGISTRY_IMAGE_TAR)"

.PHONY: ci
ci: lint test ## What CI runs (.ci/run).

##@ Cluster

.PHONY: cluster-up
cluster-up: ## Start the local Kubernetes test cluster + registry (root; first run builds ~10 min, later ~15 s).
	bash tests/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop the local test cluster (only what cluster-up started) and clean up after it.
	bash tests/cluster/down.sh

.PHONY: cluster-env
cluster-env: ## Print only the export lines (KUBECONFIG, SMO_REGISTRY); use with eval and make -s.
	@bash tests/cluster/env.sh

.PHONY: cluster-smoke
cluster-smoke: ## Quick check that the local test cluster runs Pods and reaches its registry.
	bash tests/cluster/smoke.sh
