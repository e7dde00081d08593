package runtime

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/oneshot-run/oneshot/internal/config"
	"github.com/oneshot-run/oneshot/internal/executor"
	"github.com/oneshot-run/oneshot/internal/loop"
	"github.com/oneshot-run/oneshot/internal/store"
	"github.com/oneshot-run/oneshot/internal/store/storetest"
)

// Benchmarks of the task runner with agents that answer at once (no-op executors):
//
//	go test -run '^$' -bench . -benchtime 200x ./internal/runtime/
//
// b.N is the number of tasks. Reported: tasks/s (submitted all at once, until all are
// completed), submit→start latency p50/p99 in ms (one task at a time, idle worker:
// from CreateTask to the worker agent's start), and the same database's raw River
// throughput of no-op jobs (river_jobs/s) for comparison.

// noopExecutor answers at once; it reports when the worker of a task starts.
type noopExecutor struct {
	auditor bool
	started func(workdir string)
}

func (n noopExecutor) Run(_ context.Context, req executor.Request, _ executor.Emit) (executor.Result, error) {
	if n.auditor {
		return executor.Result{Text: `{"verdict": "DONE", "feedback": "ok"}`}, nil
	}
	if n.started != nil {
		n.started(req.Workdir)
	}
	return executor.Result{Text: "done"}, nil
}

func noopConfig(slots int) *config.Config {
	cfg := config.Defaults()
	cfg.Profiles = map[string]config.Profile{"default": {
		Worker:  config.Agent{Executor: "command", Command: []string{"noop"}},
		Auditor: config.Agent{Executor: "command", Command: []string{"noop-auditor"}},
	}}
	cfg.Workers = slots
	return cfg
}

func BenchmarkNoopTasks(b *testing.B) {
	for _, db := range storetest.Databases {
		for _, slots := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/workers=%d", db.Kind, slots), func(b *testing.B) {
				o := db.New(b)
				backend := storetest.Migrated(b, o)
				var mu sync.Mutex
				startedAt := map[string]time.Time{}
				onStart := func(workdir string) {
					now := time.Now()
					mu.Lock()
					startedAt[filepath.Base(workdir)] = now
					mu.Unlock()
				}
				rt, err := New(storetest.Open(b, o), Options{
					Config:       noopConfig(slots),
					WorkspaceDir: b.TempDir(),
					NewExecutor: func(s executor.Spec) (executor.Executor, error) {
						return noopExecutor{auditor: s.Command[0] == "noop-auditor", started: onStart}, nil
					},
				})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				if err := rt.Start(ctx); err != nil {
					b.Fatal(err)
				}
				defer rt.Shutdown(ctx)

				// Latency: one task at a time into an idle worker.
				samples := min(b.N, 100)
				var lat []time.Duration
				for i := 0; i < samples; i++ {
					submitted := time.Now()
					task := benchCreate(b, backend)

					waitDone(b, backend, []string{task.ID})
					mu.Lock()
					for dir, at := range startedAt {
						if strings.Contains(dir, safeName(task.ID)) {
							lat = append(lat, at.Sub(submitted))
						}
					}
					mu.Unlock()
					time.Sleep(50 * time.Millisecond) // let the worker go idle again
				}

				// Throughput: submit b.N at once, wait for all.
				b.ResetTimer()
				began := time.Now()
				ids := make([]string, b.N)
				var wg sync.WaitGroup
				const submitters = 4
				for s := 0; s < submitters; s++ {
					wg.Add(1)
					go func(s int) {
						defer wg.Done()
						for i := s; i < b.N; i += submitters {
							ids[i] = benchCreate(b, backend).ID
						}
					}(s)
				}
				wg.Wait()
				waitDone(b, backend, ids)
				elapsed := time.Since(began)
				b.StopTimer()

				slices.Sort(lat)
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tasks/s")
				if len(lat) > 0 {
					b.ReportMetric(ms(lat[len(lat)/2]), "p50_ms")
					b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), "p99_ms")
				}
				b.ReportMetric(rawRiverJobsPerSecond(b, db.Kind, o, slots, b.N), "river_jobs/s")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func benchCreate(b *testing.B, s store.Store) *store.Task {
	task, _, err := s.CreateTask(context.Background(), store.NewTask{
		Spec: store.TaskSpec{Prompt: "noop", Profile: "default"},
		Run:  loop.Run{Task: "noop", MaxIterations: 1},
	})
	if err != nil {
		b.Error(err)
		return &store.Task{}
	}
	return task
}

// waitDone waits until every task is final.
func waitDone(b *testing.B, s store.Store, ids []string) {
	deadline := time.Now().Add(5 * time.Minute)
	for _, id := range ids {
		for {
			t, err := s.GetTask(context.Background(), id)
			if err != nil {
				b.Fatal(err)
			}
			if t.State().Final() {
				if t.State() != loop.Completed {
					b.Fatalf("task %s ended %s: %s", id, t.State(), t.Run.Error)
				}
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("task %s still %s", id, t.State())
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// rawRiver is a no-op River job on the same queue machinery.
type rawArgs struct{}

func (rawArgs) Kind() string { return "bench_noop" }

type rawWorker struct{ river.WorkerDefaults[rawArgs] }

func (rawWorker) Work(context.Context, *river.Job[rawArgs]) error { return nil }

// rawRiverJobsPerSecond inserts n no-op jobs and measures how fast a River client with
// the same settings as the runtime's (slots, fetch cooldown and poll interval) works
// them off, on the same database.
func rawRiverJobsPerSecond(b *testing.B, kind string, o store.Options, slots, n int) float64 {
	ctx := context.Background()
	workers := river.NewWorkers()
	river.AddWorker(workers, rawWorker{})
	cfg := &river.Config{
		ID:                   "bench-raw",
		Queues:               map[string]river.QueueConfig{"bench": {MaxWorkers: slots}},
		Workers:              workers,
		FetchCooldown:        5 * time.Millisecond,
		RescueStuckJobsAfter: time.Hour,
	}
	var (
		start func() error
		stop  func()
		sub   func() (<-chan *river.Event, func())
		ins   func([]river.InsertManyParams) error
	)
	switch kind {
	case "sqlite":
		q := url.Values{}
		q.Add("_busy_timeout", "10000")
		q.Add("_journal_mode", "WAL")
		q.Add("_synchronous", "NORMAL")
		q.Add("_txlock", "immediate")
		db, err := sql.Open("sqlite", filepath.Join(o.DataDir, "oneshot.db")+"?"+q.Encode())
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		cfg.FetchPollInterval = store.SQLiteFetchPollInterval
		c, err := river.NewClient(riversqlite.New(db), cfg)
		if err != nil {
			b.Fatal(err)
		}
		start, stop = func() error { return c.Start(ctx) }, func() { _ = c.Stop(ctx) }
		sub = func() (<-chan *river.Event, func()) { return c.Subscribe(river.EventKindJobCompleted) }
		ins = func(p []river.InsertManyParams) error { _, err := c.InsertMany(ctx, p); return err }
	default:
		pool, err := pgxpool.New(ctx, o.DatabaseURL)
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		c, err := river.NewClient(riverpgxv5.New(pool), cfg)
		if err != nil {
			b.Fatal(err)
		}
		start, stop = func() error { return c.Start(ctx) }, func() { _ = c.Stop(ctx) }
		sub = func() (<-chan *river.Event, func()) { return c.Subscribe(river.EventKindJobCompleted) }
		ins = func(p []river.InsertManyParams) error { _, err := c.InsertMany(ctx, p); return err }
	}
	events, cancel := sub()
	defer cancel()
	params := make([]river.InsertManyParams, n)
	for i := range params {
		params[i] = river.InsertManyParams{Args: rawArgs{}, InsertOpts: &river.InsertOpts{Queue: "bench"}}
	}
	if err := ins(params); err != nil {
		b.Fatal(err)
	}
	began := time.Now()
	if err := start(); err != nil {
		b.Fatal(err)
	}
	defer stop()
	for done := 0; done < n; {
		select {
		case <-events:
			done++
		case <-time.After(time.Minute):
			b.Fatalf("raw River: %d of %d jobs done after a minute", done, n)
		}
	}
	return float64(n) / time.Since(began).Seconds()
}

// BenchmarkIdleWorkerMemory reports the memory an idle runtime adds to its process:
// Go heap in use and the process's resident set (which includes the test binary).
func BenchmarkIdleWorkerMemory(b *testing.B) {
	o := storetest.SQLite(b)
	storetest.Migrated(b, o)
	goruntime.GC()
	var before goruntime.MemStats
	goruntime.ReadMemStats(&before)
	rssBefore := rssBytes()
	rt, err := New(storetest.Open(b, o), Options{Config: noopConfig(4), WorkspaceDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	time.Sleep(2 * time.Second)
	goruntime.GC()
	var after goruntime.MemStats
	goruntime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/(1<<20), "heap_added_MiB")
	b.ReportMetric(float64(rssBytes())/(1<<20), "process_rss_MiB")
	b.ReportMetric(float64(rssBytes()-rssBefore)/(1<<20), "rss_added_MiB")
	b.ReportMetric(0, "ns/op")
}

func rssBytes() uint64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkEventIngestion measures how many activity events per second one chatty agent
// gets stored: agent stdout → command executor → loop → EventWriter → AppendEvents.
// b.N is the number of lines the agent prints.
func BenchmarkEventIngestion(b *testing.B) {
	for _, db := range storetest.Databases {
		b.Run(db.Kind, func(b *testing.B) {
			o := db.New(b)
			backend := storetest.Migrated(b, o)
			exe, err := os.Executable()
			if err != nil {
				b.Fatal(err)
			}
			cfg := noopConfig(1)
			cfg.Profiles["default"] = config.Profile{
				Worker:  config.Agent{Executor: "command", Command: []string{exe, "-fakeagent", "chatty", strconv.Itoa(b.N)}},
				Auditor: config.Agent{Executor: "command", Command: []string{exe, "-fakeagent", "done"}},
			}
			rt, err := New(storetest.Open(b, o), Options{Config: cfg, WorkspaceDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			if err := rt.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer rt.Shutdown(context.Background())
			b.ResetTimer()
			began := time.Now()
			task := benchCreate(b, backend)
			waitDone(b, backend, []string{task.ID})
			elapsed := time.Since(began)
			b.StopTimer()
			stored, after := 0, int64(0)
			for {
				page, err := backend.Events(context.Background(), task.ID, after, 5000)
				if err != nil {
					b.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				stored += len(page)
				after = page[len(page)-1].Seq
			}
			if stored < b.N {
				b.Fatalf("stored %d events, want at least %d", stored, b.N)
			}
			b.ReportMetric(float64(stored)/elapsed.Seconds(), "events/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
