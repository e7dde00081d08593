package servicetest

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oneshot-run/oneshot/internal/fakeopenai"
)

// TestBasic runs one `serve` with an in-process worker, on SQLite and on PostgreSQL: a
// task is submitted, watched over SSE until it completes and read back; a queued task
// is cancelled; the list and the status counts say what happened.
func TestBasic(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			testBasic(t, db == "postgres")
		})
	}
}

func testBasic(t *testing.T, postgres bool) {
	// A task whose prompt says HOLD keeps its worker call open until the test lets go,
	// so that it occupies the only task slot.
	hold := make(chan struct{})
	var release sync.Once
	letGo := func() { release.Do(func() { close(hold) }) }
	m := newModel(t, func(c call) (fakeopenai.Reply, bool) {
		if c.Role == "worker" && strings.Contains(c.Prompt, "HOLD") {
			<-hold
		}
		return fakeopenai.Reply{}, false
	})
	t.Cleanup(letGo) // before the model server closes: it waits for held calls
	c := newCluster(t, clusterOptions{Postgres: postgres, Model: m})
	srv := c.start("serve", "serve", "--workers", "1")
	api := c.client(srv)

	// Submit, follow the events until the end, read the task.
	start := time.Now()
	first := api.submit("Write hello.txt with a greeting", "default")
	if first.State != "queued" || first.Attempts != 0 || first.CreatedBy != "servicetest" {
		t.Errorf("new task: state %q, attempts %d, created_by %q; want queued, 0, servicetest", first.State, first.Attempts, first.CreatedBy)
	}
	evs, end := api.stream(first.ID, 60*time.Second)
	t.Logf("submit → completed over SSE in %s, %d events", time.Since(start).Round(time.Millisecond), len(evs))
	if end.State != "completed" {
		t.Fatalf("end event: state %q, want completed", end.State)
	}
	var states []string
	results := map[string]int{}
	for i, e := range evs {
		if i > 0 && e.Seq <= evs[i-1].Seq {
			t.Errorf("event seqs not increasing: %d after %d", e.Seq, evs[i-1].Seq)
		}
		if e.Task != first.ID {
			t.Errorf("event %d belongs to task %q", e.Seq, e.Task)
		}
		if e.Type == "state" {
			states = append(states, e.Text)
		}
		if e.Type == "result" {
			results[e.Role]++
		}
	}
	if len(evs) == 0 || end.LastEventSeq != evs[len(evs)-1].Seq {
		t.Errorf("end event says last seq %d; the stream's last event was %v", end.LastEventSeq, evs[len(evs)-1:])
	}
	for _, want := range []string{"worker_running", "auditor_running", "completed"} {
		if !containsPrefix(states, want) {
			t.Errorf("state events %q lack %q", states, want)
		}
	}
	if results["worker"] != 1 || results["auditor"] != 1 {
		t.Errorf("result events by role: %v, want one of the worker and one of the auditor", results)
	}

	got := api.get(first.ID)
	if got.State != "completed" || got.Attempts != 1 || len(got.Iterations) != 1 {
		t.Fatalf("task: state %q, attempts %d, %d iterations; want completed, 1, 1", got.State, got.Attempts, len(got.Iterations))
	}
	it := got.Iterations[0]
	wantAnswer := "fake answer for " + first.ID
	if it.N != 1 || it.WorkerResult != wantAnswer || it.Verdict != "DONE" || it.Feedback != "ok" {
		t.Errorf("iteration: n %d, worker result %q, verdict %q, feedback %q; want 1, %q, DONE, ok", it.N, it.WorkerResult, it.Verdict, it.Feedback, wantAnswer)
	}
	if got.Verdict != "DONE" || got.Result != wantAnswer {
		t.Errorf("task verdict %q, result %q; want DONE, %q", got.Verdict, got.Result, wantAnswer)
	}
	if got.Usage.InputTokens <= 0 || got.Usage.OutputTokens <= 0 {
		t.Errorf("usage %+v: want tokens counted from the model's usage", got.Usage)
	}
	if got.LastEventSeq != end.LastEventSeq {
		t.Errorf("task last_event_seq %d, stream's %d", got.LastEventSeq, end.LastEventSeq)
	}
	if w, a := m.count(first.ID, "worker"), m.count(first.ID, "auditor"); w != 1 || a != 1 {
		t.Errorf("model calls: worker %d, auditor %d; want 1 each", w, a)
	}

	// Occupy the only slot, queue another task behind it and cancel that one.
	held := api.submit("HOLD the slot until the test lets go", "default")
	m.waitCall(t, held.ID, "worker", 1, 30*time.Second)
	queued := api.submit("Wait in the queue", "default")
	var cancelled task
	api.must(http.MethodPost, "/api/v1/tasks/"+queued.ID+"/cancel", nil, http.StatusAccepted, &cancelled)
	if !cancelled.CancelRequested || cancelled.State != "cancelled" {
		t.Errorf("cancel of a queued task answered state %q, cancel_requested %v; want cancelled at once", cancelled.State, cancelled.CancelRequested)
	}
	if s, _, b, _ := api.do(http.MethodPost, "/api/v1/tasks/"+queued.ID+"/cancel", nil); s != http.StatusConflict {
		t.Errorf("cancelling a cancelled task: status %d, want 409: %s", s, b)
	}

	var list struct {
		Tasks []task `json:"tasks"`
	}
	api.must(http.MethodGet, "/api/v1/tasks", nil, http.StatusOK, &list)
	if ids := taskIDs(list.Tasks); strings.Join(ids, ",") != strings.Join([]string{queued.ID, held.ID, first.ID}, ",") {
		t.Errorf("list: %v, want newest first %v", ids, []string{queued.ID, held.ID, first.ID})
	}
	api.must(http.MethodGet, "/api/v1/tasks?state=cancelled", nil, http.StatusOK, &list)
	if ids := taskIDs(list.Tasks); len(ids) != 1 || ids[0] != queued.ID {
		t.Errorf("list state=cancelled: %v, want [%s]", ids, queued.ID)
	}

	// River marks a finished job completed in batches, a moment after the task's own
	// final state: in_flight (running jobs) may lag the counts by that moment.
	lag := time.Now()
	st := api.waitStatus(10*time.Second, func(st status) bool { return st.InFlight == 1 })
	t.Logf("in_flight agreed with the task states after %s", time.Since(lag).Round(time.Millisecond))
	if st.Counts["completed"] != 1 || st.Counts["cancelled"] != 1 || st.Counts["worker_running"] != 1 || st.Counts["queued"] != 0 {
		t.Errorf("status counts %v: want completed 1, cancelled 1, worker_running 1, queued 0", st.Counts)
	}
	if st.InFlight != 1 || st.QueueDepth != 0 || st.WorkersAlive != 1 {
		t.Errorf("status: in_flight %d, queue_depth %d, workers_alive %d; want 1, 0, 1", st.InFlight, st.QueueDepth, st.WorkersAlive)
	}

	letGo()
	if done := api.waitFinal(held.ID, 60*time.Second); done.State != "completed" {
		t.Errorf("held task ended %q (%s), want completed", done.State, done.Error)
	}
	lag = time.Now()
	st = api.waitStatus(10*time.Second, func(st status) bool { return st.InFlight == 0 })
	t.Logf("in_flight agreed with the task states after %s", time.Since(lag).Round(time.Millisecond))
	if st.Counts["completed"] != 2 || st.Counts["cancelled"] != 1 || st.InFlight != 0 || st.QueueDepth != 0 {
		t.Errorf("final status: counts %v, in_flight %d, queue_depth %d; want completed 2, cancelled 1, 0, 0", st.Counts, st.InFlight, st.QueueDepth)
	}
	if n := m.count(queued.ID, "worker") + m.count(queued.ID, "auditor"); n != 0 {
		t.Errorf("the cancelled task called the model %d times, want never", n)
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func taskIDs(ts []task) []string {
	ids := make([]string, len(ts))
	for i, tk := range ts {
		ids[i] = tk.ID
	}
	return ids
}

// TestAuthAndMetrics checks, against the real binary, that the API wants a token (and
// tells a missing one from an unknown or revoked one), that health, readiness and
// metrics are open, and that /metrics exposes the oneshot_* series after a task ran.
func TestAuthAndMetrics(t *testing.T) {
	t.Parallel()
	const bootstrap = "bootstrap-token-for-the-service-tests"
	m := newModel(t, nil)
	c := newCluster(t, clusterOptions{Model: m, Env: []string{"ONESHOT_BOOTSTRAP_TOKEN=" + bootstrap}})
	revoked, revokedID := c.createTokenWithID("revoked")
	c.run("token", "revoke", revokedID)
	srv := c.start("serve", "serve", "--workers", "1")
	api := c.client(srv)

	for _, tc := range []struct {
		name, method, path, token string
		want                      int
		authenticate              string
	}{
		{"no token", http.MethodGet, "/api/v1/tasks", "", 401, `Bearer realm="oneshot"`},
		{"no token, submit", http.MethodPost, "/api/v1/tasks", "", 401, `Bearer realm="oneshot"`},
		{"no token, status", http.MethodGet, "/api/v1/status", "", 401, `Bearer realm="oneshot"`},
		{"no token, openapi", http.MethodGet, "/api/v1/openapi.json", "", 401, `Bearer realm="oneshot"`},
		{"unknown token", http.MethodGet, "/api/v1/tasks", "os_not-a-token-this-server-knows", 401, `Bearer realm="oneshot", error="invalid_token"`},
		{"revoked token", http.MethodGet, "/api/v1/tasks", revoked, 403, ""},
		{"created token", http.MethodGet, "/api/v1/tasks", c.token, 200, ""},
		{"bootstrap token", http.MethodGet, "/api/v1/status", bootstrap, 200, ""},
		{"healthz", http.MethodGet, "/healthz", "", 200, ""},
		{"readyz", http.MethodGet, "/readyz", "", 200, ""},
		{"metrics", http.MethodGet, "/metrics", "", 200, ""},
	} {
		anon := &client{t: t, base: api.base, token: tc.token, hc: api.hc}
		var body any
		if tc.method == http.MethodPost {
			body = map[string]any{"prompt": "p"}
		}
		status, h, b, err := anon.do(tc.method, tc.path, body)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if status != tc.want {
			t.Errorf("%s: %s %s answered %d, want %d: %s", tc.name, tc.method, tc.path, status, tc.want, b)
		}
		if tc.authenticate != "" && h.Get("WWW-Authenticate") != tc.authenticate {
			t.Errorf("%s: WWW-Authenticate %q, want %q", tc.name, h.Get("WWW-Authenticate"), tc.authenticate)
		}
		if status >= 400 {
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if json.Unmarshal(b, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Errorf("%s: error body %s is not {\"error\": {\"code\", \"message\"}}", tc.name, b)
			}
		}
	}

	// The container health check: exit 0 when ready, 1 when not reachable.
	if _, errOut, code := c.tryRun("healthcheck", "--url", srv.url("/readyz")); code != 0 {
		t.Errorf("oneshot healthcheck of a ready server: exit %d: %s", code, errOut)
	}
	if _, errOut, code := c.tryRun("healthcheck", "--url", "http://127.0.0.1:9/readyz", "--timeout", "2s"); code != 1 || !strings.Contains(errOut, "unhealthy") {
		t.Errorf("oneshot healthcheck of nothing: exit %d, stderr %q; want 1 and the reason", code, errOut)
	}

	tk := api.submit("Write hello.txt", "default")
	if done := api.waitFinal(tk.ID, 60*time.Second); done.State != "completed" {
		t.Fatalf("task ended %q (%s), want completed", done.State, done.Error)
	}
	// The cluster-wide gauges are cached for 2s: wait for the completed count.
	var metrics string
	eventually(t, 15*time.Second, "oneshot_tasks{state=\"completed\"} 1 in /metrics", func() bool {
		metrics = scrape(t, srv)
		return strings.Contains(metrics, `oneshot_tasks{state="completed"} 1`+"\n")
	})
	for _, want := range []string{
		`oneshot_task_duration_seconds_count{outcome="completed"} 1`,
		`oneshot_task_iterations_count{outcome="completed"} 1`,
		`oneshot_phase_duration_seconds_count{outcome="ok",role="worker"} 1`,
		`oneshot_phase_duration_seconds_count{outcome="ok",role="auditor"} 1`,
		`oneshot_tokens_total{direction="input",profile="default",role="worker"}`,
		`oneshot_tokens_total{direction="output",profile="default",role="auditor"}`,
		`oneshot_events_ingested_total`,
		`oneshot_worker_running_tasks 0`,
		`oneshot_workers_alive 1`,
		`oneshot_queue_depth 0`,
		`oneshot_tasks_in_flight 0`,
		`oneshot_store_up 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", grepLines(metrics, "oneshot_"))
	}
}

// scrape returns the process's /metrics.
func scrape(t *testing.T, p *proc) string {
	t.Helper()
	resp, err := http.Get(p.url("/metrics"))
	if err != nil {
		t.Fatalf("scrape %s: %v", p.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d: %s", p.name, resp.StatusCode, b)
	}
	return string(b)
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestCancelRunningTask cancels a task while its agent runs (a command agent that
// starts a grandchild and hangs): the agent's whole process group is gone within 5s
// and the task ends cancelled. On SQLite the agent runs in serve's in-process worker;
// on PostgreSQL in a worker process, so the cancel crosses processes.
func TestCancelRunningTask(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			testCancelRunningTask(t, db == "postgres")
		})
	}
}

func testCancelRunningTask(t *testing.T, postgres bool) {
	record := t.TempDir()
	script := filepath.Join(t.TempDir(), "script.json")
	if err := os.WriteFile(script, []byte(`{"steps": [{"behaviour": "grandchild-hang"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, clusterOptions{Postgres: postgres, Env: []string{"FAKEAGENT_SCRIPT=" + script, "FAKEAGENT_LOG=" + record}})
	var api *client
	if postgres {
		api = c.client(c.start("serve", "serve", "--workers", "0"))
		c.start("worker", "worker", "--concurrency", "1")
	} else {
		api = c.client(c.start("serve", "serve", "--workers", "1"))
	}

	tk := api.submit("Hang until cancelled", "command")
	running := api.waitTask(tk.ID, 30*time.Second, "its agent to run", func(tk task) bool {
		return tk.Agent != nil && tk.Agent.PID > 0
	})
	agentPID := running.Agent.PID
	var grandchild int
	eventually(t, 15*time.Second, "the agent to start its grandchild", func() bool {
		b, err := os.ReadFile(filepath.Join(record, "grandchild.pid"))
		if err != nil {
			return false
		}
		grandchild, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	t.Cleanup(func() { // never leave them behind, whatever the test saw
		for _, pid := range []int{agentPID, grandchild} {
			if alive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	if !alive(agentPID) || !alive(grandchild) {
		t.Fatalf("agent %d alive %v, grandchild %d alive %v: both should run before the cancel", agentPID, alive(agentPID), grandchild, alive(grandchild))
	}
	if pgid, err := syscall.Getpgid(grandchild); err != nil || pgid != agentPID {
		t.Fatalf("grandchild's process group %d (%v), want the agent's %d", pgid, err, agentPID)
	}

	start := time.Now()
	var answer task
	api.must(http.MethodPost, "/api/v1/tasks/"+tk.ID+"/cancel", nil, http.StatusAccepted, &answer)
	if !answer.CancelRequested {
		t.Errorf("cancel answered cancel_requested false")
	}
	eventually(t, 5*time.Second, "the agent's process group to be gone", func() bool {
		return !alive(agentPID) && !alive(grandchild)
	})
	gone := time.Since(start)
	done := api.waitFinal(tk.ID, 5*time.Second)
	t.Logf("cancel → process group gone in %s, task %s in %s", gone.Round(time.Millisecond), done.State, time.Since(start).Round(time.Millisecond))
	if done.State != "cancelled" {
		t.Errorf("task ended %q (%s), want cancelled", done.State, done.Error)
	}
	if done.Agent != nil {
		t.Errorf("cancelled task still shows agent %+v", *done.Agent)
	}
}

// TestWorkerEMF checks that `worker --emf-namespace` prints CloudWatch EMF lines with
// the queue figures on stdout, every emf_interval (2s here rather than the default 60s).
func TestWorkerEMF(t *testing.T) {
	t.Parallel()
	const interval = 2 * time.Second
	c := newCluster(t, clusterOptions{Config: "emf_interval: " + interval.String() + "\n"})
	w := c.startEnv("worker", []string{"ONESHOT_ENVIRONMENT=servicetest"}, "worker", "--concurrency", "1", "--emf-namespace", "Oneshot/test")
	line, ok := w.logs.waitFor(interval+30*time.Second, w.done, func(l logLine) bool {
		return l.Stream == "out" && l.JSON != nil && l.JSON["_aws"] != nil
	})
	if !ok {
		t.Fatalf("no EMF line on the worker's stdout within %s (emf_interval %s)", interval+30*time.Second, interval)
	}
	var emf struct {
		AWS struct {
			Timestamp         int64 `json:"Timestamp"`
			CloudWatchMetrics []struct {
				Namespace  string     `json:"Namespace"`
				Dimensions [][]string `json:"Dimensions"`
				Metrics    []struct {
					Name string `json:"Name"`
					Unit string `json:"Unit"`
				} `json:"Metrics"`
			} `json:"CloudWatchMetrics"`
		} `json:"_aws"`
	}
	if err := json.Unmarshal([]byte(line.Text), &emf); err != nil {
		t.Fatalf("EMF line is not the EMF shape: %v\n%s", err, line.Text)
	}
	if age := time.Since(time.UnixMilli(emf.AWS.Timestamp)); age < 0 || age > time.Minute {
		t.Errorf("EMF Timestamp %d is %s off now, want milliseconds since the epoch", emf.AWS.Timestamp, age)
	}
	if len(emf.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("EMF line has %d metric directives, want 1:\n%s", len(emf.AWS.CloudWatchMetrics), line.Text)
	}
	d := emf.AWS.CloudWatchMetrics[0]
	if d.Namespace != "Oneshot/test" {
		t.Errorf("EMF namespace %q, want Oneshot/test", d.Namespace)
	}
	// Every dimension and metric a directive names must be a member of the line itself.
	for _, set := range d.Dimensions {
		for _, dim := range set {
			if v, ok := line.JSON[dim].(string); !ok || v == "" {
				t.Errorf("dimension %s is not a string member of the line", dim)
			}
		}
	}
	if line.JSON["Environment"] != "servicetest" {
		t.Errorf("Environment %v, want servicetest (ONESHOT_ENVIRONMENT)", line.JSON["Environment"])
	}
	names := map[string]bool{}
	for _, mt := range d.Metrics {
		names[mt.Name] = true
		if _, ok := line.JSON[mt.Name].(float64); !ok {
			t.Errorf("metric %s is not a number member of the line", mt.Name)
		}
	}
	for _, want := range []string{"QueueDepth", "InFlight", "WorkersAlive", "BacklogPerWorker", "OldestQueuedAgeSeconds"} {
		if !names[want] {
			t.Errorf("EMF metrics %v lack %s", names, want)
		}
	}
	if line.JSON["WorkersAlive"] != float64(1) {
		t.Errorf("WorkersAlive %v, want 1 (this worker)", line.JSON["WorkersAlive"])
	}
	if t.Failed() {
		t.Logf("EMF line: %s", line.Text)
	}
}
