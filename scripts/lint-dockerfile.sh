#!/usr/bin/env bash
# Lints the Dockerfile without a Docker engine, for both targets (oneshot, agents) and
# both platforms (linux/amd64, linux/arm64):
#   1. BuildKit's own checks (the rules of `docker build --check`), run offline by
#      tools/dockerfilelint, plus COPY sources that .dockerignore would hide;
#   2. the project's policy (digest-pinned bases, numeric non-root users, exec-form
#      entrypoints, health checks, no secrets) and a build from the filtered context:
#      the Dockerfile tests in internal/imagetest;
#   3. trivy config (misconfiguration checks bundled in trivy; no findings allowed at any
#      severity; to accept one, put `# trivy:ignore:DS-NNNN <reason>` above the line).
# Installs trivy with `go install` when it is missing (a few minutes, once).
set -euo pipefail
cd "$(dirname "$0")/.."

TRIVY_VERSION=v0.74.0
failed=0
step() { # step NAME COMMAND...
  local name=$1; shift
  echo "--- $name"
  if "$@"; then echo "ok: $name"; else echo "FAILED: $name"; failed=$((failed + 1)); fi
}

export PATH="$(go env GOPATH)/bin:$PATH"

buildkit_checks() {
  # Its own module (tools/dockerfilelint/go.mod) keeps BuildKit out of Oneshot's go.mod;
  # `go test ./...` at the root does not see it, so its tests run here first.
  (cd tools/dockerfilelint &&
    export GOFLAGS=-mod=readonly &&
    go vet . && go test -count=1 . &&
    go run . -context ../.. -platform linux/amd64,linux/arm64 -target oneshot,agents ../../Dockerfile)
}

policy_tests() {
  go test -count=1 -run '^(TestDockerfile|TestParseDockerfile|TestDockerignore|TestBuildContextBuilds)' ./internal/imagetest/
}

ensure_trivy() {
  if command -v trivy >/dev/null 2>&1 &&
     go version -m "$(command -v trivy)" 2>/dev/null | grep -q "mod[[:space:]]*github.com/aquasecurity/trivy[[:space:]]*${TRIVY_VERSION}[[:space:]]"; then
    return 0
  fi
  echo "installing trivy ${TRIVY_VERSION} with go install (takes a few minutes)"
  # trivy ${TRIVY_VERSION} needs encoding/json/v2.
  GOEXPERIMENT=jsonv2 GOFLAGS= go install "github.com/aquasecurity/trivy/cmd/trivy@${TRIVY_VERSION}"
}

trivy_config() {
  ensure_trivy || return 1
  # The checks bundled in the binary: no download (CI has no access to the registry
  # trivy fetches newer checks from). A throwaway cache keeps HOME untouched.
  local cache rc=0
  cache=$(mktemp -d)
  trivy config --quiet --skip-check-update --cache-dir "$cache" --exit-code 1 \
    --severity UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL Dockerfile || rc=$?
  rm -rf "$cache"
  return "$rc"
}

step "BuildKit Dockerfile checks (tools/dockerfilelint)" buildkit_checks
step "Dockerfile policy and build context (internal/imagetest)" policy_tests
step "trivy config Dockerfile" trivy_config

if ((failed > 0)); then
  echo "dockerfile lint: $failed step(s) failed"
  exit 1
fi
echo "dockerfile lint: all checks passed"
