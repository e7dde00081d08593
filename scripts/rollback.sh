#!/usr/bin/env bash
# One-command manual rollback of an environment to the release it ran before.
#
#   scripts/rollback.sh prod                 # back to the previous release (asks first)
#   scripts/rollback.sh prod --list          # the deploy history, newest first
#   scripts/rollback.sh prod --to v1.4.0     # back to a given version (or image digest)
#   scripts/rollback.sh staging --yes        # no question (automation)
#
# Every successful pipeline run records the release it deployed in the release bucket
# (<env>/deployed.json; the object's versions are the history) with the task definitions
# it registered. This script finds the record of what runs now (by the api service's task
# definition), picks the one before it with another version, and points the api and then
# the worker service back at that release's task definitions. The api goes through the
# same blue/green as a release (test traffic, smoke test hook, canary, alarms); the worker
# rolls with its circuit breaker. Database migrations are not undone: they only add
# (docs/delivery.md, "Migrations").
#
# Needs the AWS CLI v2 (2.22 or later) and jq, with credentials allowed to read the
# release bucket and update the environment's services. Names follow the Terraform
# modules (<project>-<env>, <project>-<env>-api, ...); override them with the flags.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/rollback.sh ENV [--to VERSION|DIGEST] [--list] [--yes] [--force] [--dry-run]
                               [--project NAME] [--bucket NAME] [--region REGION]
                               [--cluster NAME] [--timeout MINUTES]

Rolls ENV (dev, staging or prod) back to the release deployed before the current one,
or to --to VERSION (a version such as v1.4.0 or an image digest sha256:...).
  --list      print the deploy history and exit
  --yes       do not ask for confirmation
  --force     roll back even while the pipeline is deploying
  --dry-run   say what would happen and change nothing
EOF
}

die() {
  printf 'rollback: %s\n' "$*" >&2
  exit 1
}
log() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

env_name=""
target=""
list=false
yes=false
force=false
dry_run=false
project=${ONESHOT_PROJECT:-oneshot}
bucket=""
region=""
cluster=""
timeout_minutes=90
poll_seconds=${ROLLBACK_POLL_SECONDS:-15}

while [[ $# -gt 0 ]]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --to) target=${2:?--to needs a version or digest}; shift ;;
    --list) list=true ;;
    --yes) yes=true ;;
    --force) force=true ;;
    --dry-run) dry_run=true ;;
    --project) project=${2:?--project needs a name}; shift ;;
    --bucket) bucket=${2:?--bucket needs a name}; shift ;;
    --region) region=${2:?--region needs a region}; shift ;;
    --cluster) cluster=${2:?--cluster needs a name}; shift ;;
    --timeout) timeout_minutes=${2:?--timeout needs minutes}; shift ;;
    -*) usage >&2; die "unknown flag $1" ;;
    *)
      [[ -z $env_name ]] || die "one environment at a time (got $env_name and $1)"
      env_name=$1
      ;;
  esac
  shift
done

case $env_name in
  dev | staging | prod) ;;
  "") usage >&2; die "name the environment: dev, staging or prod" ;;
  *) die "unknown environment '$env_name': use dev, staging or prod" ;;
esac
[[ $timeout_minutes =~ ^[0-9]+$ ]] || die "--timeout takes whole minutes"

command -v aws >/dev/null || die "the AWS CLI v2 is not installed (https://docs.aws.amazon.com/cli/)"
command -v jq >/dev/null || die "jq is not installed (apt-get install jq, brew install jq)"

aws_() {
  if [[ -n $region ]]; then aws --region "$region" "$@"; else aws "$@"; fi
}

[[ -n $region ]] || region=$(aws configure get region 2>/dev/null || true)
[[ -n $region ]] || region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
[[ -n $region ]] || die "no AWS region: pass --region or set AWS_REGION"
account=$(aws_ sts get-caller-identity --query Account --output text) ||
  die "no AWS credentials: log in first (aws sso login, or export credentials)"

name="$project-$env_name"
cluster=${cluster:-$name}
api_service="$name-api"
worker_service="$name-worker"
pipeline="$name-delivery"
bucket=${bucket:-$project-releases-$account-$region}
record_key="$env_name/deployed.json"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- The deploy history -------------------------------------------------------------------

# Versions of the record, newest first: one line "<version id> <last modified>" each.
aws_ s3api list-object-versions --bucket "$bucket" --prefix "$record_key" --output json >"$work/versions.json" ||
  die "cannot list s3://$bucket/$record_key: check --bucket and your access to it"
jq -r --arg key "$record_key" '[.Versions // [] | .[] | select(.Key == $key)] | sort_by(.LastModified) | reverse | .[] | "\(.VersionId) \(.LastModified)"' \
  "$work/versions.json" >"$work/history"
[[ -s $work/history ]] || die "no deploy record in s3://$bucket/$record_key: the pipeline has not deployed $env_name yet"

records=()
while read -r version_id _; do
  file="$work/record-${#records[@]}.json"
  aws_ s3api get-object --bucket "$bucket" --key "$record_key" --version-id "$version_id" "$file" >/dev/null ||
    die "cannot read version $version_id of s3://$bucket/$record_key"
  records+=("$file")
done <"$work/history"

current_api=$(aws_ ecs describe-services --cluster "$cluster" --services "$api_service" \
  --query 'services[0].taskDefinition' --output text) || die "cannot describe $api_service in cluster $cluster"
[[ $current_api == arn:* ]] || die "service $api_service not found in cluster $cluster (pass --cluster or --project)"

field() { jq -r "$1" "$2"; }

current_index=-1
for i in "${!records[@]}"; do
  if [[ $(field .task_definitions.api "${records[$i]}") == "$current_api" ]]; then
    current_index=$i
    break
  fi
done

if $list; then
  printf '%-3s %-21s %-28s %-20s %s\n' "" "deployed at" "version" "oneshot image" "api task definition"
  for i in "${!records[@]}"; do
    mark=""
    [[ $i == "$current_index" ]] && mark="->"
    r=${records[$i]}
    printf '%-3s %-21s %-28s %-20s %s\n' "$mark" "$(field .deployed_at "$r")" "$(field .version "$r")" \
      "$(field '.images.oneshot // "-"' "$r" | cut -c1-19)" "$(field .task_definitions.api "$r" | sed 's|.*/||')"
  done
  [[ $current_index -ge 0 ]] || echo "(the api runs $current_api, which no record names: deployed outside the pipeline)"
  exit 0
fi

current_version="(unknown)"
[[ $current_index -ge 0 ]] && current_version=$(field .version "${records[$current_index]}")

chosen=""
if [[ -n $target ]]; then
  for r in "${records[@]}"; do
    if [[ $(field .version "$r") == "$target" || $(field '.images.oneshot // ""' "$r") == "$target" ]]; then
      chosen=$r
      break
    fi
  done
  [[ -n $chosen ]] || die "no deployment of $target in the history of $env_name (see --list)"
else
  # The release before the current one: the first older record with another version.
  # When the api runs something no record names, the newest record that differs.
  start=$((current_index + 1))
  for ((i = start; i < ${#records[@]}; i++)); do
    r=${records[$i]}
    if [[ $(field .version "$r") != "$current_version" && $(field .task_definitions.api "$r") != "$current_api" ]]; then
      chosen=$r
      break
    fi
  done
  [[ -n $chosen ]] || die "no earlier release of $env_name in the history (see --list); nothing to roll back to"
fi

to_version=$(field .version "$chosen")
to_api=$(field .task_definitions.api "$chosen")
to_worker=$(field .task_definitions.worker "$chosen")
[[ $to_api == arn:* && $to_worker == arn:* ]] || die "the record of $to_version lacks task definitions"
[[ $to_api != "$current_api" ]] || die "$api_service already runs $to_version ($to_api)"

cat >&2 <<EOF
Roll $env_name back
  from  $current_version  ($current_api)
  to    $to_version  (deployed $(field .deployed_at "$chosen"))
        api     $to_api
        worker  $to_worker
The api shifts through blue/green with the smoke test; the worker rolls. Migrations stay:
if a release after $to_version added one, its tasks will not start (docs/delivery.md,
"Migrations") and ECS keeps the current release.
EOF

# shellcheck disable=SC2016 # backticks are JMESPath literals, not shell
running=$(aws_ codepipeline list-pipeline-executions --pipeline-name "$pipeline" --max-items 20 \
  --query 'pipelineExecutionSummaries[?status==`InProgress`].pipelineExecutionId' --output text 2>/dev/null || true)
if [[ -n $running && $running != None ]]; then
  if $force; then
    log "warning: $pipeline is running ($running); rolling back anyway (--force)"
  else
    die "$pipeline is deploying right now ($running): stop it first (aws codepipeline stop-pipeline-execution --pipeline-name $pipeline --pipeline-execution-id ID --abandon) or pass --force"
  fi
fi

if $dry_run; then
  log "dry run: nothing changed"
  exit 0
fi
if ! $yes; then
  [[ -t 0 ]] || die "not a terminal: pass --yes to roll back without the question"
  read -r -p "Type the environment name to roll back: " answer
  [[ $answer == "$env_name" ]] || die "not confirmed; nothing changed"
fi

# --- Roll back, api first (users see it), then the worker ----------------------------------

wait_for_deployment() { # SERVICE SINCE
  local service=$1 since=$2 arn="" d status stage last="" deadline
  deadline=$(($(date +%s) + timeout_minutes * 60))
  while [[ -z $arn || $arn == None || $arn == null ]]; do
    (($(date +%s) < deadline)) || die "ECS started no deployment of $service"
    sleep "$((poll_seconds < 5 ? poll_seconds : 5))"
    arn=$(aws_ ecs list-service-deployments --cluster "$cluster" --service "$service" --created-at "after=$since" \
      --query 'sort_by(serviceDeployments, &createdAt)[-1].serviceDeploymentArn' --output text)
  done
  while :; do
    d=$(aws_ ecs describe-service-deployments --service-deployment-arns "$arn" --output json)
    status=$(jq -r '.serviceDeployments[0].status' <<<"$d")
    stage=$(jq -r '.serviceDeployments[0].lifecycleStage // ""' <<<"$d")
    if [[ "$status $stage" != "$last" ]]; then
      log "$service: $status $stage"
      last="$status $stage"
    fi
    case $status in
      SUCCESSFUL) return 0 ;;
      ROLLBACK_SUCCESSFUL | ROLLBACK_FAILED | STOPPED)
        jq -r '.serviceDeployments[0] | "  reason: \(.statusReason // "-")", "  rollback: \(.rollback.reason // "-")"' <<<"$d" >&2
        die "ECS did not complete the rollback of $service ($status): see docs/runbooks/failed-deploy.md"
        ;;
    esac
    (($(date +%s) < deadline)) || die "the rollback of $service did not finish in $timeout_minutes minutes: see docs/runbooks/stuck-blue-green.md"
    sleep "$poll_seconds"
  done
}

roll() { # SERVICE TASK_DEFINITION
  local service=$1 task_definition=$2 since
  since=$(date -u -d '-2 minutes' +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -v-2M +%Y-%m-%dT%H:%M:%SZ)
  log "$service -> $task_definition"
  aws_ ecs update-service --cluster "$cluster" --service "$service" --task-definition "$task_definition" \
    --query 'service.serviceName' --output text >/dev/null
  wait_for_deployment "$service" "$since"
}

roll "$api_service" "$to_api"
roll "$worker_service" "$to_worker"

log "$env_name runs $to_version again."
cat >&2 <<EOF
Next:
  - the pipeline deploys the next release as usual; until the fix is released, keep the bad
    release from moving on: aws codepipeline disable-stage-transition --pipeline-name $pipeline \\
      --stage-name Migrate --transition-type Inbound --reason "rolled back to $to_version"
  - write down what happened (docs/runbooks/failed-deploy.md)
EOF
