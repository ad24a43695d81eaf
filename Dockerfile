# syntax=docker/dockerfile:1
# Build the manager binary. The default image is static and has no PKCS#11
# support; for HSM-backed signers build with cgo on a glibc base:
#   docker build --build-arg CGO_ENABLED=1 \
#     --build-arg BASE_IMAGE=gcr.io/distroless/base-debian12:nonroot .
# and mount the vendor's PKCS#11 module into the pod (docs/signing.md).
# The builder is Debian 12 so that a cgo binary runs on base-debian12's glibc.
ARG BASE_IMAGE=gcr.io/distroless/static:nonroot
FROM golang:1.26-bookworm AS builder
ARG TARGETOS
ARG TARGETARCH
ARG CGO_ENABLED=0

WORKDIR /workspace
# Cache module downloads in their own layer.
COPY go.mod go.sum ./
RUN go mod download

COPY cmd/ cmd/
COPY api/ api/
COPY controllers/ controllers/
COPY pkg/ pkg/

RUN CGO_ENABLED=${CGO_ENABLED} GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o manager ./cmd/manager

# A distroless image, as non-root user 65532.
FROM ${BASE_IMAGE}
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532

ENTRYPOINT ["/manager"]
