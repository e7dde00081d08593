// Package e2e runs the real oneshot binary against fake agent programs (built from
// internal/fakeagent and placed first on PATH) and fake model servers.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bins holds the binaries built once for all tests.
var bins struct {
	dir     string // contains oneshot and the fake agents under their CLI names
	oneshot string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "oneshot-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		root := moduleRoot()
		build := func(out, pkg string) error {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, out), pkg)
			cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
			return cmd.Run()
		}
		if err := build("oneshot", "./cmd/oneshot"); err != nil {
			fmt.Fprintln(os.Stderr, "build oneshot:", err)
			return 1
		}
		if err := build("fakeagent", "./internal/fakeagent/cmd/fakeagent"); err != nil {
			fmt.Fprintln(os.Stderr, "build fakeagent:", err)
			return 1
		}
		for _, name := range []string{"claude", "codex", "gemini", "aider", "cline", "fakecmd"} {
			if err := os.Symlink(filepath.Join(dir, "fakeagent"), filepath.Join(dir, name)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		bins.dir, bins.oneshot = dir, filepath.Join(dir, "oneshot")
		return m.Run()
	}()
	os.Exit(code)
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// step mirrors fakeagent.Step: one scripted agent invocation.
type step struct {
	Answer    string `json:"answer,omitempty"`
	Behaviour string `json:"behaviour,omitempty"`
	Tool      bool   `json:"tool,omitempty"`
	Sleep     string `json:"sleep,omitempty"`
}

// world is one test's sandbox: a workdir, a logs dir, a fake agent script and the
// record of every agent invocation.
type world struct {
	t       testing.TB
	workdir string
	logs    string
	record  string
	script  string
	env     []string
}

func newWorld(t testing.TB, steps ...step) *world {
	t.Helper()
	w := &world{t: t, workdir: t.TempDir(), logs: t.TempDir(), record: t.TempDir()}
	w.script = filepath.Join(t.TempDir(), "script.json")
	b, _ := json.Marshal(map[string]any{"steps": steps})
	if err := os.WriteFile(w.script, b, 0o600); err != nil {
		t.Fatal(err)
	}
	w.env = append(cleanEnv(),
		"PATH="+bins.dir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"FAKEAGENT_SCRIPT="+w.script,
		"FAKEAGENT_LOG="+w.record,
		"HOME="+t.TempDir(),
		"XDG_CONFIG_HOME="+t.TempDir(),
		"ANTHROPIC_API_KEY=sk-ant-test-key",
	)
	return w
}

// cleanEnv drops variables that would change oneshot's configuration.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ONESHOT_") || strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "FAKEAGENT_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// result is a finished oneshot process.
type result struct {
	code           int
	stdout, stderr string
	summary        map[string]any
	maxRSSKiB      int64
}

// command prepares oneshot with args in the world's directories.
func (w *world) command(ctx context.Context, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	n := 1
	if args[0] == "config" {
		n = 2 // config show
	}
	full := append(append(append([]string{}, args[:n]...), "--logs-dir", w.logs), args[n:]...)
	cmd := exec.CommandContext(ctx, bins.oneshot, full...)
	cmd.Dir, cmd.Env = w.workdir, w.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

// run runs oneshot to completion (bounded by a minute).
func (w *world) run(args ...string) result {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, stdout, stderr := w.command(ctx, args...)
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	if err != nil && res.code < 0 {
		w.t.Fatalf("oneshot %v: %v\n%s", args, err, res.stderr)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.maxRSSKiB = ru.Maxrss
	}
	if strings.HasPrefix(strings.TrimSpace(res.stdout), "{") {
		if err := json.Unmarshal([]byte(res.stdout), &res.summary); err != nil {
			w.t.Fatalf("--output json printed invalid JSON: %v\n%s", err, res.stdout)
		}
	}
	return res
}

// invocation is one recorded fake agent call.
type invocation struct {
	Persona string   `json:"-"`
	Args    []string `json:"args"`
	Prompt  string   `json:"prompt"`
	Cwd     string   `json:"cwd"`
	Env     []string `json:"env"`
}

// invocations returns the recorded agent calls in order.
func (w *world) invocations() []invocation {
	w.t.Helper()
	entries, err := os.ReadDir(w.record)
	if err != nil {
		w.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out []invocation
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(w.record, n))
		if err != nil {
			w.t.Fatal(err)
		}
		var inv invocation
		if err := json.Unmarshal(b, &inv); err != nil {
			w.t.Fatalf("%s: %v", n, err)
		}
		parts := strings.SplitN(strings.TrimSuffix(n, ".json"), "-", 2)
		if len(parts) == 2 {
			inv.Persona = parts[1]
		}
		out = append(out, inv)
	}
	return out
}

// recorded counts the agent invocations recorded so far.
func (w *world) recorded() int {
	matches, _ := filepath.Glob(filepath.Join(w.record, "[0-9]*.json"))
	return len(matches)
}

// stateFile reads the run's state file.
func (w *world) stateFile(id string) map[string]any {
	w.t.Helper()
	b, err := os.ReadFile(filepath.Join(w.logs, id+".json"))
	if err != nil {
		w.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		w.t.Fatal(err)
	}
	return m
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

func verdictJSON(v, feedback string) string {
	b, _ := json.Marshal(map[string]string{"verdict": v, "feedback": feedback})
	return string(b)
}
