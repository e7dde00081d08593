package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oneshot-run/oneshot/internal/executor"
	"github.com/oneshot-run/oneshot/internal/loop"
	"github.com/oneshot-run/oneshot/internal/store"
)

type fakeStatus struct {
	calls atomic.Int64
	err   error
}

func (f *fakeStatus) Status(context.Context) (*store.Status, error) {
	f.calls.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	return &store.Status{
		Counts:          map[loop.State]int{loop.Queued: 3, loop.Completed: 10, loop.WorkerRunning: 2},
		QueueDepth:      3,
		InFlight:        2,
		OldestQueuedAge: 1500 * time.Millisecond,
		WorkersAlive:    4,
	}, nil
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestExpositionHasTheSeries(t *testing.T) {
	src := &fakeStatus{}
	m := New(src)
	m.TaskStarted()
	m.TaskFinished(loop.Completed, 90*time.Second, 2)
	m.PhaseFinished("worker", "ok", 30*time.Second)
	m.ExecutorError("auditor", executor.Kind(executor.ErrInactivity))
	m.Usage("default", "worker", executor.Usage{InputTokens: 1200, OutputTokens: 340, CostUSD: 0.25})
	m.EventsIngested(500)
	m.JobsRescued(1)
	m.TaskReleased()

	out := scrape(t, m)
	for _, want := range []string{
		`oneshot_tasks{state="queued"} 3`,
		`oneshot_tasks{state="completed"} 10`,
		`oneshot_tasks{state="cancelled"} 0`, // zero states are still exported
		`oneshot_queue_depth 3`,
		`oneshot_queue_oldest_age_seconds 1.5`,
		`oneshot_tasks_in_flight 2`,
		`oneshot_workers_alive 4`,
		`oneshot_store_up 1`,
		`oneshot_worker_running_tasks 1`,
		`oneshot_task_duration_seconds_count{outcome="completed"} 1`,
		`oneshot_task_iterations_sum{outcome="completed"} 2`,
		`oneshot_phase_duration_seconds_count{outcome="ok",role="worker"} 1`,
		`oneshot_executor_errors_total{kind="inactivity",role="auditor"} 1`,
		`oneshot_tokens_total{direction="input",profile="default",role="worker"} 1200`,
		`oneshot_tokens_total{direction="output",profile="default",role="worker"} 340`,
		`oneshot_cost_usd_total{profile="default",role="worker"} 0.25`,
		`oneshot_events_ingested_total 500`,
		`oneshot_jobs_rescued_total 1`,
		`oneshot_tasks_released_total 1`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
}

func TestStatusIsCachedBetweenScrapes(t *testing.T) {
	src := &fakeStatus{}
	now := time.Unix(1000, 0)
	m := New(src, Options{CacheFor: 2 * time.Second, Now: func() time.Time { return now }})
	scrape(t, m)
	scrape(t, m)
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("two scrapes within the cache time queried the store %d times, want 1", n)
	}
	now = now.Add(3 * time.Second)
	scrape(t, m)
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("a scrape after the cache time did not query the store (calls %d)", n)
	}
}

func TestStoreDownStillServesProcessMetrics(t *testing.T) {
	m := New(&fakeStatus{err: errors.New("connection refused")})
	m.EventsIngested(3)
	out := scrape(t, m)
	if !strings.Contains(out, "oneshot_store_up 0") || !strings.Contains(out, "oneshot_events_ingested_total 3") {
		t.Fatalf("with the store down the exposition should say store_up 0 and keep the process series:\n%s", out)
	}
}

func TestNilMetricsCountNothing(t *testing.T) {
	var m *Metrics
	m.TaskStarted()
	m.TaskStopped()
	m.TaskFinished(loop.Failed, time.Second, 1)
	m.PhaseFinished("worker", "failed", time.Second)
	m.ExecutorError("worker", "exit")
	m.Usage("p", "worker", executor.Usage{InputTokens: 1})
	m.EventsIngested(1)
	m.EventsDropped(1)
	m.JobsRescued(1)
	m.TaskReleased()
}
