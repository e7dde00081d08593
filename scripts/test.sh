#!/usr/bin/env bash
# Runs the test suite. With no argument: everything. `go` or `infra` runs one part.
# Starts (and always stops) a throwaway PostgreSQL for the store, queue and service tests.
set -uo pipefail
cd "$(dirname "$0")/.."
part=${1:-all}
failed=0
results=()

step() { # step NAME COMMAND...
  local name=$1; shift
  echo "=== $name"
  if "$@"; then results+=("PASS $name"); else results+=("FAIL $name"); failed=$((failed + 1)); fi
}

export PATH="$(go env GOPATH)/bin:$PATH"
export GOFLAGS=${GOFLAGS:--mod=mod}

if [[ $part == all || $part == go ]]; then
  pg_started=0
  if [[ -z ${ONESHOT_TEST_DATABASE_URL:-} ]]; then
    if out=$(bash scripts/test-postgres.sh start); then
      eval "$out"
      pg_started=1
    else
      echo "PostgreSQL could not be started: the PostgreSQL suites will skip" >&2
    fi
  fi
  trap '[[ $pg_started == 1 ]] && bash scripts/test-postgres.sh stop' EXIT
  step "gofmt" bash -c 'test -z "$(gofmt -l $(git ls-files "*.go"))" || { gofmt -l $(git ls-files "*.go"); exit 1; }'
  step "go vet" go vet ./...
  step "go test -race" go test -race -count=1 -timeout 30m ./...
  # The Terratest suite is its own module: compile it with its build tag, and run what
  # runs without AWS (the end-to-end test skips without credentials).
  step "infra/test" bash -c 'go -C infra/test vet -tags terratest ./... && go -C infra/test test -count=1 ./...'
fi

if [[ $part == all || $part == infra ]]; then
  step "infra checks" bash scripts/check-infra.sh
fi

echo
printf '%s\n' "${results[@]}"
passed=$(printf '%s\n' "${results[@]}" | grep -c '^PASS' || true)
echo "checks: $passed passed, $failed failed"
exit $((failed > 0))
