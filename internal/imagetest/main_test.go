package imagetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// build is what TestMain prepares once for every test.
var build struct {
	root   string // the module root (the Docker build context)
	binDir string // world-readable directory for the binary
	// binary builds the binary with the Dockerfile's flags, once, for the tests that
	// run it (the Dockerfile's policy tests do not need it).
	binary func() (string, error)
}

// oneshot returns the path of the binary built as the Dockerfile builds it.
func oneshot(t *testing.T) string {
	t.Helper()
	bin, err := build.binary()
	if err != nil {
		t.Fatalf("build the binary as the Dockerfile does: %v", err)
	}
	return bin
}

// buildFlags are the Dockerfile's `go build` flags (CGO_ENABLED=0 comes from the
// environment). TestDockerfileBuildStage checks that the Dockerfile still uses them.
var buildFlags = []string{"-trimpath", "-ldflags", "-s -w -X main.version=" + testVersion}

const testVersion = "v0.0.0-imagetest"

func TestMain(m *testing.M) {
	os.Exit(func() int {
		root, err := filepath.Abs(filepath.Join("..", ".."))
		if err == nil {
			_, err = os.Stat(filepath.Join(root, "go.mod"))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "imagetest: cannot find the module root:", err)
			return 1
		}
		dir, err := os.MkdirTemp("", "oneshot-imagetest-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "imagetest:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		// Readable by the unprivileged user the read-only test runs the binary as.
		if err := os.Chmod(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "imagetest:", err)
			return 1
		}
		build.root, build.binDir = root, dir
		build.binary = sync.OnceValues(func() (string, error) {
			bin := filepath.Join(dir, "oneshot")
			return bin, goBuild(root, bin)
		})
		return m.Run()
	}())
}

// goBuild builds ./cmd/oneshot in dir into out with the Dockerfile's flags.
func goBuild(dir, out string) error {
	args := append([]string{"build"}, buildFlags...)
	args = append(args, "-o", out, "./cmd/oneshot")
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	// As in the image build: no GOFLAGS, so go.mod must be complete (-mod=readonly), and
	// no VCS stamping (the build context has no .git).
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly -buildvcs=false")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return nil
}

// syncBuffer is a bytes.Buffer that a process and a test may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// procOptions says how to start the binary.
type procOptions struct {
	args []string
	env  []string // the whole environment: nothing is inherited
	dir  string   // working directory
	// attr, when set, runs the process as another user and/or as PID 1 of a new PID
	// namespace.
	attr *syscall.SysProcAttr
}

// proc is a running oneshot process.
type proc struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	state          *os.ProcessState
}

// start runs the binary. The process is killed at the end of the test if it still runs.
func start(t *testing.T, o procOptions) *proc {
	t.Helper()
	cmd := exec.Command(oneshot(t), o.args...)
	cmd.Env, cmd.Dir, cmd.SysProcAttr = o.env, o.dir, o.attr
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	p := &proc{t: t, cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start oneshot %s: %v", strings.Join(o.args, " "), err)
	}
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("oneshot %s stderr:\n%s", strings.Join(o.args, " "), p.stderr.String())
			t.Logf("oneshot %s stdout (last 4 KiB):\n%s", strings.Join(o.args, " "), tail(p.stdout.String(), 4096))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady polls url until it answers 200, failing the test if the process exits or
// the time runs out.
func (p *proc) waitReady(url string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		if p.exited() {
			p.t.Fatalf("oneshot exited (%v) before %s answered 200; stderr:\n%s", p.state, url, p.stderr.String())
		}
		if status, _ := get(url, ""); status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not answer 200 within %s; stderr:\n%s", url, within, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signal sends sig to the process itself, as the container runtime does to PID 1.
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("send %v to oneshot: %v", sig, err)
	}
}

// wait waits for the process to end and returns its exit status, failing the test if
// it takes longer than within.
func (p *proc) wait(within time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.state.ExitCode()
	case <-time.After(within):
		p.t.Fatalf("oneshot did not exit within %s", within)
		return -1
	}
}

// freeAddr returns a loopback address that nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// get fetches url with an optional bearer token and returns the status and body.
func get(url, token string) (int, []byte) {
	return call(http.MethodGet, url, token, nil)
}

func call(method, url, token string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, []byte(err.Error())
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, []byte(err.Error())
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// task is the part of the API's task object the tests read.
type task struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Result string `json:"result"`
	Error  string `json:"error"`
	Agents struct {
		Worker struct {
			Executor string `json:"executor"`
		} `json:"worker"`
	} `json:"agents"`
	Verdict string `json:"verdict"`
}

// createTask submits a task and returns it.
func createTask(t *testing.T, base, token string, body map[string]any) task {
	t.Helper()
	status, b := call(http.MethodPost, base+"/api/v1/tasks", token, body)
	if status != http.StatusCreated {
		t.Fatalf("POST /api/v1/tasks = %d %s, want 201", status, b)
	}
	var tk task
	if err := json.Unmarshal(b, &tk); err != nil {
		t.Fatalf("task JSON: %v: %s", err, b)
	}
	return tk
}

// waitTask polls a task until its state is one of states.
func waitTask(t *testing.T, base, token, id string, within time.Duration, states ...string) task {
	t.Helper()
	deadline := time.Now().Add(within)
	var last task
	for {
		status, b := get(base+"/api/v1/tasks/"+id, token)
		if status == http.StatusOK {
			last = task{}
			if err := json.Unmarshal(b, &last); err != nil {
				t.Fatalf("task JSON: %v: %s", err, b)
			}
			for _, s := range states {
				if last.State == s {
					return last
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s is %q (error %q) after %s, want one of %v", id, last.State, last.Error, within, states)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeScript writes an executable shell script.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\nset -eu\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// profileYAML is an ONESHOT_CONFIG_YAML document with one profile, "imagetest", whose
// worker and auditor are the given commands (command executor).
func profileYAML(worker, auditor string) string {
	return fmt.Sprintf(`profiles:
  imagetest:
    worker: {executor: command, command: [%q]}
    auditor: {executor: command, command: [%q]}
    max_iterations: 2
`, worker, auditor)
}

// auditorScript answers DONE when the worker left the expected file in the shared
// workspace, and RETRY otherwise.
const auditorScript = `cat >/dev/null
if [ "$(cat made-by-worker.txt 2>/dev/null)" = "hello from the worker" ]; then
  echo '{"verdict":"DONE","feedback":"made-by-worker.txt is there"}'
else
  echo '{"verdict":"RETRY","feedback":"made-by-worker.txt is missing"}'
fi
`

// workerScript writes a file into its working directory (the task's workspace) and
// answers with that directory, so a test can see where the workspace was.
const workerScript = `cat >/dev/null
echo "hello from the worker" > made-by-worker.txt
echo "workspace=$(pwd)"
`
