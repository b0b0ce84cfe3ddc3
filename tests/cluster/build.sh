#!/usr/bin/env bash
# build.sh - install what the local cluster needs and build what Debian does not ship.
# Idempotent: every step is skipped when its result exists. up.sh runs it first.
#
#   packages  etcd-server, containerd, runc, containernetworking-plugins, iptables, conntrack,
#             docker-registry, debootstrap, gcc (pause image); golang-1.19 etc. only to build
#   binaries  kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy
#             v1.20.2 from Debian bookworm's SOURCE package `kubernetes` (full vendor/ tree,
#             builds offline with golang-1.19; ~7 min on 2 idle cores) -> $BIN
#             or unpacked from $BIN_TARBALL when that exists (written after a build)
#   images    docker-archive tars in $IMAGES, imported into containerd by up.sh:
#             pause.tar      k8s.gcr.io/pause:3.2 (pause.c from the source tree, static)
#             debian-12.tar  docker.io/library/debian:12 (debootstrap minbase + curl, ca-certificates, python3)
#             Anything else dropped into $IMAGES (e.g. smo's own image) is imported too.
set -euo pipefail
LOG_NAME=build
# shellcheck source=tests/cluster/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_root

have_bins() { for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do [[ -x $BIN/$b ]] || return 1; done; }

# ------------------------------------------------------------ 1. packages
apt_install() { # PKG... (only the missing ones)
  local need=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  (( ${#need[@]} )) || return 0
  log "installing ${need[*]}"
  apt-get update -qq || die "apt-get update failed (network? /etc/apt/sources.list.d)"
  # the image has /usr/sbin/policy-rc.d (exit 101): etcd/containerd/registry services do not
  # start by themselves; up.sh starts its own instances on its own ports/sockets.
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
    || die "apt-get install ${need[*]} failed"
}
apt_install etcd-server openssl curl ca-certificates zstd containerd runc containernetworking-plugins \
  iptables conntrack iproute2 docker-registry debootstrap gcc libc6-dev
command -v kubectl >/dev/null || apt_install kubernetes-client

# The Debian source tarball (34 MB, full vendor/ tree): needs deb-src lines for bookworm.
fetch_source() {
  mkdir -p "$CACHE/src"
  [[ -f $CACHE/src/$DEB_SRC_TARBALL ]] && return 0
  if ! apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Version: 1.20'; then
    cat > /etc/apt/sources.list.d/smo-k8s-debsrc.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -qq || die "apt-get update (deb-src) failed"
  fi
  (cd "$CACHE/src" && { apt-get source --download-only -qq "kubernetes=$DEB_SRC_VERSION" 2>/dev/null \
      || apt-get source --download-only -qq kubernetes; }) \
    || die "apt-get source kubernetes failed (needs deb-src for bookworm, see /etc/apt/sources.list.d/smo-k8s-debsrc.sources)"
  [[ -f $CACHE/src/$DEB_SRC_TARBALL ]] || die "expected $CACHE/src/$DEB_SRC_TARBALL after apt-get source"
}

# ------------------------------------------------------------ 2. binaries
if ! have_bins && [[ -n $BIN_TARBALL && -f $BIN_TARBALL ]]; then
  mkdir -p "$BIN"; zstd -dc "$BIN_TARBALL" | tar -C "$BIN" -xf - || die "cannot unpack $BIN_TARBALL (delete it to rebuild)"
  log "unpacked binaries from $BIN_TARBALL"
fi
if ! have_bins; then
  # golang-github-modern-go-reflect2-dev: reflect2 1.0.2 sources, see the patch below
  apt_install golang-1.19-go make rsync jq golang-github-modern-go-reflect2-dev
  fetch_source
  work=$CACHE/src/kubernetes-$K8S_VERSION
  rm -rf "$work"; tar -C "$CACHE/src" -xzf "$CACHE/src/$DEB_SRC_TARBALL"
  cd "$work"
  # Go >= 1.18: the vendored github.com/modern-go/reflect2 v1.0.1 reads runtime map internals
  # and kube-apiserver SIGSEGVs on the first custom resource. v1.0.2 (same API) fixed it.
  rm -f vendor/github.com/modern-go/reflect2/*.go vendor/github.com/modern-go/reflect2/*.s
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go \
     /usr/share/gocode/src/github.com/modern-go/reflect2/*.s vendor/github.com/modern-go/reflect2/
  # Kubernetes 1.20's own build (GOPATH mode + code generation); `go build -mod=vendor` does not work.
  export PATH=/usr/lib/go-1.19/bin:$PATH GOPROXY=off GOSUMDB=off GOFLAGS='' GOTOOLCHAIN=local
  export KUBE_GIT_VERSION=v$K8S_VERSION KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20 \
         KUBE_GIT_TREE_STATE=clean KUBE_GIT_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56
  log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy: first time only, about 7-10 minutes on 2 cores (then cached in $BIN_TARBALL); log: $CACHE/build.log"
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet cmd/kube-proxy" \
    > "$CACHE/build.log" 2>&1 || { tail -40 "$CACHE/build.log" >&2; die "kubernetes build failed; full log: $CACHE/build.log"; }
  mkdir -p "$BIN"
  install -m 0755 _output/bin/kube-apiserver _output/bin/kube-controller-manager _output/bin/kube-scheduler \
                  _output/bin/kubelet _output/bin/kube-proxy "$BIN/"
  cd /; rm -rf "$work"     # ~2.3 GB incl. the Go build cache
  log "built $("$BIN/kube-apiserver" --version) into $BIN"
fi
if [[ -n $BIN_TARBALL && ! -f $BIN_TARBALL ]]; then
  mkdir -p "$(dirname "$BIN_TARBALL")"
  tar -C "$BIN" -cf - kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy \
    | zstd -q -T0 -10 > "$BIN_TARBALL.tmp" && mv "$BIN_TARBALL.tmp" "$BIN_TARBALL"
  log "wrote binary cache $BIN_TARBALL ($(du -h "$BIN_TARBALL" | cut -f1))"
fi

# ------------------------------------------------------------ 3. images
# mkimage REF ROOTFS_TAR OUT CMD_JSON [ENTRYPOINT_JSON] [USER]: a single-layer docker-archive
mkimage() {
  local ref=$1 rootfs=$2 out=$3 cmd=$4 ep=${5:-null} user=${6:-} d diff cfg
  d=$(mktemp -d); cp "$rootfs" "$d/layer.tar"
  diff=$(sha256sum "$d/layer.tar" | cut -d' ' -f1)
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":%s,"Entrypoint":%s,"User":"%s"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$cmd" "$ep" "$user" "$diff" > "$d/config.json"
  cfg=$(sha256sum "$d/config.json" | cut -d' ' -f1); mv "$d/config.json" "$d/$cfg.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$cfg" "$ref" > "$d/manifest.json"
  tar -C "$d" -cf "$out.tmp" manifest.json "$cfg.json" layer.tar && mv "$out.tmp" "$out"; rm -rf "$d"
}
mkdir -p "$IMAGES"
if [[ ! -f $IMAGES/pause.tar ]]; then
  fetch_source
  d=$(mktemp -d)
  tar -xzf "$CACHE/src/$DEB_SRC_TARBALL" -C "$d" --strip-components=4 "kubernetes-$K8S_VERSION/build/pause/linux/pause.c"
  mkdir -p "$d/root"
  gcc -Os -Wall -Werror -static -DVERSION=v3.2-smo -o "$d/root/pause" "$d/pause.c" || die "gcc pause.c failed"
  strip "$d/root/pause"
  tar -C "$d/root" --owner=0 --group=0 -cf "$d/rootfs.tar" pause
  mkimage "$PAUSE_IMAGE" "$d/rootfs.tar" "$IMAGES/pause.tar" null '["/pause"]' 65535:65535
  rm -rf "$d"; log "built $PAUSE_IMAGE -> $IMAGES/pause.tar"
fi
# curl: rockylinux:9 (which this image stands in for) has curl too; python3: the original's
# parse_log scripts run in the step's own Pod, with its image's python3. A change of the list
# rebuilds the image (the list is kept beside it).
DEBIAN_INCLUDE=curl,ca-certificates,python3
if [[ ! -f $IMAGES/debian-12.tar || $(cat "$CACHE/debian-12.include" 2>/dev/null) != "$DEBIAN_INCLUDE" ]]; then
  root=$CACHE/rootfs-bookworm; rm -rf "$root"
  log "debootstrap bookworm (minbase + $DEBIAN_INCLUDE): first time only, about 1-2 minutes (then cached in $IMAGES); log: $CACHE/debootstrap.log"
  debootstrap --variant=minbase --include="$DEBIAN_INCLUDE" bookworm "$root" http://deb.debian.org/debian \
    > "$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed; log: $CACHE/debootstrap.log"; }
  echo "$DEBIAN_INCLUDE" > "$CACHE/debian-12.include"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" --numeric-owner -cf "$CACHE/rootfs.tar" .
  mkimage "$DEBIAN_IMAGE" "$CACHE/rootfs.tar" "$IMAGES/debian-12.tar" '["bash"]'
  rm -rf "$CACHE/rootfs.tar" "$root"; log "built $DEBIAN_IMAGE -> $IMAGES/debian-12.tar"
fi
log "build ok: binaries in $BIN, images in $IMAGES"
