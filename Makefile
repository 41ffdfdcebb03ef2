# LongTask: a Kubernetes operator that runs long tasks as Jobs and shows their progress.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

# Pinned tool and control-plane versions. Tools and the control plane are built once per machine into a
# per-user cache (hack/install-tool.sh, hack/build-controlplane.sh) that bin/ links to.
CONTROLLER_TOOLS_VERSION ?= v0.21.0
KWOK_VERSION ?= v0.8.0
HELM_VERSION ?= v3.22.0
KUSTOMIZE_VERSION ?= v5.8.2
GOLANGCI_LINT_VERSION ?= v2.15.0
K8S_VERSION ?= 1.36.3
ETCD_VERSION ?= 3.6.8

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
KWOK ?= $(LOCALBIN)/kwok
HELM ?= $(LOCALBIN)/helm
KUSTOMIZE ?= $(LOCALBIN)/kustomize
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint
KUBEBUILDER_ASSETS ?= $(LOCALBIN)/k8s
GO_TEST_FLAGS ?= -race

# Images: make images builds them into the OCI layout $(IMAGES); make push copies them to $(REGISTRY) as
# $(REGISTRY)/longtask-{manager,worker,ui}:$(TAG); make deploy IMG_REGISTRY=... deploys them.
IMAGES ?= $(LOCALBIN)/images
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
TAG ?= $(VERSION)
IMG_TAG ?= $(TAG)
# BASE_IMAGE, when set, is pulled and used as the base instead of the minimal one built here (e.g.
# gcr.io/distroless/static:nonroot).
BASE_IMAGE ?=
# What the local cluster's node needs from Debian: PACKAGE:COMMAND-OR-PATH (hack/ensure-packages.sh).
NODE_PACKAGES := containerd:containerd runc:runc containernetworking-plugins:/usr/lib/cni/bridge \
	iptables:iptables conntrack:conntrack iproute2:ip util-linux:nsenter
# The busybox image is built from Debian's static busybox.
IMAGE_PACKAGES := busybox-static:/usr/share/doc/busybox-static

.PHONY: all
all: build

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRDs and RBAC from the markers in api/, controllers/ and cmd/, for config/ and the chart.
	$(CONTROLLER_GEN) rbac:roleName=longtask-manager crd:generateEmbeddedObjectMeta=true \
		paths="./api/..." paths="./controllers/..." paths="./cmd/manager/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	$(CONTROLLER_GEN) rbac:roleName=longtask-ui paths="./cmd/ui/..." output:rbac:artifacts:config=config/ui/rbac
	@# The Helm chart installs the same generated CRDs and RBAC rules (charts/longtask/README.md).
	cp config/crd/bases/*.yaml charts/longtask/crds/
	cp config/rbac/role.yaml charts/longtask/files/manager-role.yaml
	cp config/ui/rbac/role.yaml charts/longtask/files/ui-role.yaml

.PHONY: generate
generate: controller-gen ## Generate deepcopy code from the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet (make lint runs the same analyzers, golangci-lint's govet, over the e2e and fault suites too).
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint with .golangci.yml, over the e2e and fault suites too, and refuse files over 1 MiB in git.
	hack/check-file-sizes.sh
	@# Another clone linting on this machine holds golangci-lint's lock: wait for it rather than fail.
	$(GOLANGCI_LINT) run --allow-serial-runners --build-tags e2e,faults ./...

# make test regenerates the code once, then runs two halves side by side: the lint and the Go tests (race
# detector on), which mostly compute, and the images' build and the end-to-end suite, which mostly waits
# for its cluster and pods. On 2 cores the halves overlap instead of adding up. Debian's packages are
# installed first (apt takes one at a time), and nothing is regenerated while the tests run (GENERATED).
# Each target's output is printed when it ends. TEST_JOBS=1 runs the halves one after the other, for a
# machine too busy for timing-sensitive tests to share it.
TEST_JOBS ?= 2
.PHONY: test
test: manifests generate packages ## Lint and run the unit, integration and end-to-end tests (lint, test-go and test-e2e; two at a time).
	@echo "make test: lint, then test-go, beside images, then test-e2e; each one's output follows when it ends"
	$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target GENERATED=1 test-checks test-e2e

# test-checks is make test's first half: the lint, then the Go tests.
.PHONY: test-checks
test-checks: lint
	$(MAKE) --no-print-directory test-go

.PHONY: test-go
test-go: controlplane chromium terminal helm kustomize ## Run the unit, integration (real kube-apiserver and etcd, real browser and terminal) and chart tests, race detector on.
	$(HELM) lint charts/longtask
	KUBEBUILDER_ASSETS="$(KUBEBUILDER_ASSETS)" HELM="$(HELM)" KUSTOMIZE="$(KUSTOMIZE)" go test $(GO_TEST_FLAGS) ./... -count=1

.PHONY: test-e2e
test-e2e: images localcluster node-packages ## Run the end-to-end tests through a local cluster with a real node (as root).
	$(MAKE) --no-print-directory e2e

# e2e runs the end-to-end suite on the images and local cluster tool test-e2e or test built.
.PHONY: e2e
e2e: controlplane helm
	HELM="$(HELM)" go test -tags e2e ./test/e2e/ -count=1 -v -timeout 25m

.PHONY: test-faults
test-faults: images controlplane localcluster node-packages helm chromium ## Inject faults (manager, leader, API server, etcd, node, Job, UI) into 50 running tasks on the local cluster, and write what was lost to FAULTS_REPORT (as root; about 15 minutes).
	HELM="$(HELM)" FAULTS_REPORT="$(abspath $(or $(FAULTS_REPORT),$(LOCALBIN)/faults.md))" \
		go test -tags e2e,faults ./test/e2e/ -run '^TestFaults$$' -count=1 -v -timeout 45m

.PHONY: dev
dev: images controlplane localcluster node-packages ## Start a local cluster with the operator, a sample task and sample templates; Ctrl-C stops it (as root).
	$(LOCALBIN)/localcluster up --state-dir $(LOCALBIN)/dev --k8s-bin $(KUBEBUILDER_ASSETS) --images $(IMAGES) \
		--deploy config/dev --apply config/samples/demo.yaml --apply config/samples/templates.yaml \
		--forward 8090=longtask-system/longtask-ui:8090 \
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
bench: build controlplane kwok ## Run the benchmarks and write docs/benchmarks.md (BENCH_SCALE tasks, default 1000; BENCH_ONLY=startup,live,latency,faults), then the fault suite into docs/faults.md.
	go test ./controllers/... ./internal/... ./pkg/... -run '^$$' -bench . -benchmem | tee $(LOCALBIN)/bench-micro.txt
	KUBEBUILDER_ASSETS="$(KUBEBUILDER_ASSETS)" go run ./hack/bench --manager $(LOCALBIN)/manager --ui $(LOCALBIN)/ui \
		--worker $(LOCALBIN)/longtask-worker --kwok $(KWOK) --profiles $(LOCALBIN)/bench --only "$(BENCH_ONLY)" \
		--micro $(LOCALBIN)/bench-micro.txt --out docs/benchmarks.md --n $(or $(BENCH_SCALE),1000)
	@# The fault suite needs the local cluster (root) and about 15 minutes: more than make test's budget.
	if [ -z "$(BENCH_ONLY)" ] || echo "$(BENCH_ONLY)" | grep -q faults; then $(MAKE) test-faults FAULTS_REPORT=docs/faults.md; fi

##@ Build

.PHONY: build
build: manifests generate ## Build the manager, worker and UI binaries into bin/.
	go build -o $(LOCALBIN)/manager ./cmd/manager
	go build -o $(LOCALBIN)/longtask-worker ./cmd/worker
	go build -o $(LOCALBIN)/ui ./cmd/ui
	go build -o $(LOCALBIN)/kubectl-longtask ./cmd/kubectl-longtask

.PHONY: install-plugin
install-plugin: ## Install the kubectl plugin (kubectl longtask) into $(PLUGIN_DIR), default /usr/local/bin.
	go build -o $(or $(PLUGIN_DIR),/usr/local/bin)/kubectl-longtask ./cmd/kubectl-longtask

.PHONY: images
images: $(if $(GENERATED),,manifests generate) image-builder ## Build the manager, worker, UI, pause and busybox images into the OCI layout bin/images (no Docker).
	@mkdir -p $(LOCALBIN)/image
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(LOCALBIN)/image/manager ./cmd/manager
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(LOCALBIN)/image/longtask-worker ./cmd/worker
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(LOCALBIN)/image/ui ./cmd/ui
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(LOCALBIN)/image/pause ./hack/pause
	hack/ensure-packages.sh $(IMAGE_PACKAGES)
	$(LOCALBIN)/image-builder build --out $(IMAGES) --version $(VERSION) --revision $(REVISION) \
		$(if $(BASE_IMAGE),--base-image $(BASE_IMAGE)) --busybox /bin/busybox \
		--binary longtask-manager=$(LOCALBIN)/image/manager --binary longtask-worker=$(LOCALBIN)/image/longtask-worker \
		--binary longtask-ui=$(LOCALBIN)/image/ui --binary longtask-pause=$(LOCALBIN)/image/pause

.PHONY: push
push: images ## Push the images to REGISTRY (e.g. ghcr.io/you) as REGISTRY/longtask-*:TAG (default: git describe).
	@test -n "$(REGISTRY)" || { echo "make push needs REGISTRY, e.g. make push REGISTRY=ghcr.io/you" >&2; exit 1; }
	$(LOCALBIN)/image-builder push --from $(IMAGES) --registry $(REGISTRY) --tag $(TAG)

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
deploy: manifests image-builder ## Deploy config/default; with IMG_REGISTRY (and IMG_TAG), with the images make push pushed there. Creates the UI's session Secret once.
ifeq ($(IMG_REGISTRY),)
	kubectl apply --server-side -k config/default
else
	$(LOCALBIN)/image-builder overlay --out $(LOCALBIN)/deploy --base config/default --registry $(IMG_REGISTRY) --tag $(IMG_TAG)
	kubectl apply --server-side -k $(LOCALBIN)/deploy
endif
	kubectl get secret -n longtask-system longtask-ui-session >/dev/null 2>&1 || \
		kubectl create secret generic longtask-ui-session -n longtask-system --from-literal=key="$$(head -c32 /dev/urandom | base64)"

##@ Dependencies

.PHONY: chromium
chromium: ## Install Debian's Chromium for the browser tests, if it is missing.
	hack/ensure-packages.sh chromium:chromium

.PHONY: terminal
terminal: ## Install tmux, the real terminal the kubectl plugin's tests draw in, if it is missing.
	hack/ensure-packages.sh tmux:tmux

.PHONY: packages
packages: ## Install every Debian package make test needs, if missing, in one go.
	hack/ensure-packages.sh chromium:chromium tmux:tmux $(NODE_PACKAGES) $(IMAGE_PACKAGES)

.PHONY: node-packages
node-packages: ## Install what the local cluster's node needs from Debian (containerd, runc, CNI plugins, ...), if missing.
	hack/ensure-packages.sh $(NODE_PACKAGES)

.PHONY: image-builder
image-builder: ## Build the image builder (hack/images) into bin/.
	go build -o $(LOCALBIN)/image-builder ./hack/images

.PHONY: localcluster
localcluster: ## Build the local cluster tool into bin/.
	go build -o $(LOCALBIN)/localcluster ./hack/localcluster

.PHONY: controlplane
controlplane: ## Build etcd and the Kubernetes components, kubelet and kube-proxy included (cached per version).
	K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/build-controlplane.sh $(KUBEBUILDER_ASSETS)

# Tools are built once per machine and user, as the control plane is: into ~/.cache/longtask/tools/NAME-VERSION
# (hack/install-tool.sh), which bin/NAME links to, so a fresh clone links them instead of building them
# again. A variable set to a tool of your own (make test HELM=/usr/bin/helm) is used as it is.
install-tool = $(if $(filter $(LOCALBIN)/$(1),$(4)),@hack/install-tool.sh $(1) $(2) $(3) $(4),@test -x "$(4)" || { echo "$(4) is not an executable" >&2; exit 1; })

.PHONY: controller-gen
controller-gen: ## Install controller-gen into bin/.
	$(call install-tool,controller-gen,$(CONTROLLER_TOOLS_VERSION),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_GEN))

.PHONY: kwok
kwok: ## Install kwok, which plays the nodes and pods of make bench's live load, into bin/.
	$(call install-tool,kwok,$(KWOK_VERSION),sigs.k8s.io/kwok/cmd/kwok,$(KWOK))

.PHONY: helm
helm: ## Install Helm, which make test uses to lint, render and install charts/longtask, into bin/.
	$(call install-tool,helm,$(HELM_VERSION),helm.sh/helm/v3/cmd/helm,$(HELM))

.PHONY: kustomize
kustomize: ## Install kustomize, which the chart's test renders config/default with, into bin/.
	$(call install-tool,kustomize,$(KUSTOMIZE_VERSION),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE))

.PHONY: golangci-lint
golangci-lint: ## Install golangci-lint, which make lint runs, into bin/.
	$(call install-tool,golangci-lint,$(GOLANGCI_LINT_VERSION),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT))

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-14s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
