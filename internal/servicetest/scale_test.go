package servicetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/oneshot-run/oneshot/internal/fakeopenai"
)

// TestScale runs the production shape on PostgreSQL — `serve --workers 0` and two
// `worker` processes — and submits 50 tasks at once: every task completes exactly once
// (one attempt, one worker and one auditor call, one worker result), and both workers
// take a share.
func TestScale(t *testing.T) {
	t.Parallel()
	const tasks = 50
	m := newModel(t, func(c call) (fakeopenai.Reply, bool) {
		// A little latency per chunk, so that tasks overlap and both workers get some.
		r := fakeopenai.Reply{Content: "fake answer for " + c.Task, ChunkDelay: 20 * time.Millisecond}
		if c.Role == "auditor" {
			r.Content = fakeopenai.VerdictDone
		}
		return r, true
	})
	c := newCluster(t, clusterOptions{Postgres: true, Model: m})
	api := c.client(c.start("serve", "serve", "--workers", "0"))
	w1 := c.start("worker-1", "worker", "--concurrency", "4")
	w2 := c.start("worker-2", "worker", "--concurrency", "4")

	start := time.Now()
	ids := make([]string, tasks)
	var wg sync.WaitGroup
	errs := make(chan error, tasks)
	for i := range tasks {
		wg.Go(func() {
			status, _, b, err := api.do(http.MethodPost, "/api/v1/tasks", map[string]any{
				"prompt": fmt.Sprintf("Task %d of the scale test", i), "profile": "default",
			})
			if err == nil && status != http.StatusCreated {
				err = fmt.Errorf("status %d: %s", status, b)
			}
			var tk task
			if err == nil {
				err = json.Unmarshal(b, &tk)
			}
			if err != nil {
				errs <- fmt.Errorf("submit task %d: %w", i, err)
				return
			}
			ids[i] = tk.ID
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	submitted := time.Since(start)

	st := api.waitStatus(3*time.Minute, func(st status) bool { return st.Counts["completed"] == tasks })
	if st.Counts["completed"] != tasks {
		t.Fatalf("after 3 minutes: counts %v, want %d completed", st.Counts, tasks)
	}
	t.Logf("%d tasks: submitted in %s, all completed after %s", tasks, submitted.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	byWorker := map[string]int{}
	for _, id := range ids {
		tk := api.get(id)
		byWorker[tk.WorkerID]++
		if tk.State != "completed" || tk.Attempts != 1 || len(tk.Iterations) != 1 {
			t.Errorf("task %s: state %q, attempts %d, %d iterations; want completed, 1, 1", id, tk.State, tk.Attempts, len(tk.Iterations))
			continue
		}
		if want := "fake answer for " + id; tk.Iterations[0].WorkerResult != want || tk.Result != want {
			t.Errorf("task %s: worker result %q, result %q; want %q", id, tk.Iterations[0].WorkerResult, tk.Result, want)
		}
		if w, a := m.count(id, "worker"), m.count(id, "auditor"); w != 1 || a != 1 {
			t.Errorf("task %s called the model as worker %d and auditor %d times, want once each", id, w, a)
		}
		results := map[string]int{}
		for _, e := range api.events(id) {
			if e.Type == "result" {
				results[e.Role]++
			}
		}
		if results["worker"] != 1 || results["auditor"] != 1 {
			t.Errorf("task %s: result events by role %v, want one worker and one auditor result", id, results)
		}
	}
	if n := m.tasks(); n != tasks {
		t.Errorf("the model saw calls of %d tasks, want %d", n, tasks)
	}
	if len(m.Requests()) != 2*tasks {
		t.Errorf("the model got %d requests, want %d (a worker and an auditor call per task)", len(m.Requests()), 2*tasks)
	}
	t.Logf("tasks by worker: %v", byWorker)
	if byWorker[w1.workerID] == 0 || byWorker[w2.workerID] == 0 || byWorker[w1.workerID]+byWorker[w2.workerID] != tasks {
		t.Errorf("tasks by worker %v: want both %s and %s to run some, and nobody else", byWorker, w1.workerID, w2.workerID)
	}

	// Each worker process counted the tasks it finished; together, each task once.
	finished := 0
	for _, w := range []*proc{w1, w2} {
		n := metricValue(t, scrape(t, w), `oneshot_task_duration_seconds_count{outcome="completed"}`)
		if n != float64(byWorker[w.workerID]) {
			t.Errorf("%s counted %v completed tasks in /metrics; the API says it ran %d", w.name, n, byWorker[w.workerID])
		}
		finished += int(n)
	}
	if finished != tasks {
		t.Errorf("the workers' metrics count %d completed tasks, want %d", finished, tasks)
	}
}

// metricValue returns the value of the series (name with labels, exactly) in a
// Prometheus text exposition, 0 when absent.
func metricValue(t *testing.T, exposition, series string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(exposition)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("series %s: value %q: %v", series, m[1], err)
	}
	return v
}
