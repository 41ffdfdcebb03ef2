# LongTask: a Kubernetes operator that runs long tasks as Jobs and shows their progress.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

# Pinned tool and control-plane versions. Tools go into bin/; the control plane into a per-user cache
# (hack/build-controlplane.sh) that bin/k8s links to.
CONTROLLER_TOOLS_VERSION ?= v0.21.0
K8S_VERSION ?= 1.36.3
ETCD_VERSION ?= 3.6.8

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
KUBEBUILDER_ASSETS ?= $(LOCALBIN)/k8s
GO_TEST_FLAGS ?= -race

.PHONY: all
all: build

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and RBAC from the markers in api/ and controllers/.
	$(CONTROLLER_GEN) rbac:roleName=longtask-manager crd:generateEmbeddedObjectMeta=true \
		paths="./api/..." paths="./controllers/..." paths="./cmd/manager/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	$(CONTROLLER_GEN) rbac:roleName=longtask-ui paths="./cmd/ui/..." output:rbac:artifacts:config=config/ui/rbac

.PHONY: generate
generate: controller-gen ## Generate deepcopy code from the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: test
test: manifests generate vet controlplane chromium ## Run unit, integration (real kube-apiserver and etcd, real browser) and end-to-end tests.
	KUBEBUILDER_ASSETS="$(KUBEBUILDER_ASSETS)" go test $(GO_TEST_FLAGS) ./... -count=1
	$(MAKE) test-e2e

.PHONY: test-e2e
test-e2e: build controlplane localcluster ## Run the end-to-end tests through a local cluster (needs root for mount namespaces).
	go test -tags e2e ./test/e2e/ -count=1 -v -timeout 20m

.PHONY: dev
dev: build controlplane localcluster ## Start a local cluster with the operator and a sample task; Ctrl-C stops it.
	$(LOCALBIN)/localcluster up --state-dir $(LOCALBIN)/dev --k8s-bin $(KUBEBUILDER_ASSETS) \
		--image ghcr.io/longtask-dev/longtask-manager:latest=$(LOCALBIN)/manager \
		--image ghcr.io/longtask-dev/longtask-worker:latest=$(LOCALBIN)/longtask-worker \
		--image ghcr.io/longtask-dev/longtask-ui:latest=$(LOCALBIN)/ui \
		--deploy config/default --apply config/samples/demo.yaml \
		--say 'Open the UI at http://127.0.0.1:8090/'

.PHONY: dev-clean
dev-clean: ## Forget the local cluster's state.
	rm -rf $(LOCALBIN)/dev

.PHONY: test-unit
test-unit: ## Run only the unit tests (no control plane).
	go test ./api/... ./controllers/... ./internal/... ./pkg/... -count=1

.PHONY: fuzz
fuzz: ## Fuzz the progress protocol parser for FUZZTIME (default 1m); keep new inputs in pkg/progress/testdata.
	go test ./pkg/progress -run '^$$' -fuzz FuzzParse -fuzztime $(or $(FUZZTIME),1m)

.PHONY: bench
bench: ## Run the benchmarks.
	go test ./... -run '^$$' -bench . -benchmem

##@ Build

.PHONY: build
build: manifests generate ## Build the manager, worker and UI binaries into bin/.
	go build -o $(LOCALBIN)/manager ./cmd/manager
	go build -o $(LOCALBIN)/longtask-worker ./cmd/worker
	go build -o $(LOCALBIN)/ui ./cmd/ui

.PHONY: run
run: manifests generate ## Run the manager against the cluster in ~/.kube/config.
	go run ./cmd/manager

##@ Deployment

.PHONY: install
install: manifests ## Install the CRD into the cluster in ~/.kube/config.
	kubectl apply --server-side -k config/crd

.PHONY: uninstall
uninstall: ## Remove the CRD (and every LongTask) from the cluster.
	kubectl delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: manifests ## Deploy the manager with config/default.
	kubectl apply --server-side -k config/default

##@ Dependencies

.PHONY: chromium
chromium: ## Install Debian's Chromium for the browser tests, if it is missing.
	hack/ensure-chromium.sh

.PHONY: localcluster
localcluster: ## Build the local cluster tool into bin/.
	go build -o $(LOCALBIN)/localcluster ./hack/localcluster

.PHONY: controlplane
controlplane: ## Build etcd, kube-apiserver, kube-controller-manager and kube-scheduler (cached per version).
	K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/build-controlplane.sh $(KUBEBUILDER_ASSETS)

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into bin/.
$(CONTROLLER_GEN): $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
	ln -sf controller-gen-$(CONTROLLER_TOOLS_VERSION) $@
$(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION):
	mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $@

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-14s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
