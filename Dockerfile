# Builds the manager and worker images:
#   docker build --target manager -t ghcr.io/longtask-dev/longtask-manager .
#   docker build --target worker  -t ghcr.io/longtask-dev/longtask-worker .
#   docker build --target ui      -t ghcr.io/longtask-dev/longtask-ui .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/manager ./cmd/manager && \
    CGO_ENABLED=0 go build -trimpath -o /out/longtask-worker ./cmd/worker && \
    CGO_ENABLED=0 go build -trimpath -o /out/ui ./cmd/ui

FROM gcr.io/distroless/static:nonroot AS manager
COPY --from=build /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]

# The worker image runs tasks that name no image of their own (the demo task) and provides the binary that
# the install-worker init container copies into every task's pod. longtask-worker must be on its PATH.
FROM gcr.io/distroless/static:nonroot AS worker
COPY --from=build /out/longtask-worker /usr/local/bin/longtask-worker
USER 65532:65532
ENTRYPOINT ["longtask-worker"]

FROM gcr.io/distroless/static:nonroot AS ui
COPY --from=build /out/ui /ui
USER 65532:65532
ENTRYPOINT ["/ui"]
