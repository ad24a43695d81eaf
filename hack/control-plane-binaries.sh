#!/usr/bin/env bash
# Builds the local control plane that nodetrust's tests run against, from source,
# through the Go module proxy: etcd, kube-apiserver, kube-controller-manager,
# kubelet and a fake CRI runtime. Idempotent: a build is skipped when the cache
# already holds binaries built from the same sources with the same Go.
#
# Usage: hack/control-plane-binaries.sh [--print-dir]
#   --print-dir  print the cache directory and exit (builds nothing)
#
# Environment:
#   CONTROL_PLANE_CACHE  root of the binary cache (default: $XDG_CACHE_HOME/nodetrust
#                        or ~/.cache/nodetrust); binaries go to <root>/k8s/<version>.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kube_mod="$root/hack/controlplane/kube"
etcd_mod="$root/hack/controlplane/etcd"

version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$kube_mod/go.mod")
if [[ -z "$version" ]]; then
  echo "control-plane: cannot read the k8s.io/kubernetes version from $kube_mod/go.mod" >&2
  exit 1
fi
cache_root=${CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nodetrust}
dir="$cache_root/k8s/$version"

if [[ "${1:-}" == "--print-dir" ]]; then
  echo "$dir"
  exit 0
fi

# The stamp names everything a binary depends on: sources, module graphs, this
# script and the Go toolchain. A different stamp means a rebuild.
stamp=$( (
  go version
  cat "$0"
  find "$kube_mod" "$etcd_mod" -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
    sort -z | xargs -0 cat
) | sha256sum | cut -d' ' -f1)

binaries=(etcd kube-apiserver kube-controller-manager kubelet fakecri)
current=true
for b in "${binaries[@]}"; do
  [[ -x "$dir/$b" ]] || current=false
done
if $current && [[ "$(cat "$dir/.stamp" 2>/dev/null)" == "$stamp" ]]; then
  echo "control-plane: $version binaries are current in $dir" >&2
  exit 0
fi

mkdir -p "$dir"
rm -f "$dir/.stamp"
export CGO_ENABLED=0
minor=${version#v1.}
minor=${minor%%.*}
ldflags="-s -w \
  -X k8s.io/component-base/version.gitVersion=$version \
  -X k8s.io/component-base/version.gitMajor=1 \
  -X k8s.io/component-base/version.gitMinor=$minor \
  -X k8s.io/component-base/version.gitTreeState=clean \
  -X k8s.io/client-go/pkg/version.gitVersion=$version \
  -X k8s.io/client-go/pkg/version.gitMajor=1 \
  -X k8s.io/client-go/pkg/version.gitMinor=$minor"

start=$SECONDS
echo "control-plane: building etcd into $dir (first build downloads modules)" >&2
(cd "$etcd_mod" && go build -trimpath -ldflags "-s -w" -o "$dir/etcd" .)
echo "control-plane: etcd done after $((SECONDS - start))s" >&2

echo "control-plane: building kube-apiserver, kube-controller-manager, kubelet and fakecri $version (a cold build takes 10-15 minutes)" >&2
(cd "$kube_mod" && go build -trimpath -ldflags "$ldflags" -o "$dir/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kubelet \
  ./cmd/fakecri)
echo "$stamp" > "$dir/.stamp"
echo "control-plane: $version binaries built in $((SECONDS - start))s into $dir" >&2
