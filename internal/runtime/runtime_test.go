package runtime

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/config"
	"github.com/oneshot-run/oneshot/internal/loop"
	"github.com/oneshot-run/oneshot/internal/metrics"
	"github.com/oneshot-run/oneshot/internal/store"
	"github.com/oneshot-run/oneshot/internal/store/storetest"
)

// forEachDB runs test on SQLite and, when ONESHOT_TEST_DATABASE_URL is set, PostgreSQL.
// newBackend opens another Backend on the same database: another process's view.
func forEachDB(t *testing.T, test func(t *testing.T, newBackend func() store.Backend)) {
	for _, db := range storetest.Databases {
		t.Run(db.Kind, func(t *testing.T) {
			o := db.New(t)
			storetest.Migrated(t, o)
			test(t, func() store.Backend { return storetest.Open(t, o) })
		})
	}
}

// agent is the argv of the test binary playing an agent (see fakeAgent).
func agent(t *testing.T, mode string, args ...string) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{exe, "-fakeagent", mode}, args...)
}

func testConfig(worker, auditor []string) *config.Config {
	cfg := config.Defaults()
	cfg.Profiles = map[string]config.Profile{"default": {
		Worker:        config.Agent{Executor: "command", Command: worker},
		Auditor:       config.Agent{Executor: "command", Command: auditor},
		MaxIterations: 2,
	}}
	cfg.InactivityTimeout = time.Minute
	cfg.MaxTimeout = 5 * time.Minute
	cfg.Workers = 2
	cfg.RescueAfter = time.Minute
	cfg.DrainTimeout = 4 * time.Second
	return cfg
}

// logBuffer collects a runtime's JSON logs for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type started struct {
	*Runtime
	logs      *logBuffer
	workspace string
}

// crash makes r look dead to the others, as a SIGKILLed process would: no heartbeats,
// no reaper, no fetching; its running task just never finishes (until Shutdown).
func (r *started) crash() {
	r.bgCancel()
	r.bgWG.Wait()
	go func() { _ = r.queue.Stop(context.Background()) }() // stops fetching; waits for the hung task
	time.Sleep(50 * time.Millisecond)
}

// start starts a runtime on b; it is shut down when the test ends.
func start(t *testing.T, b store.Backend, cfg *config.Config, tweak func(*Options)) *started {
	t.Helper()
	logs := &logBuffer{}
	o := Options{
		Config:            cfg,
		Logger:            slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		WorkspaceDir:      t.TempDir(),
		HeartbeatInterval: 100 * time.Millisecond,
		RescueInterval:    100 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		Events:            EventWriterOptions{FlushEvery: 20 * time.Millisecond},
	}
	if tweak != nil {
		tweak(&o)
	}
	r, err := New(b, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
		if t.Failed() {
			t.Logf("logs of worker %s:\n%s", r.WorkerID(), logs.String())
		}
	})
	return &started{Runtime: r, logs: logs, workspace: o.WorkspaceDir}
}

func createTask(t *testing.T, b store.Store, prompt string) *store.Task {
	t.Helper()
	task, _, err := b.CreateTask(context.Background(), store.NewTask{
		Spec: store.TaskSpec{Prompt: prompt, Profile: "default"},
		Run:  loop.Run{Task: prompt, MaxIterations: 2, State: loop.Queued},
	})
	if err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	return task
}

// waitTask polls the task until cond holds.
func waitTask(t *testing.T, b store.Store, id string, within time.Duration, what string, cond func(*store.Task) bool) *store.Task {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		task, err := b.GetTask(context.Background(), id)
		if err != nil {
			t.Fatalf("GetTask: %v", err)
		}
		if cond(task) {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: not %s within %s (state %s, attempts %d, worker %s, error %q)",
				id, what, within, task.State(), task.Attempts, task.WorkerID, task.Run.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func inState(states ...loop.State) func(*store.Task) bool {
	return func(t *store.Task) bool {
		for _, s := range states {
			if t.State() == s {
				return true
			}
		}
		return false
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func TestTaskCompletes(t *testing.T) {
	forEachDB(t, func(t *testing.T, newBackend func() store.Backend) {
		b := newBackend()
		runs := filepath.Join(t.TempDir(), "worker-runs")
		m := metrics.New(b)
		rt := start(t, newBackend(), testConfig(agent(t, "answer", "the answer is 42", runs), agent(t, "done")),
			func(o *Options) { o.Metrics = m })
		task := createTask(t, b, "what is six times seven?")

		done := waitTask(t, b, task.ID, 20*time.Second, "completed", inState(loop.Completed, loop.Failed, loop.Rejected))
		if done.State() != loop.Completed {
			t.Fatalf("state = %s (%s), want completed", done.State(), done.Run.Error)
		}
		if done.Attempts != 1 || done.WorkerID != rt.WorkerID() {
			t.Errorf("attempts = %d by %q, want 1 by %s", done.Attempts, done.WorkerID, rt.WorkerID())
		}
		if len(done.Run.Iterations) != 1 || strings.TrimSpace(done.Run.Iterations[0].WorkerResult) != "the answer is 42" {
			t.Errorf("iterations = %+v, want one with the worker's answer", done.Run.Iterations)
		}
		if n := countLines(t, runs); n != 1 {
			t.Errorf("the worker agent ran %d times, want 1", n)
		}
		// The events are stored, in order, ending with the final state.
		events, err := b.Events(context.Background(), task.ID, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) == 0 || events[len(events)-1].Type != activity.State || events[len(events)-1].Text != "completed" {
			t.Fatalf("events end with %+v, want the completed state", events[len(events)-1:])
		}
		var sawAnswer bool
		for i, e := range events {
			if e.Seq != int64(i+1) {
				t.Fatalf("event %d has seq %d: events are missing or out of order", i, e.Seq)
			}
			sawAnswer = sawAnswer || (e.Role == activity.RoleWorker && strings.Contains(e.Text, "the answer is 42"))
		}
		if !sawAnswer {
			t.Error("the worker's output is not among the stored events")
		}
		// The workspace is gone.
		waitFor(t, 2*time.Second, func() bool {
			entries, _ := os.ReadDir(rt.workspace)
			return len(entries) == 0
		})
		// The logs carry the task id and never the prompt.
		logs := rt.logs.String()
		if !strings.Contains(logs, `"task_id":"`+task.ID+`"`) {
			t.Error("the logs do not name the task")
		}
		if strings.Contains(logs, "six times seven") {
			t.Error("the logs contain the prompt")
		}
		if rt.Running() != 0 {
			t.Errorf("Running() = %d after the task finished", rt.Running())
		}
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		for _, want := range []string{
			`oneshot_task_duration_seconds_count{outcome="completed"} 1`,
			`oneshot_phase_duration_seconds_count{outcome="ok",role="worker"} 1`,
			`oneshot_phase_duration_seconds_count{outcome="ok",role="auditor"} 1`,
			`oneshot_tasks{state="completed"} 1`,
			`oneshot_worker_running_tasks 0`,
		} {
			if !strings.Contains(rec.Body.String(), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

func TestUnknownProfileFailsTheTask(t *testing.T) {
	forEachDB(t, func(t *testing.T, newBackend func() store.Backend) {
		b := newBackend()
		start(t, newBackend(), testConfig(agent(t, "answer", "x"), agent(t, "done")), nil)
		task, _, err := b.CreateTask(context.Background(), store.NewTask{
			Spec: store.TaskSpec{Prompt: "p", Profile: "gpu-cluster"},
			Run:  loop.Run{Task: "p", MaxIterations: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		done := waitTask(t, b, task.ID, 10*time.Second, "failed", inState(loop.Failed))
		if !strings.Contains(done.Run.Error, `profile "gpu-cluster" is not configured`) || !strings.Contains(done.Run.Error, "[default]") {
			t.Errorf("error = %q, want one naming the missing profile and the configured ones", done.Run.Error)
		}
	})
}

func TestCancelStopsTheAgentGroupWithinFiveSeconds(t *testing.T) {
	forEachDB(t, func(t *testing.T, newBackend func() store.Backend) {
		b := newBackend()
		pidFile := filepath.Join(t.TempDir(), "pid")
		// The agent ignores SIGTERM: only the kill after the grace can stop it.
		start(t, newBackend(), testConfig(agent(t, "hang", pidFile), agent(t, "done")), nil)
		task := createTask(t, b, "run forever")
		waitFor(t, 20*time.Second, func() bool { _, err := os.Stat(pidFile); return err == nil })
		raw, _ := os.ReadFile(pidFile)
		pgid, err := strconv.Atoi(string(raw))
		if err != nil {
			t.Fatalf("pid file: %q", raw)
		}

		asked := time.Now()
		if _, err := b.RequestCancel(context.Background(), task.ID); err != nil {
			t.Fatal(err)
		}
		for syscall.Kill(-pgid, 0) == nil {
			if time.Since(asked) > 5*time.Second {
				t.Fatalf("the agent's process group %d still exists 5s after the cancel", pgid)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("agent group gone %s after the cancel request", time.Since(asked).Round(time.Millisecond))
		done := waitTask(t, b, task.ID, 5*time.Second, "cancelled", inState(loop.Cancelled))
		if done.Run.FinishedAt == nil {
			t.Error("a cancelled task has no finish time")
		}
	})
}

func TestDrainReleasesAndAnotherWorkerContinuesFromTheCheckpoint(t *testing.T) {
	forEachDB(t, func(t *testing.T, newBackend func() store.Backend) {
		b := newBackend()
		dir := t.TempDir()
		runs := filepath.Join(dir, "worker-runs")
		pidFile := filepath.Join(dir, "auditor-pid")
		// Worker A's auditor never finishes (but honours SIGTERM); its worker phase does.
		cfgA := testConfig(agent(t, "answer", "built it", runs), agent(t, "hang", pidFile, "term"))
		cfgA.DrainTimeout = 3 * time.Second
		a := start(t, newBackend(), cfgA, nil)
		task := createTask(t, b, "build it")
		waitFor(t, 20*time.Second, func() bool { _, err := os.Stat(pidFile); return err == nil })

		began := time.Now()
		if err := a.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		took := time.Since(began)
		if took >= cfgA.DrainTimeout {
			t.Errorf("Shutdown took %s, want less than the drain timeout %s", took, cfgA.DrainTimeout)
		}
		if !a.Draining() {
			t.Error("Draining() = false after Shutdown")
		}
		released := waitTask(t, b, task.ID, 2*time.Second, "released", func(t *store.Task) bool { return !t.State().Final() })
		if len(released.Run.Iterations) != 1 || !released.Run.Iterations[0].WorkerDone {
			t.Fatalf("released run = %+v, want the worker phase done in the checkpoint", released.Run.Iterations)
		}

		// Another process continues from the checkpoint: the worker does not run again.
		bRT := start(t, newBackend(), testConfig(agent(t, "answer", "built it again", runs), agent(t, "done")), nil)
		done := waitTask(t, b, task.ID, 20*time.Second, "completed", inState(loop.Completed, loop.Failed))
		if done.State() != loop.Completed {
			t.Fatalf("state = %s (%s), want completed", done.State(), done.Run.Error)
		}
		if n := countLines(t, runs); n != 1 {
			t.Errorf("the worker agent ran %d times, want 1: its answer was recomputed", n)
		}
		if got := strings.TrimSpace(done.Run.Iterations[0].WorkerResult); got != "built it" {
			t.Errorf("worker result = %q, want the first worker's", got)
		}
		if done.Attempts != 2 || done.WorkerID != bRT.WorkerID() {
			t.Errorf("attempts = %d, worker %s; want 2, %s", done.Attempts, done.WorkerID, bRT.WorkerID())
		}
	})
}

func TestDrainLetsTheCurrentPhaseFinish(t *testing.T) {
	forEachDB(t, func(t *testing.T, newBackend func() store.Backend) {
		b := newBackend()
		dir := t.TempDir()
		gate := filepath.Join(dir, "gate")
		// The worker agent runs until the test opens the gate; the drain deadline is
		// far away, so the phase is allowed to finish and the task is released after it.
		cfg := testConfig([]string{"sh", "-c", "while [ ! -e " + gate + " ]; do sleep 0.05; done; echo finished"}, agent(t, "done"))
		cfg.DrainTimeout = 60 * time.Second
		a := start(t, newBackend(), cfg, nil)
		task := createTask(t, b, "slow work")
		waitTask(t, b, task.ID, 20*time.Second, "running", inState(loop.WorkerRunning))
		time.Sleep(100 * time.Millisecond)

		shut := make(chan error, 1)
		go func() { shut <- a.Shutdown(context.Background()) }()
		time.Sleep(300 * time.Millisecond)
		select {
		case err := <-shut:
			t.Fatalf("Shutdown returned (%v) while the worker phase was still running", err)
		default:
		}
		if err := os.WriteFile(gate, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-shut:
			if err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("Shutdown did not return after the phase finished")
		}
		got, err := b.GetTask(context.Background(), task.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State() != loop.AuditPending || len(got.Run.Iterations) != 1 || !got.Run.Iterations[0].WorkerDone {
			t.Fatalf("after the drain: state %s, iterations %+v; want audit_pending with the worker's result", got.State(), got.Run.Iterations)
		}
		events, _ := b.Events(context.Background(), task.ID, 0, 1000)
		if n := len(events); n == 0 || events[n-1].Text != "audit_pending (released)" || events[n-1].Seq != got.Run.LastSeq {
			t.Errorf("the activity stream does not end with the release: %+v", events[max(0, len(events)-2):])
		}
	})
}

func TestDeadWorkersTaskIsRescuedAndCompletesOnce(t *testing.T) {
	forEachDB(t, func(t *testing.T, newBackend func() store.Backend) {
		b := newBackend()
		dir := t.TempDir()
		pidFile := filepath.Join(dir, "pid")
		cfgA := testConfig(agent(t, "hang", pidFile, "term"), agent(t, "done"))
		cfgA.RescueAfter = time.Second
		a := start(t, newBackend(), cfgA, nil)
		task := createTask(t, b, "dies")
		waitFor(t, 20*time.Second, func() bool { _, err := os.Stat(pidFile); return err == nil })

		// Worker A "dies": it stops heartbeating, fetches nothing more and never
		// finishes the task.
		a.crash()
		died := time.Now()

		cfgB := testConfig(agent(t, "answer", "rescued"), agent(t, "done"))
		cfgB.RescueAfter = time.Second
		bRT := start(t, newBackend(), cfgB, nil)
		waitTask(t, b, task.ID, cfgB.RescueAfter+5*time.Second, "taken over", func(t *store.Task) bool { return t.WorkerID == bRT.WorkerID() })
		t.Logf("rescued %s after worker A's last heartbeat", time.Since(died).Round(time.Millisecond))
		done := waitTask(t, b, task.ID, 20*time.Second, "completed", inState(loop.Completed, loop.Failed))
		if done.State() != loop.Completed || done.Attempts != 2 {
			t.Fatalf("state %s after %d attempts (%s), want completed after 2", done.State(), done.Attempts, done.Run.Error)
		}

		// A's stale attempt now stops: its checkpoint is refused and the task stays as B left it.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
		if !strings.Contains(a.logs.String(), "another attempt took the task over") {
			t.Errorf("worker A's stale checkpoint was not fenced off; its logs:\n%s", a.logs.String())
		}
		after, err := b.GetTask(context.Background(), task.ID)
		if err != nil {
			t.Fatal(err)
		}
		if after.State() != loop.Completed || after.WorkerID != bRT.WorkerID() || after.Attempts != 2 {
			t.Fatalf("after the stale worker stopped: state %s, worker %s, attempts %d", after.State(), after.WorkerID, after.Attempts)
		}
		var completions int
		events, _ := b.Events(context.Background(), task.ID, 0, 1000)
		for _, e := range events {
			if e.Type == activity.State && e.Text == "completed" {
				completions++
			}
		}
		if completions != 1 {
			t.Errorf("%d completed events, want exactly 1", completions)
		}
	})
}

// TestTakenOverAttemptStops: while a worker runs a task, another attempt takes the task
// over (as a rescue does when this process was paused or cut off for rescue_after). The
// stale attempt must stop at once: none of its events are stored after the takeover, its
// agent's process group is gone within seconds, and the task stays as the new attempt
// has it. A printing agent is caught by the store refusing its events, a silent one by
// the watcher seeing the task's attempt counter move on.
func TestTakenOverAttemptStops(t *testing.T) {
	for _, tc := range []struct{ name, mode string }{
		{"printing agent", "drip"},
		{"silent agent", "hang"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, newBackend func() store.Backend) {
				ctx := context.Background()
				b := newBackend()
				pidFile := filepath.Join(t.TempDir(), "pid")
				args := []string{pidFile}
				if tc.mode == "hang" {
					args = append(args, "term")
				}
				a := start(t, newBackend(), testConfig(agent(t, tc.mode, args...), agent(t, "done")), nil)
				task := createTask(t, b, "run until taken over")
				waitFor(t, 20*time.Second, func() bool { _, err := os.Stat(pidFile); return err == nil })
				raw, _ := os.ReadFile(pidFile)
				pgid, err := strconv.Atoi(string(raw))
				if err != nil {
					t.Fatalf("pid file: %q", raw)
				}
				t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
				if tc.mode == "drip" {
					waitFor(t, 10*time.Second, func() bool { evs, _ := b.Events(ctx, task.ID, 0, 0); return len(evs) > 10 })
				} else {
					time.Sleep(200 * time.Millisecond)
				}

				took := time.Now()
				next, err := b.StartAttempt(ctx, task.ID, "worker-b")
				if err != nil || next.Attempts != 2 {
					t.Fatalf("StartAttempt = attempts %d, %v", next.Attempts, err)
				}
				for syscall.Kill(-pgid, 0) == nil {
					if time.Since(took) > 5*time.Second {
						t.Fatalf("the stale attempt's agent group %d still exists 5s after the takeover", pgid)
					}
					time.Sleep(10 * time.Millisecond)
				}
				t.Logf("stale agent gone %s after the takeover", time.Since(took).Round(time.Millisecond))
				waitFor(t, 5*time.Second, func() bool {
					return strings.Contains(a.logs.String(), "another attempt took the task over; this one stops")
				})
				time.Sleep(200 * time.Millisecond) // whatever the stale attempt still writes, let it land

				if late, _ := b.Events(ctx, task.ID, next.Run.LastSeq, 0); len(late) > 0 {
					t.Errorf("%d events of the stale attempt stored after the takeover (seq > %d), e.g. %+v", len(late), next.Run.LastSeq, late[0])
				}
				got, err := b.GetTask(ctx, task.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Attempts != 2 || got.WorkerID != "worker-b" || got.State() != loop.WorkerRunning || got.Run.FinishedAt != nil {
					t.Errorf("after the stale attempt stopped: attempts %d, worker %s, state %s, finished %v; want it as the takeover left it (2, worker-b, worker_running, unfinished)",
						got.Attempts, got.WorkerID, got.State(), got.Run.FinishedAt)
				}
			})
		})
	}
}

// TestHeartbeatGapRechecksRunningTasks: after a gap in its heartbeats (the process was
// paused or cut off) the runtime has every running task's watcher check at once whether
// another attempt took the task over meanwhile.
func TestHeartbeatGapRechecksRunningTasks(t *testing.T) {
	b := storetest.Migrated(t, storetest.SQLite(t))
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	r, err := New(b, Options{
		Config:            testConfig(agent(t, "done"), agent(t, "done")),
		HeartbeatInterval: 100 * time.Millisecond,
		Now:               func() time.Time { return time.Unix(0, now.Load()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := &taskRun{id: "t", recheck: make(chan struct{}, 1)}
	r.tasks[1] = tr
	ctx := context.Background()
	for range 3 {
		if err := r.heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
		now.Add(int64(100 * time.Millisecond))
	}
	select {
	case <-tr.recheck:
		t.Fatal("a recheck was asked for without a gap in the heartbeats")
	default:
	}
	now.Add(int64(time.Second)) // more than three heartbeats missed
	if err := r.heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tr.recheck:
	default:
		t.Fatal("no recheck of the running task after a gap in the heartbeats")
	}
}

func TestTaskThatKeepsKillingWorkersFails(t *testing.T) {
	forEachDB(t, func(t *testing.T, newBackend func() store.Backend) {
		b := newBackend()
		pidFile := filepath.Join(t.TempDir(), "pid")
		cfg := testConfig(agent(t, "hang", pidFile, "term"), agent(t, "done"))
		cfg.RescueAfter = time.Second
		cfg.MaxAttempts = 1
		a := start(t, newBackend(), cfg, nil)
		task := createTask(t, b, "poison")
		waitFor(t, 20*time.Second, func() bool { _, err := os.Stat(pidFile); return err == nil })
		a.crash()

		bRT := start(t, newBackend(), cfg, nil)
		done := waitTask(t, b, task.ID, 10*time.Second, "failed", inState(loop.Failed, loop.Completed))
		want := "gave up after 1 attempt: the task's worker process died each time (last: worker " + a.WorkerID() + ")"
		if done.State() != loop.Failed || done.Run.Error != want {
			t.Fatalf("state %s, error %q; want failed with %q", done.State(), done.Run.Error, want)
		}
		if done.WorkerID != bRT.WorkerID() {
			t.Errorf("worker = %s, want the one that gave up (%s)", done.WorkerID, bRT.WorkerID())
		}
	})
}

func TestHeartbeatsAndReadiness(t *testing.T) {
	forEachDB(t, func(t *testing.T, newBackend func() store.Backend) {
		b := newBackend()
		cfg := testConfig(agent(t, "answer", "x"), agent(t, "done"))
		cfg.EMFNamespace = "Oneshot/test"
		emf := &logBuffer{}
		rt := start(t, newBackend(), cfg, func(o *Options) {
			o.EMFInterval, o.EMFOutput, o.Environment = 50*time.Millisecond, emf, "ci"
		})
		waitFor(t, 5*time.Second, func() bool { return strings.Contains(emf.String(), "\n") })
		line, _, _ := strings.Cut(emf.String(), "\n")
		if !strings.Contains(line, `"Namespace":"Oneshot/test"`) || !strings.Contains(line, `"Environment":"ci"`) ||
			!strings.Contains(line, `"WorkersAlive":1`) || !strings.Contains(line, `"BacklogPerWorker":0`) {
			t.Errorf("EMF line = %s", line)
		}
		ws, err := b.Workers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) != 1 || ws[0].ID != rt.WorkerID() || ws[0].Slots != 2 || ws[0].Draining {
			t.Fatalf("workers = %+v, want this runtime with 2 slots, not draining", ws)
		}
		if rt.Draining() {
			t.Fatal("Draining() before Shutdown")
		}
		if err := rt.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		ws, _ = b.Workers(context.Background())
		if len(ws) != 0 {
			t.Fatalf("workers after a clean shutdown = %+v, want none", ws)
		}
	})
}

func TestTraceJoinsTheStoredContext(t *testing.T) {
	b := storetest.Migrated(t, storetest.SQLite(t))
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	rt := start(t, b, testConfig(agent(t, "answer", "ok"), agent(t, "done")), func(o *Options) { o.TracerProvider = tp })

	const traceHex = "4bf92f3577b34da6a3ce929d0e0e4736"
	task, _, err := b.CreateTask(context.Background(), store.NewTask{
		Spec:         store.TaskSpec{Prompt: "p", Profile: "default"},
		Run:          loop.Run{Task: "p", MaxIterations: 1},
		TraceContext: map[string]string{"traceparent": "00-" + traceHex + "-00f067aa0ba902b7-01"},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitTask(t, b, task.ID, 20*time.Second, "completed", inState(loop.Completed))
	waitFor(t, 2*time.Second, func() bool { return len(rec.Ended()) >= 3 })
	names := map[string]bool{}
	for _, s := range rec.Ended() {
		names[s.Name()] = true
		if s.SpanContext().TraceID().String() != traceHex {
			t.Errorf("span %s is in trace %s, want the task's stored trace %s", s.Name(), s.SpanContext().TraceID(), traceHex)
		}
	}
	for _, want := range []string{"oneshot.task", "oneshot.worker", "oneshot.auditor"} {
		if !names[want] {
			t.Errorf("no %s span; spans: %v", want, names)
		}
	}
	if !strings.Contains(rt.logs.String(), `"trace_id":"`+traceHex+`"`) {
		t.Error("the logs do not carry the task's trace id")
	}
}

// flakyHeartbeats is a backend whose heartbeats fail while fail is set, as during a
// database outage seen by one process.
type flakyHeartbeats struct {
	store.Backend
	fail atomic.Bool
}

func (f *flakyHeartbeats) Heartbeat(ctx context.Context, w store.Worker) error {
	if f.fail.Load() {
		return errors.New("connection refused")
	}
	return f.Backend.Heartbeat(ctx, w)
}

func TestNoRescueRightAfterOwnHeartbeatsFailed(t *testing.T) {
	b := storetest.Migrated(t, storetest.SQLite(t))
	pidFile := filepath.Join(t.TempDir(), "pid")
	cfg := testConfig(agent(t, "hang", pidFile, "term"), agent(t, "done"))
	cfg.RescueAfter = 2 * time.Second
	a := start(t, b, cfg, nil)
	task := createTask(t, b, "long")
	waitFor(t, 20*time.Second, func() bool { _, err := os.Stat(pidFile); return err == nil })

	flaky := &flakyHeartbeats{Backend: b}
	cfgB := testConfig(agent(t, "answer", "x"), agent(t, "done"))
	cfgB.RescueAfter = cfg.RescueAfter
	bRT := start(t, flaky, cfgB, nil)
	flaky.fail.Store(true)
	a.crash() // A goes silent while B cannot reach the database either
	time.Sleep(cfg.RescueAfter + 500*time.Millisecond)
	flaky.fail.Store(false)
	recovered := time.Now()

	// B must first heartbeat healthily for RescueAfter before it takes anyone for dead.
	time.Sleep(cfg.RescueAfter / 2)
	if got, _ := b.GetTask(context.Background(), task.ID); got.WorkerID == bRT.WorkerID() {
		t.Fatalf("B rescued the task %s after its own heartbeats recovered, before RescueAfter (%s)", time.Since(recovered), cfg.RescueAfter)
	}
	waitTask(t, b, task.ID, cfg.RescueAfter+5*time.Second, "rescued by B", func(t *store.Task) bool { return t.WorkerID == bRT.WorkerID() })
}
