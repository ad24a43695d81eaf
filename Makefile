# nodetrust Makefile, after the kubebuilder v4 layout.

IMG ?= ghcr.io/nodetrust/nodetrust:dev
CONTAINER_TOOL ?= docker

# Tools are pinned in hack/tools/go.mod and run through `go tool`.
TOOLS := go tool -modfile=$(CURDIR)/hack/tools/go.mod
CONTROLLER_GEN := $(TOOLS) controller-gen
KUSTOMIZE := $(TOOLS) kustomize
GOLANGCI_LINT := $(TOOLS) golangci-lint

# Control-plane binaries (etcd, kube-apiserver, ...) built from source by
# hack/control-plane-binaries.sh. Binaries you already have win: set
# KUBEBUILDER_ASSETS to their directory.
ifeq ($(origin KUBEBUILDER_ASSETS),undefined)
KUBEBUILDER_ASSETS := $(shell hack/control-plane-binaries.sh --print-dir)
BUILD_CONTROL_PLANE := hack/control-plane-binaries.sh
else
BUILD_CONTROL_PLANE := @echo "control-plane: using KUBEBUILDER_ASSETS=$(KUBEBUILDER_ASSETS)"
endif
export KUBEBUILDER_ASSETS

GO_TEST_FLAGS ?= -count=1
FUZZTIME ?= 20s

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate the CRDs and RBAC ClusterRole from markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/..." paths="./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: control-plane
control-plane: ## Build (or confirm current) the control-plane binaries used by tests.
	$(BUILD_CONTROL_PLANE)

.PHONY: softhsm
softhsm: ## Install SoftHSM2 (Debian package softhsm2) when missing; the PKCS#11 signer tests use it.
	hack/softhsm.sh

.PHONY: test
test: control-plane softhsm ## Run unit, envtest integration and end-to-end tests, and a short fuzz run.
	go test $(GO_TEST_FLAGS) ./...
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME)

.PHONY: test-unit
test-unit: ## Run only the tests that need no control plane.
	go test $(GO_TEST_FLAGS) -short ./...

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME.
	go test ./pkg/pkcs10/ -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	go test ./pkg/signer/ -run '^$$' -fuzz '^FuzzLoadKeyPairPEM$$' -fuzztime $(FUZZTIME)
	go test ./pkg/attest/ -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME)

.PHONY: bench
bench: control-plane softhsm ## Run the benchmarks.
	go test ./... -run '^$$' -bench . -benchmem

.PHONY: lint
lint: ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: ## Fail when generated code or manifests are stale or go.mod is untidy.
	hack/verify.sh

##@ Build

.PHONY: build
build: ## Build the manager and the kubectl plugin into bin/.
	go build -trimpath -o bin/manager ./cmd/manager
	go build -trimpath -o bin/kubectl-nodetrust ./cmd/kubectl-nodetrust

.PHONY: run
run: ## Run the manager against the current kubeconfig (leader election off).
	go run ./cmd/manager --leader-elect=false --metrics-bind-address=0

.PHONY: docker-build
docker-build: ## Build the manager image.
	$(CONTAINER_TOOL) build -t $(IMG) .

.PHONY: demo
demo: control-plane ## Show nodetrust at work: a real kubelet joins, nodetrust approves and signs, kube-apiserver verifies it (needs root).
	go test -count=1 -v -run 'TestAKubeletJoins' ./test/e2e/

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the current cluster.
	$(KUSTOMIZE) build config/crd | kubectl apply --server-side -f -

.PHONY: deploy
deploy: manifests ## Deploy the manager to the current cluster.
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | kubectl apply --server-side -f -

.PHONY: build-installer
build-installer: manifests ## Render the whole install into dist/install.yaml.
	mkdir -p dist
	$(KUSTOMIZE) build config/default > dist/install.yaml
