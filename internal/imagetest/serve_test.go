package imagetest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serviceDirs are the directories of one service process, laid out as in the image.
type serviceDirs struct {
	home    string // HOME: exists, empty, read-only
	cwd     string // working directory: read-only, empty (the image's /)
	data    string // ONESHOT_DATA_DIR (/data)
	tmp     string // TMPDIR (/tmp)
	scripts string // fake agent programs
}

func newServiceDirs(t *testing.T) serviceDirs {
	t.Helper()
	base := t.TempDir()
	d := serviceDirs{
		home: filepath.Join(base, "home"), cwd: filepath.Join(base, "cwd"),
		data: filepath.Join(base, "data"), tmp: filepath.Join(base, "tmp"),
		scripts: filepath.Join(base, "scripts"),
	}
	for _, dir := range []string{d.home, d.cwd, d.data, d.tmp, d.scripts} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeScript(t, filepath.Join(d.scripts, "worker.sh"), workerScript)
	writeScript(t, filepath.Join(d.scripts, "auditor.sh"), auditorScript)
	for _, dir := range []string{d.home, d.cwd, d.scripts} {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
	}
	// t.TempDir removes the tree; let it into the read-only directories again.
	t.Cleanup(func() {
		for _, dir := range []string{d.home, d.cwd, d.scripts} {
			_ = os.Chmod(dir, 0o755)
		}
	})
	return d
}

// env is the whole environment of a service process: nothing but what the container
// runtime would set (the image's ENV plus the task definition's variables).
func (d serviceDirs) env(addr, token string, extra ...string) []string {
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + d.home,
		"TMPDIR=" + d.tmp,
		"ONESHOT_DATA_DIR=" + d.data,
		"ONESHOT_BOOTSTRAP_TOKEN=" + token,
		"ONESHOT_CONFIG_YAML=" + profileYAML(filepath.Join(d.scripts, "worker.sh"), filepath.Join(d.scripts, "auditor.sh")),
	}
	if addr != "" {
		env = append(env, "ONESHOT_ADDR="+addr)
	}
	return append(env, extra...)
}

func randomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "imagetest-" + hex.EncodeToString(b)
}

// TestServeFromEnvironmentOnly starts `serve` the way the image does on ECS: no config
// file anywhere, an empty HOME, a read-only working directory, and everything from
// environment variables (ONESHOT_CONFIG_YAML as SSM injects it, the bootstrap token as
// a secret).
func TestServeFromEnvironmentOnly(t *testing.T) {
	t.Parallel()
	d := newServiceDirs(t)
	addr, token := freeAddr(t), randomToken(t)
	base := "http://" + addr
	p := start(t, procOptions{args: []string{"serve"}, env: d.env(addr, token), dir: d.cwd})
	p.waitReady(base+"/readyz", 30*time.Second)

	t.Run("healthcheck reports ready", func(t *testing.T) {
		if code, out := healthcheck(t, "--url", base+"/readyz"); code != 0 {
			t.Fatalf("oneshot healthcheck = %d (%s), want 0 against a ready server", code, out)
		}
	})

	t.Run("the bootstrap token authenticates", func(t *testing.T) {
		if status, body := get(base+"/api/v1/tasks", ""); status != http.StatusUnauthorized {
			t.Fatalf("GET /api/v1/tasks without a token = %d %s, want 401", status, body)
		}
		if status, body := get(base+"/api/v1/tasks", "not-"+token); status != http.StatusUnauthorized {
			t.Fatalf("GET /api/v1/tasks with a wrong token = %d %s, want 401", status, body)
		}
		if status, body := get(base+"/api/v1/tasks", token); status != http.StatusOK {
			t.Fatalf("GET /api/v1/tasks with ONESHOT_BOOTSTRAP_TOKEN = %d %s, want 200", status, body)
		}
	})

	t.Run("profiles come from ONESHOT_CONFIG_YAML", func(t *testing.T) {
		status, body := call(http.MethodPost, base+"/api/v1/tasks", token, map[string]any{"prompt": "x", "profile": "no-such-profile"})
		if status != http.StatusBadRequest || !strings.Contains(string(body), "imagetest") {
			t.Fatalf("POST with an unknown profile = %d %s, want 400 naming the configured profile imagetest", status, body)
		}
		tk := createTask(t, base, token, map[string]any{"prompt": "Write made-by-worker.txt", "profile": "imagetest"})
		if tk.Agents.Worker.Executor != "command" {
			t.Errorf("task agents.worker.executor = %q, want command (the imagetest profile)", tk.Agents.Worker.Executor)
		}
		done := waitTask(t, base, token, tk.ID, 60*time.Second, "completed", "failed", "rejected", "cancelled")
		if done.State != "completed" || done.Verdict != "DONE" {
			t.Fatalf("task ended %s (verdict %q, error %q), want completed with DONE: the profile's programs ran", done.State, done.Verdict, done.Error)
		}
		ws := strings.TrimSpace(strings.TrimPrefix(done.Result, "workspace="))
		if !strings.HasPrefix(ws, d.tmp+string(filepath.Separator)) {
			t.Errorf("the task's workspace was %q, want a directory under TMPDIR %s", ws, d.tmp)
		}
	})

	if code := stop(p); code != 0 {
		t.Errorf("serve exited %d after SIGTERM, want 0", code)
	}
	if strings.Contains(p.stderr.String(), "Created an admin API token") {
		t.Error("serve printed a new admin token although ONESHOT_BOOTSTRAP_TOKEN was set: container logs must not carry secrets")
	}
	if !strings.Contains(p.stdout.String(), `"version":"`+testVersion+`"`) {
		t.Errorf("the start-up log does not carry the version stamped with -ldflags -X main.version=%s", testVersion)
	}
	if entries, _ := os.ReadDir(d.home); len(entries) != 0 {
		t.Errorf("serve wrote into HOME: %v", names(entries))
	}
	if entries, _ := os.ReadDir(d.data); len(entries) == 0 {
		t.Error("ONESHOT_DATA_DIR is empty: the SQLite database went elsewhere")
	}
}

// TestWorkerFromEnvironmentOnly starts `worker` (the agents image's command) from the
// environment and probes it the way that image's HEALTHCHECK does.
func TestWorkerFromEnvironmentOnly(t *testing.T) {
	t.Parallel()
	d := newServiceDirs(t)
	addr := freeAddr(t)
	env := d.env("", randomToken(t))
	p := start(t, procOptions{args: []string{"worker", "--addr", addr}, env: env, dir: d.cwd})
	p.waitReady("http://"+addr+"/readyz", 30*time.Second)
	if code, out := healthcheck(t, "--url", "http://"+addr+"/readyz"); code != 0 {
		t.Fatalf("oneshot healthcheck against the worker = %d (%s), want 0", code, out)
	}
	if status, _ := get("http://"+addr+"/metrics", ""); status != http.StatusOK {
		t.Errorf("GET /metrics on the worker = %d, want 200", status)
	}
	if code := stop(p); code != 0 {
		t.Errorf("worker exited %d after SIGTERM, want 0", code)
	}
}

// TestSIGTERMAsPID1 sends SIGTERM to serve running as PID 1 of its own PID namespace
// while a task runs, as `docker stop` and ECS do with an exec-form ENTRYPOINT. PID 1
// gets no default signal actions: only a process that handles SIGTERM itself stops.
// Readiness must turn 503 at once (so the health check and the load balancer take the
// task out), the running agent must be stopped, and the process must exit 0 within the
// drain timeout.
func TestSIGTERMAsPID1(t *testing.T) {
	t.Parallel()
	d := newServiceDirs(t)
	// A worker that runs until it is stopped.
	marker := filepath.Join(d.tmp, "agent-started")
	_ = os.Chmod(d.scripts, 0o755)
	writeScript(t, filepath.Join(d.scripts, "worker.sh"), `cat >/dev/null
touch "`+marker+`"
while :; do sleep 1; done
`)
	_ = os.Chmod(d.scripts, 0o555)

	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := canStart(t, attr); err != nil {
		t.Logf("cannot make a PID namespace here (%v): serve runs as an ordinary process", err)
		attr = nil
	}
	const drain = 6 * time.Second
	addr, token := freeAddr(t), randomToken(t)
	base := "http://" + addr
	p := start(t, procOptions{
		args: []string{"serve"}, dir: d.cwd,
		env:  d.env(addr, token, "ONESHOT_DRAIN_TIMEOUT="+drain.String()),
		attr: attr,
	})
	p.waitReady(base+"/readyz", 30*time.Second)
	if attr != nil {
		if nspid := namespacePID(t, p.cmd.Process.Pid); nspid != 1 {
			t.Fatalf("serve is PID %d in its namespace, want 1", nspid)
		}
	}

	createTask(t, base, token, map[string]any{"prompt": "run until stopped", "profile": "imagetest"})
	waitFile(t, marker, 30*time.Second)

	began := time.Now()
	p.signal(syscall.SIGTERM)

	// Draining: /readyz answers 503 while the running task is released.
	deadline := time.Now().Add(drain / 2)
	for {
		status, _ := get(base+"/readyz", "")
		if status == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) || p.exited() {
			t.Fatalf("/readyz answered %d after SIGTERM, want 503 while draining", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, out := healthcheck(t, "--url", base+"/readyz"); code == 0 {
		t.Errorf("oneshot healthcheck = 0 while serve drains, want non-zero; output %q", out)
	} else if !strings.Contains(out, "503") {
		t.Errorf("oneshot healthcheck said %q while draining, want it to name the 503", out)
	}

	code := p.wait(drain + 10*time.Second)
	if code != 0 {
		t.Errorf("serve exited %d after SIGTERM, want 0", code)
	}
	if took := time.Since(began); took > drain+5*time.Second {
		t.Errorf("serve took %s to exit after SIGTERM; the drain timeout is %s", took.Round(time.Millisecond), drain)
	}
	if left := processesRunning(t, filepath.Join(d.scripts, "worker.sh")); len(left) > 0 {
		t.Errorf("agent processes still run after serve exited: pids %v", left)
	}
}

// stop sends SIGTERM and returns the exit status.
func stop(p *proc) int {
	p.t.Helper()
	p.signal(syscall.SIGTERM)
	return p.wait(30 * time.Second)
}

// healthcheck runs `oneshot healthcheck ARGS` with an empty environment and returns its
// exit status and combined output.
func healthcheck(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(oneshot(t), append([]string{"healthcheck"}, args...)...)
	cmd.Env = []string{}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		t.Fatalf("run oneshot healthcheck: %v", err)
	}
	return 0, string(out)
}

// canStart reports whether the binary can be started with attr.
func canStart(t *testing.T, attr *syscall.SysProcAttr) error {
	t.Helper()
	bin := oneshot(t)
	cmd := exec.Command(bin, "version")
	cmd.Env, cmd.SysProcAttr = []string{}, attr
	out, err := cmd.CombinedOutput()
	if err != nil {
		return err
	}
	if !strings.Contains(string(out), testVersion) {
		return &exec.Error{Name: bin, Err: os.ErrInvalid}
	}
	return nil
}

// namespacePID is the PID a process has in its own (innermost) PID namespace.
func namespacePID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "NSpid:" {
			n, _ := strconv.Atoi(f[len(f)-1])
			return n
		}
	}
	t.Fatalf("no NSpid line in /proc/%d/status", pid)
	return 0
}

// processesRunning lists the processes whose command line mentions needle.
func processesRunning(t *testing.T, needle string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("cannot list processes: %v", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(string(b), needle) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func waitFile(t *testing.T, path string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %s: the agent did not start", path, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func names(entries []os.DirEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Name()
	}
	return out
}
