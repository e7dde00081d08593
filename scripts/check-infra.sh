#!/usr/bin/env bash
# Offline checks of everything that deploys Oneshot: Terraform (fmt, validate and
# `terraform test` through a schema-only AWS provider stand-in, tfcheck, tflint, trivy),
# GitHub workflows (actionlint) and the Dockerfile (lint). Installs the Go tools it needs.
#
# The Terraform registry is not reachable from CI, so the AWS provider is replaced by
# tfstandin from the shared tools folder beside the project (SHARED_TOOLS overrides it).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
shared=${SHARED_TOOLS:-$root/../shared/tools}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PATH="$(go env GOPATH)/bin:$PATH"

failed=0
passed=0
check() { # check NAME COMMAND...
  local name=$1; shift
  if "$@" >"$work/out" 2>&1; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/     /' "$work/out" | tail -n 40
  fi
}

install_tool() { # install_tool BINARY MODULE@VERSION [ENV...]
  local bin=$1 mod=$2; shift 2
  command -v "$bin" >/dev/null && return 0
  echo "installing $mod"
  env "$@" go install "$mod" || return 1
}

# --- Terraform -----------------------------------------------------------------------
if ! command -v terraform >/dev/null; then
  echo "FAIL terraform is not installed: the Terraform checks cannot run" >&2
  failed=$((failed + 1))
elif [[ ! -d $shared/tfstandin ]]; then
  echo "FAIL $shared/tfstandin not found: set SHARED_TOOLS to the folder holding tfstandin and tfcheck" >&2
  failed=$((failed + 1))
else
  mirror=$work/tfmirror
  bash "$shared/tfstandin/install.sh" "$mirror" >"$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
  export TF_CLI_CONFIG_FILE=$mirror/terraformrc
  go -C "$shared/tfcheck" build -o "$work/tfcheck" . || exit 1

  check "terraform fmt" terraform fmt -check -recursive -diff infra
  check "tfcheck infra" "$work/tfcheck" infra
  roots=$(find infra/modules infra/bootstrap infra/envs -name '*.tf' -not -path '*/.terraform/*' \
    -printf '%h\n' 2>/dev/null | grep -v '/tests$' | sort -u)
  for dir in $roots; do
    check "validate $dir" bash "$shared/tfstandin/offline.sh" -m "$mirror" -r infra "$dir" validate
    if compgen -G "$dir/tests/*.tftest.hcl" >/dev/null || compgen -G "$dir/*.tftest.hcl" >/dev/null; then
      check "terraform test $dir" bash "$shared/tfstandin/offline.sh" -m "$mirror" -r infra "$dir" test
    fi
  done

  if install_tool tflint github.com/terraform-linters/tflint@v0.64.0; then
    check "tflint" tflint --chdir=infra --recursive --config="$root/infra/.tflint.hcl"
  else
    failed=$((failed + 1)); echo "FAIL tflint could not be installed"
  fi
fi

# --- Security scan of Terraform and the Dockerfile -------------------------------------
if install_tool trivy github.com/aquasecurity/trivy/cmd/trivy@v0.74.0 GOEXPERIMENT=jsonv2; then
  # Checks are embedded in the binary; nothing is downloaded. Ignored findings carry a
  # reason next to the ignore comment in the code.
  scan() { trivy config --quiet --skip-check-update --exit-code 1 --severity HIGH,CRITICAL --cache-dir "$work/trivy" "$1"; }
  check "trivy config infra (HIGH, CRITICAL)" scan infra
  if [[ -f Dockerfile ]]; then
    mkdir -p "$work/docker" && cp Dockerfile "$work/docker/"
    check "trivy config Dockerfile (HIGH, CRITICAL)" scan "$work/docker"
  fi
else
  failed=$((failed + 1)); echo "FAIL trivy could not be installed"
fi

# --- Workflows and Dockerfile -------------------------------------------------------------
if compgen -G ".github/workflows/*.y*ml" >/dev/null; then
  if install_tool actionlint github.com/rhysd/actionlint/cmd/actionlint@v1.7.12; then
    check "actionlint" actionlint
  else
    failed=$((failed + 1)); echo "FAIL actionlint could not be installed"
  fi
fi
if [[ -f Dockerfile && -f scripts/lint-dockerfile.sh ]]; then
  check "dockerfile lint" bash scripts/lint-dockerfile.sh
fi

echo "infra: $passed passed, $failed failed"
exit $((failed > 0))
