package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The rollback script (scripts/rollback.sh) against a fake AWS CLI: which release it
// picks from the deploy history and what it asks ECS to do.

const fakeAWS = `#!/usr/bin/env bash
# A fake AWS CLI: answers from $FAKE_DIR and logs every call to $FAKE_DIR/calls.
set -euo pipefail
echo "$*" >>"$FAKE_DIR/calls"
args=("$@")
[[ ${args[0]} == --region ]] && args=("${args[@]:2}")
case "${args[0]} ${args[1]}" in
  "configure get") exit 0 ;;
  "sts get-caller-identity") echo 123456789012 ;;
  "s3api list-object-versions") cat "$FAKE_DIR/versions.json" ;;
  "s3api get-object")
    for ((i = 0; i < ${#args[@]}; i++)); do [[ ${args[$i]} == --version-id ]] && v=${args[$((i + 1))]}; done
    cp "$FAKE_DIR/record-$v.json" "${args[-1]}"
    echo '{}' ;;
  "ecs describe-services") cat "$FAKE_DIR/current-api" ;;
  "codepipeline list-pipeline-executions") cat "$FAKE_DIR/running" 2>/dev/null || true ;;
  "ecs update-service") echo updated ;;
  "ecs list-service-deployments") echo "arn:aws:ecs:eu-west-1:123456789012:service-deployment/c/s/1" ;;
  "ecs describe-service-deployments") echo '{"serviceDeployments":[{"status":"SUCCESSFUL","lifecycleStage":"CLEAN_UP"}]}' ;;
  *) echo "fake aws: unexpected call: $*" >&2; exit 2 ;;
esac
`

type record struct {
	version, api, worker string
}

func taskDef(family string, rev int) string {
	return fmt.Sprintf("arn:aws:ecs:eu-west-1:123456789012:task-definition/%s:%d", family, rev)
}

// setupHistory writes a deploy history (newest first) and the api's current task
// definition, and returns the environment to run the script with.
func setupHistory(t *testing.T, current string, history []record) (dir string, env []string) {
	t.Helper()
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq is not installed; scripts/rollback.sh needs it")
	}
	dir = t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "aws"), []byte(fakeAWS), 0o755); err != nil {
		t.Fatal(err)
	}
	type version struct {
		Key, VersionId, LastModified string
	}
	var versions []version
	for i, r := range history {
		id := fmt.Sprintf("v%d", i)
		versions = append(versions, version{"prod/deployed.json", id, fmt.Sprintf("2026-11-%02dT10:00:00.000Z", 20-i)})
		rec := map[string]any{
			"environment": "prod", "version": r.version, "revision": "abc",
			"images":           map[string]string{"oneshot": "sha256:" + strings.Repeat(fmt.Sprint(i%10), 64)},
			"task_definitions": map[string]string{"api": r.api, "worker": r.worker, "migrate": taskDef("oneshot-prod-migrate", 1)},
			"deployed_at":      fmt.Sprintf("2026-11-%02dT10:00:00Z", 20-i),
		}
		writeJSON(t, filepath.Join(dir, "record-"+id+".json"), rec)
	}
	// Another key under the prefix must not count.
	versions = append(versions, version{"prod/deployed.json.bak", "x", "2026-11-30T10:00:00.000Z"})
	writeJSON(t, filepath.Join(dir, "versions.json"), map[string]any{"Versions": versions})
	if err := os.WriteFile(filepath.Join(dir, "current-api"), []byte(current+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env = append(os.Environ(), "FAKE_DIR="+dir, "ROLLBACK_POLL_SECONDS=0", "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir, env
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func runRollback(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"../../scripts/rollback.sh"}, args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func updates(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "calls"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "ecs update-service") {
			got = append(got, line)
		}
	}
	return got
}

var history = []record{
	{"v1.5.0", taskDef("oneshot-prod-api", 9), taskDef("oneshot-prod-worker", 9)},
	{"v1.4.1", taskDef("oneshot-prod-api", 7), taskDef("oneshot-prod-worker", 7)},
	{"v1.4.0", taskDef("oneshot-prod-api", 5), taskDef("oneshot-prod-worker", 5)},
}

func TestRollbackGoesToThePreviousRelease(t *testing.T) {
	t.Parallel()
	dir, env := setupHistory(t, history[0].api, history)
	out, err := runRollback(t, env, "prod", "--region", "eu-west-1", "--yes")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := updates(t, dir)
	if len(got) != 2 || !strings.Contains(got[0], history[1].api) || !strings.Contains(got[1], history[1].worker) {
		t.Fatalf("update-service calls = %q, want the api then the worker on v1.4.1\n%s", got, out)
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	apiAt := strings.Index(string(calls), "--service oneshot-prod-api --task-definition")
	workerAt := strings.Index(string(calls), "--service oneshot-prod-worker --task-definition")
	if apiAt < 0 || workerAt < 0 || apiAt > workerAt {
		t.Errorf("the api must roll back before the worker:\n%s", calls)
	}
	if !strings.Contains(out, "prod runs v1.4.1 again") {
		t.Errorf("output:\n%s", out)
	}
}

// After one rollback the api runs v1.4.1; rolling back again goes further back, not
// forward to the bad v1.5.0.
func TestRollbackAfterARollbackGoesFurtherBack(t *testing.T) {
	t.Parallel()
	dir, env := setupHistory(t, history[1].api, history)
	out, err := runRollback(t, env, "prod", "--region", "eu-west-1", "--yes")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := strings.Join(updates(t, dir), "\n"); !strings.Contains(got, history[2].api) || strings.Contains(got, history[0].api) {
		t.Errorf("update-service calls = %q, want v1.4.0", got)
	}
}

func TestRollbackToAGivenVersion(t *testing.T) {
	t.Parallel()
	dir, env := setupHistory(t, history[0].api, history)
	out, err := runRollback(t, env, "prod", "--region", "eu-west-1", "--yes", "--to", "v1.4.0")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := strings.Join(updates(t, dir), "\n"); !strings.Contains(got, history[2].api) {
		t.Errorf("update-service calls = %q, want v1.4.0", got)
	}
}

func TestRollbackRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		current string
		history []record
		args    []string
		running bool
		want    string
	}{
		{"nothing earlier", history[2].api, history, nil, false, "no earlier release"},
		{"unknown version", history[0].api, history, []string{"--to", "v0.1.0"}, false, "no deployment of v0.1.0"},
		{"pipeline running", history[0].api, history, nil, true, "is deploying right now"},
		{"no terminal, no --yes", history[0].api, history, []string{"--no-yes"}, false, "pass --yes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, env := setupHistory(t, tt.current, tt.history)
			if tt.running {
				if err := os.WriteFile(filepath.Join(dir, "running"), []byte("0f1e2d3c-aaaa-bbbb-cccc-000000000000\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"prod", "--region", "eu-west-1", "--yes"}
			if len(tt.args) == 1 && tt.args[0] == "--no-yes" {
				args = args[:3]
			} else {
				args = append(args, tt.args...)
			}
			out, err := runRollback(t, env, args...)
			if err == nil || !strings.Contains(out, tt.want) {
				t.Errorf("err %v, output:\n%s\nwant it to say %q", err, out, tt.want)
			}
			if got := updates(t, dir); len(got) != 0 {
				t.Errorf("it changed services anyway: %q", got)
			}
		})
	}
}

func TestRollbackListAndDryRunChangeNothing(t *testing.T) {
	t.Parallel()
	dir, env := setupHistory(t, history[0].api, history)
	out, err := runRollback(t, env, "prod", "--region", "eu-west-1", "--list")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "->") || !strings.Contains(lines[1], "v1.5.0") || !strings.Contains(lines[3], "v1.4.0") {
		t.Errorf("--list:\n%s", out)
	}
	out, err = runRollback(t, env, "prod", "--region", "eu-west-1", "--dry-run")
	if err != nil || !strings.Contains(out, "to    v1.4.1") || !strings.Contains(out, "dry run") {
		t.Errorf("--dry-run: %v\n%s", err, out)
	}
	if got := updates(t, dir); len(got) != 0 {
		t.Errorf("--list/--dry-run changed services: %q", got)
	}
}
