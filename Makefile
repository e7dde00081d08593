# Everything a developer or CI runs. `make test` is what .ci/run and the README use.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build test test-go test-infra lint serve clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/oneshot ./cmd/oneshot

# The whole suite: Go (SQLite and a throwaway PostgreSQL), Terraform, workflow and
# Dockerfile checks. Installs the tools it needs.
test:
	bash scripts/test.sh

test-go:
	bash scripts/test.sh go

test-infra:
	bash scripts/test.sh infra

serve: build
	./bin/oneshot serve

clean:
	rm -rf bin
