// Package servicetest runs the real oneshot service binaries — `serve`, `worker`,
// `migrate`, `token` — as separate processes against a fake OpenAI-compatible server
// (and fake agent programs), and checks what an operator would see: tasks complete
// exactly once, through worker crashes, drains and database restarts.
//
// TestMain builds the binaries once. Each test gets its own database (a SQLite file, or
// a fresh schema on the server ONESHOT_TEST_DATABASE_URL names; the PostgreSQL tests
// skip without it), its own configuration file and its own processes, all stopped when
// the test ends. Set ONESHOT_SERVICETEST_RACE=1 to build oneshot with the race detector,
// and ONESHOT_SERVICETEST_LOGS=1 to see every process's output (else only a failed
// test's).
package servicetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oneshot-run/oneshot/internal/fakeopenai"
	"github.com/oneshot-run/oneshot/internal/store/storetest"
)

// bins holds the binaries built once for all tests.
var bins struct {
	dir     string
	oneshot string
	fakecmd string // the fake agent, linked under a name that plays a plain command
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "oneshot-servicetest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		root := moduleRoot()
		build := func(out, pkg string, extra ...string) error {
			args := append([]string{"build", "-o", filepath.Join(dir, out)}, extra...)
			cmd := exec.Command("go", append(args, pkg)...)
			cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
			return cmd.Run()
		}
		var flags []string
		if os.Getenv("ONESHOT_SERVICETEST_RACE") == "1" {
			flags = append(flags, "-race")
		}
		if err := build("oneshot", "./cmd/oneshot", flags...); err != nil {
			fmt.Fprintln(os.Stderr, "build oneshot:", err)
			return 1
		}
		if err := build("fakeagent", "./internal/fakeagent/cmd/fakeagent"); err != nil {
			fmt.Fprintln(os.Stderr, "build fakeagent:", err)
			return 1
		}
		if err := os.Symlink(filepath.Join(dir, "fakeagent"), filepath.Join(dir, "fakecmd")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		bins.dir, bins.oneshot, bins.fakecmd = dir, filepath.Join(dir, "oneshot"), filepath.Join(dir, "fakecmd")
		return m.Run()
	}()
	os.Exit(code)
}

func moduleRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// clusterOptions configure newCluster.
type clusterOptions struct {
	// Postgres runs the cluster on a fresh schema of ONESHOT_TEST_DATABASE_URL (the test
	// skips without it); otherwise on a SQLite file of its own.
	Postgres bool
	// DatabaseURL names a PostgreSQL database directly (a private server).
	DatabaseURL string
	// Model is the fake OpenAI-compatible server of the `default` profile.
	Model *model
	// Config is more YAML for the configuration file (top-level keys).
	Config string
	// Env is more environment for every process.
	Env []string
}

// cluster is one test's installation of the service: a database, a configuration file
// shared by its processes, and an API token.
type cluster struct {
	t       *testing.T
	dir     string // the processes' working directory
	config  string // path of the configuration file
	env     []string
	dbURL   string // empty on SQLite
	dataDir string
	token   string
}

// defaultConfig is every test's base configuration: short liveness and drain timings,
// and two profiles: `default` against the fake model server, `command` running the
// fake agent program.
const defaultConfig = `rescue_after: 10s
drain_timeout: 10s
max_attempts: 5
inactivity_timeout: 2m
profiles:
  default:
    worker: {executor: direct, endpoint: %q, model: fake-worker}
    auditor: {executor: direct, endpoint: %q, model: fake-auditor}
  command:
    worker: {executor: command, command: [%q]}
    auditor: {executor: command, command: [%q]}
`

func newCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir(), dbURL: o.DatabaseURL}
	if o.Postgres && c.dbURL == "" {
		c.dbURL = storetest.Postgres(t).DatabaseURL
	}
	modelURL := "http://127.0.0.1:9/v1" // nothing listens: only tests that set Model use the profile
	if o.Model != nil {
		modelURL = o.Model.URL
	}
	cfg := fmt.Sprintf(defaultConfig, modelURL, modelURL, bins.fakecmd, bins.fakecmd)
	if c.dbURL != "" {
		cfg += fmt.Sprintf("database_url: %q\n", c.dbURL)
	} else {
		c.dataDir = filepath.Join(t.TempDir(), "data")
		cfg += fmt.Sprintf("data_dir: %q\n", c.dataDir)
	}
	cfg += o.Config
	c.config = filepath.Join(t.TempDir(), "oneshot.yaml")
	if err := os.WriteFile(c.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	c.env = append(cleanEnv(),
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local", "share"),
		"XDG_STATE_HOME="+filepath.Join(home, ".local", "state"),
		"TMPDIR="+t.TempDir(), // task workspaces
	)
	c.env = append(c.env, o.Env...)
	if c.dbURL != "" {
		c.run("migrate")
	}
	c.token = c.createToken("servicetest")
	return c
}

// cleanEnv drops variables that would change oneshot's configuration or the fake agent.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ONESHOT_") || strings.HasPrefix(kv, "FAKEAGENT_") || strings.HasPrefix(kv, "OPENAI_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// run runs a short oneshot command (migrate, token) with the cluster's configuration
// and returns its stdout; it fails the test when the command fails.
func (c *cluster) run(args ...string) (stdout, stderr string) {
	c.t.Helper()
	out, errOut, code := c.tryRun(args...)
	if code != 0 {
		c.t.Fatalf("oneshot %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out, errOut
}

func (c *cluster) tryRun(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.oneshot, c.args(args)...)
	cmd.Dir, cmd.Env = c.dir, c.env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		c.t.Fatalf("oneshot %s: %v", strings.Join(args, " "), err)
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

// args puts --config after the subcommand (and after token's create/revoke);
// healthcheck reads no configuration.
func (c *cluster) args(args []string) []string {
	if args[0] == "healthcheck" {
		return args
	}
	n := 1
	if args[0] == "token" {
		n = 2
	}
	out := append([]string{}, args[:n]...)
	out = append(out, "--config", c.config)
	return append(out, args[n:]...)
}

var tokenIDRe = regexp.MustCompile(`\(id ([^)]+)\)`)

// createToken creates an API token with `oneshot token create` and returns its secret.
func (c *cluster) createToken(name string) string {
	c.t.Helper()
	secret, _ := c.createTokenWithID(name)
	return secret
}

func (c *cluster) createTokenWithID(name string) (secret, id string) {
	c.t.Helper()
	out, errOut := c.run("token", "create", "--name", name)
	secret = strings.TrimSpace(out)
	if !strings.HasPrefix(secret, "os_") {
		c.t.Fatalf("token create printed %q on stdout, want a token starting os_", out)
	}
	m := tokenIDRe.FindStringSubmatch(errOut)
	if m == nil {
		c.t.Fatalf("token create did not name the token's id on stderr: %q", errOut)
	}
	return secret, m[1]
}

// proc is a running service process.
type proc struct {
	t        *testing.T
	name     string
	cmd      *exec.Cmd
	addr     string // host:port it listens on
	workerID string // its runtime's worker id, when it runs tasks
	logs     *lineLog
	done     chan struct{} // closed when it has exited
	state    *os.ProcessState
}

// start starts a long-running oneshot command (serve, worker) on a free port, waits
// until it answers /readyz with 200 and stops it when the test ends.
func (c *cluster) start(name string, args ...string) *proc {
	c.t.Helper()
	return c.startEnv(name, nil, args...)
}

func (c *cluster) startEnv(name string, env []string, args ...string) *proc {
	c.t.Helper()
	p := c.spawn(name, env, args...)
	p.waitReady(60 * time.Second)
	return p
}

// spawn starts the process and waits only for its "oneshot started" log line.
func (c *cluster) spawn(name string, env []string, args ...string) *proc {
	t := c.t
	t.Helper()
	full := c.args(append(args, "--addr", "127.0.0.1:0"))
	cmd := exec.Command(bins.oneshot, full...)
	cmd.Dir = c.dir
	cmd.Env = append(append([]string{}, c.env...), env...)
	logs := newLineLog(filepath.Join(t.TempDir(), name+".log"))
	cmd.Stdout, cmd.Stderr = logs.writer("out"), logs.writer("err")
	cmd.WaitDelay = 5 * time.Second
	// Its own process group, so the test's Ctrl-C does not reach it before cleanup does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{t: t, name: name, cmd: cmd, logs: logs, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		logs.close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		// A binary built with -race reports races on stderr (and exits 66).
		if races := logs.all(func(l logLine) bool { return strings.Contains(l.Text, "WARNING: DATA RACE") }); len(races) > 0 {
			t.Errorf("%s reported %d data races", name, len(races))
		}
		switch {
		case os.Getenv("ONESHOT_SERVICETEST_LOGS") == "1":
			t.Logf("--- output of %s (pid %d):\n%s", name, p.pid(), p.logs.tail(1<<20))
		case t.Failed():
			t.Logf("--- last output of %s (pid %d):\n%s", name, p.pid(), p.logs.tail(60))
		}
	})
	line, ok := logs.waitFor(60*time.Second, p.done, func(l logLine) bool { return l.Msg == "oneshot started" })
	if !ok {
		t.Fatalf("%s did not start within 60s:\n%s", name, logs.tail(40))
	}
	p.addr = line.Addr
	if l, ok := logs.find(func(l logLine) bool { return l.Msg == "worker started" }); ok {
		p.workerID = l.WorkerID
	}
	return p
}

// stop ends the process if it still runs: SIGTERM, then SIGKILL after 20s.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s to %s: %v", sig, p.name, err)
	}
}

// wait waits for the process to exit and returns its exit code (-1 when a signal
// killed it); ok is false when it still runs after timeout.
func (p *proc) wait(timeout time.Duration) (code int, ok bool) {
	select {
	case <-p.done:
		return p.state.ExitCode(), true
	case <-time.After(timeout):
		return 0, false
	}
}

func (p *proc) url(path string) string { return "http://" + p.addr + path }

// readyz returns the status code of GET /readyz (0 when the request failed).
func (p *proc) readyz() int {
	code, _ := p.readiness()
	return code
}

// readiness returns the status code and body of GET /readyz (0 when the request failed).
func (p *proc) readiness() (int, readiness) {
	var r readiness
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url("/readyz"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, r
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r.raw = string(b)
	r.valid = json.Unmarshal(b, &r) == nil
	return resp.StatusCode, r
}

// readiness is the body of /readyz.
type readiness struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
	raw    string
	valid  bool // the body is JSON
}

// checkNotReady checks a 503 answer of /readyz has the documented shape.
func checkNotReady(t *testing.T, p *proc, r readiness) {
	t.Helper()
	if !r.valid || r.Status != "not_ready" || r.Reason == "" {
		t.Errorf("%s: /readyz answered 503 with %q, want {\"status\":\"not_ready\",\"reason\":\"...\"} (docs/api.md)", p.name, r.raw)
	}
}

func (p *proc) waitReady(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			p.t.Fatalf("%s exited (%v) before it was ready:\n%s", p.name, p.state, p.logs.tail(40))
		}
		if p.readyz() == http.StatusOK {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("%s was not ready within %s:\n%s", p.name, timeout, p.logs.tail(40))
}

// logLine is one line a process printed; JSON log lines are decoded into the fields.
type logLine struct {
	Stream   string // "out" or "err"
	Text     string
	JSON     map[string]any
	Msg      string
	Addr     string
	WorkerID string
}

// lineLog keeps every line a process prints (also in a file, for post-mortems).
type lineLog struct {
	mu     sync.Mutex
	lines  []logLine
	file   *os.File
	notify chan struct{} // closed and replaced at every new line
}

func newLineLog(path string) *lineLog {
	f, _ := os.Create(path)
	return &lineLog{file: f, notify: make(chan struct{})}
}

// writer returns an io.Writer that splits what it gets into lines of stream.
func (l *lineLog) writer(stream string) io.Writer { return &lineWriter{log: l, stream: stream} }

// lineWriter hands complete lines to its log; exec.Cmd calls Write from one goroutine.
type lineWriter struct {
	log     *lineLog
	stream  string
	partial []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.log.add(w.stream, string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(b), nil
}

func (l *lineLog) add(stream, text string) {
	ln := logLine{Stream: stream, Text: text}
	if strings.HasPrefix(text, "{") {
		var m map[string]any
		if json.Unmarshal([]byte(text), &m) == nil {
			ln.JSON = m
			ln.Msg, _ = m["msg"].(string)
			ln.Addr, _ = m["addr"].(string)
			ln.WorkerID, _ = m["worker_id"].(string)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, ln)
	if l.file != nil {
		fmt.Fprintf(l.file, "%s: %s\n", stream, text)
	}
	close(l.notify)
	l.notify = make(chan struct{})
}

func (l *lineLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		l.file.Close()
		l.file = nil
	}
}

// find returns the first line that matches.
func (l *lineLog) find(match func(logLine) bool) (logLine, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ln := range l.lines {
		if match(ln) {
			return ln, true
		}
	}
	return logLine{}, false
}

// all returns the lines that match.
func (l *lineLog) all(match func(logLine) bool) []logLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logLine
	for _, ln := range l.lines {
		if match(ln) {
			out = append(out, ln)
		}
	}
	return out
}

// waitFor waits until a line matches, the timeout passes or done is closed (and no
// line matched).
func (l *lineLog) waitFor(timeout time.Duration, done <-chan struct{}, match func(logLine) bool) (logLine, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		notify := l.notify
		l.mu.Unlock()
		if ln, ok := l.find(match); ok {
			return ln, true
		}
		select {
		case <-notify:
		case <-deadline.C:
			return logLine{}, false
		case <-done: // every line is in: exec.Cmd.Wait waits for the output copying
			return l.find(match)
		}
	}
}

func (l *lineLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := max(len(l.lines)-n, 0)
	var b strings.Builder
	for _, ln := range l.lines[start:] {
		fmt.Fprintf(&b, "  %s: %s\n", ln.Stream, ln.Text)
	}
	return b.String()
}

// client talks to the API of a serve process.
type client struct {
	t     *testing.T
	base  string
	token string
	hc    *http.Client
}

func (c *cluster) client(p *proc) *client {
	return &client{t: c.t, base: "http://" + p.addr, token: c.token, hc: &http.Client{Timeout: 30 * time.Second}}
}

// do sends a request; body, when not nil, is sent as JSON.
func (c *client) do(method, path string, body any) (status int, header http.Header, out []byte, err error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	out, err = io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out, err
}

// must sends a request, checks the status and decodes the answer into out.
func (c *client) must(method, path string, body any, want int, out any) {
	c.t.Helper()
	status, _, b, err := c.do(method, path, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// task is the API's task, as far as the tests look at it.
type task struct {
	ID              string      `json:"id"`
	State           string      `json:"state"`
	Attempts        int         `json:"attempts"`
	WorkerID        string      `json:"worker_id"`
	Verdict         string      `json:"verdict"`
	Feedback        string      `json:"feedback"`
	Result          string      `json:"result"`
	Iterations      []iteration `json:"iterations"`
	Usage           usage       `json:"usage"`
	Agent           *agent      `json:"agent"`
	CancelRequested bool        `json:"cancel_requested"`
	Error           string      `json:"error"`
	ErrorKind       string      `json:"error_kind"`
	LastEventSeq    int64       `json:"last_event_seq"`
	CreatedBy       string      `json:"created_by"`
	FinishedAt      *time.Time  `json:"finished_at"`
	Spec            struct {
		Prompt  string `json:"prompt"`
		Profile string `json:"profile"`
	} `json:"spec"`
}

// finishedAfter is how long after t the task finished, for the test's log.
func (tk task) finishedAfter(t time.Time) string {
	if tk.FinishedAt == nil {
		return "(not finished)"
	}
	return tk.FinishedAt.Sub(t).Round(time.Millisecond).String()
}

type iteration struct {
	N            int    `json:"n"`
	WorkerResult string `json:"worker_result"`
	AuditorAns   string `json:"auditor_answer"`
	Verdict      string `json:"verdict"`
	Feedback     string `json:"feedback"`
	Usage        usage  `json:"usage"`
}

type usage struct {
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
}

type agent struct {
	Role string `json:"role"`
	PID  int    `json:"pid"`
}

func finalState(s string) bool {
	switch s {
	case "completed", "rejected", "failed", "cancelled", "interrupted":
		return true
	}
	return false
}

// submit creates a task with the prompt on profile and returns it.
func (c *client) submit(prompt, profile string) task {
	c.t.Helper()
	var tk task
	c.must(http.MethodPost, "/api/v1/tasks", map[string]any{"prompt": prompt, "profile": profile}, http.StatusCreated, &tk)
	return tk
}

func (c *client) get(id string) task {
	c.t.Helper()
	var tk task
	c.must(http.MethodGet, "/api/v1/tasks/"+id, nil, http.StatusOK, &tk)
	return tk
}

// tryGet gets a task without failing the test (the API may be unavailable).
func (c *client) tryGet(id string) (task, error) {
	var tk task
	status, _, b, err := c.do(http.MethodGet, "/api/v1/tasks/"+id, nil)
	if err != nil {
		return tk, err
	}
	if status != http.StatusOK {
		return tk, fmt.Errorf("status %d: %s", status, b)
	}
	return tk, json.Unmarshal(b, &tk)
}

// waitTask polls the task until cond holds; it fails the test after timeout.
func (c *client) waitTask(id string, timeout time.Duration, what string, cond func(task) bool) task {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last task
	var lastErr error
	for time.Now().Before(deadline) {
		tk, err := c.tryGet(id)
		if err == nil {
			last = tk
			if cond(tk) {
				return tk
			}
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("task %s: timed out after %s waiting for %s; last seen state %q attempts %d worker %q error %q (last request error: %v)",
		id, timeout, what, last.State, last.Attempts, last.WorkerID, last.Error, lastErr)
	return last
}

func (c *client) waitFinal(id string, timeout time.Duration) task {
	c.t.Helper()
	return c.waitTask(id, timeout, "a final state", func(tk task) bool { return finalState(tk.State) })
}

// event is an activity event as the API sends it.
type event struct {
	Seq       int64  `json:"seq"`
	Task      string `json:"task"`
	Iteration int    `json:"iteration"`
	Role      string `json:"role"`
	Type      string `json:"type"`
	Text      string `json:"text"`
}

// events returns the task's stored events (NDJSON, follow=false).
func (c *client) events(id string) []event {
	c.t.Helper()
	status, _, b, err := c.do(http.MethodGet, "/api/v1/tasks/"+id+"/events?follow=false", nil)
	if err != nil || status != http.StatusOK {
		c.t.Fatalf("events of %s: status %d, %v: %s", id, status, err, b)
	}
	var out []event
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var e event
		if err := dec.Decode(&e); err != nil {
			c.t.Fatalf("events of %s: %v", id, err)
		}
		out = append(out, e)
	}
	return out
}

// sseEnd is the data of the stream's final "end" event.
type sseEnd struct {
	State        string `json:"state"`
	LastEventSeq int64  `json:"last_event_seq"`
}

// stream follows the task's Server-Sent Events until the "end" event, and returns the
// events and the end. It fails the test when the stream breaks or times out.
func (c *client) stream(id string, timeout time.Duration) ([]event, sseEnd) {
	c.t.Helper()
	evs, end, err := c.tryStream(id, timeout, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return evs, end
}

// tryStream is stream without failing the test, for use in another goroutine. It
// closes connected, when not nil, once the stream has begun.
func (c *client) tryStream(id string, timeout time.Duration, connected chan<- struct{}) ([]event, sseEnd, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/tasks/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, sseEnd{}, fmt.Errorf("events of %s: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		return nil, sseEnd{}, fmt.Errorf("events of %s: status %d, content type %q: %s", id, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	if connected != nil {
		close(connected)
	}
	var (
		evs              []event
		name, data, seqs string
	)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data == "" {
				name, seqs = "", ""
				continue
			}
			if name == "end" {
				var end sseEnd
				if err := json.Unmarshal([]byte(data), &end); err != nil {
					return evs, end, fmt.Errorf("end event of %s: %w: %s", id, err, data)
				}
				return evs, end, nil
			}
			var e event
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				return evs, sseEnd{}, fmt.Errorf("event of %s: %w: %s", id, err, data)
			}
			if seqs != strconv.FormatInt(e.Seq, 10) {
				return evs, sseEnd{}, fmt.Errorf("event of %s: SSE id %q, event seq %d", id, seqs, e.Seq)
			}
			evs = append(evs, e)
			name, data, seqs = "", "", ""
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "data:"):
			if data != "" {
				data += "\n"
			}
			data += strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
		case strings.HasPrefix(line, "event:"):
			name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "id:"):
			seqs = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
		}
	}
	return evs, sseEnd{}, fmt.Errorf("event stream of %s ended without an end event after %d events: %v", id, len(evs), sc.Err())
}

// resultsByRole counts the "result" events by role.
func resultsByRole(evs []event) map[string]int {
	out := map[string]int{}
	for _, e := range evs {
		if e.Type == "result" {
			out[e.Role]++
		}
	}
	return out
}

// status is GET /api/v1/status.
type status struct {
	Counts       map[string]int `json:"counts"`
	QueueDepth   int            `json:"queue_depth"`
	InFlight     int            `json:"in_flight"`
	WorkersAlive int            `json:"workers_alive"`
	Workers      []struct {
		ID       string `json:"id"`
		Slots    int    `json:"slots"`
		Running  int    `json:"running"`
		Draining bool   `json:"draining"`
	} `json:"workers"`
}

func (c *client) status() status {
	c.t.Helper()
	var st status
	c.must(http.MethodGet, "/api/v1/status", nil, http.StatusOK, &st)
	return st
}

// waitStatus polls the status until cond holds and returns it; after timeout it
// returns the last status.
func (c *client) waitStatus(timeout time.Duration, cond func(status) bool) status {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := c.status()
		if cond(st) || time.Now().After(deadline) {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// model is the fake OpenAI-compatible server, with the calls it got counted by task
// and role (read from the prompt's first line, "[oneshot run ID · iteration N/M ·
// ROLE]"). Its replies are the default ones — "fake answer …" for a worker and a DONE
// verdict for an auditor — unless the test's behave says otherwise.
type model struct {
	*fakeopenai.Server

	mu     sync.Mutex
	calls  map[string]map[string]int // task → role → calls
	behave func(call) (fakeopenai.Reply, bool)
}

// call is one chat request, as model hands it to behave.
type call struct {
	Task, Role string
	N          int // the how-manieth call of this task and role, from 1
	Prompt     string
}

var promptHeader = regexp.MustCompile(`\[oneshot run (\S+) · iteration \d+/\d+ · (\w+)\]`)

// newModel starts a fake model server for the test. behave, when not nil, may script
// the reply to a call (second result true).
func newModel(t *testing.T, behave func(call) (fakeopenai.Reply, bool)) *model {
	m := &model{Server: fakeopenai.New(t), calls: map[string]map[string]int{}, behave: behave}
	m.Respond(func(req fakeopenai.Request) fakeopenai.Reply {
		prompt := req.Prompt()
		c := call{Prompt: prompt, Role: "unknown"}
		if mm := promptHeader.FindStringSubmatch(prompt); mm != nil {
			c.Task, c.Role = mm[1], mm[2]
		}
		m.mu.Lock()
		if m.calls[c.Task] == nil {
			m.calls[c.Task] = map[string]int{}
		}
		m.calls[c.Task][c.Role]++
		c.N = m.calls[c.Task][c.Role]
		m.mu.Unlock()
		if m.behave != nil {
			if r, ok := m.behave(c); ok {
				return r
			}
		}
		if c.Role == "auditor" {
			return fakeopenai.Reply{Content: fakeopenai.VerdictDone}
		}
		return fakeopenai.Reply{Content: "fake answer for " + c.Task}
	})
	return m
}

// count returns how many calls of role the task made.
func (m *model) count(task, role string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[task][role]
}

// tasks returns how many distinct tasks called the model.
func (m *model) tasks() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.calls)
}

// waitCall waits until the task has made n calls of role.
func (m *model) waitCall(t *testing.T, task, role string, n int, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("task %s to call its %s %d time(s)", task, role, n), func() bool {
		return m.count(task, role) >= n
	})
}

// eventually polls cond every 50ms until it holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// alive reports whether a process exists and is not a zombie waiting to be reaped.
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// pid (comm) STATE ...: comm may hold spaces and parentheses, so cut at the last ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// procByWorker returns the process whose runtime has the worker id.
func procByWorker(t *testing.T, id string, procs ...*proc) *proc {
	t.Helper()
	for _, p := range procs {
		if p.workerID == id {
			return p
		}
	}
	t.Fatalf("no process of this test runs as worker %q", id)
	return nil
}
