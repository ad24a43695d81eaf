#!/usr/bin/env bash
# Fails when generated code, manifests or module files are stale: regenerates
# them and compares the tree with what was there before.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

snapshot() { git status --porcelain --untracked-files=all -- . ; git diff -- . ; }
before=$(snapshot)

make --no-print-directory generate manifests >/dev/null
go mod tidy
(cd hack/tools && go mod tidy)
(cd hack/controlplane/kube && go mod tidy)
(cd hack/controlplane/etcd && go mod tidy)
gofmt_out=$(gofmt -l $(git ls-files '*.go'))
# Every kustomization must build.
for k in $(git ls-files '*kustomization.yaml'); do
  if ! go tool -modfile=hack/tools/go.mod kustomize build "$(dirname "$k")" >/dev/null; then
    echo "verify: kustomize build $(dirname "$k") fails" >&2
    exit 1
  fi
done
# The install with the optional monitoring component must build too.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r config "$tmp/"
printf 'components:\n- ../prometheus\n' >> "$tmp/config/default/kustomization.yaml"
if ! go tool -modfile=hack/tools/go.mod kustomize build "$tmp/config/default" | grep -q '^kind: PrometheusRule'; then
  echo "verify: config/default with the prometheus component does not build" >&2
  exit 1
fi

after=$(snapshot)
status=0
if [[ "$before" != "$after" ]]; then
  echo "verify: generated files or go.mod/go.sum are out of date; run 'make generate manifests' and 'go mod tidy', then commit:" >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  status=1
fi
if [[ -n "$gofmt_out" ]]; then
  echo "verify: gofmt would change:" >&2
  echo "$gofmt_out" >&2
  status=1
fi
exit $status
