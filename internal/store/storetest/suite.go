package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/executor"
	"github.com/oneshot-run/oneshot/internal/loop"
	"github.com/oneshot-run/oneshot/internal/store"
)

// Run runs the conformance suite: every test gets its own database from newDB.
func Run(t *testing.T, newDB NewDatabase) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newDB NewDatabase)
	}{
		{"Migrate", testMigrate},
		{"SchemaNewer", testSchemaNewer},
		{"CreateGet", testCreateGet},
		{"ListPagination", testListPagination},
		{"ListFilters", testListFilters},
		{"Idempotency", testIdempotency},
		{"IdempotencyConcurrent", testIdempotencyConcurrent},
		{"AttemptsAndFencing", testAttemptsAndFencing},
		{"CancelQueued", testCancelQueued},
		{"CancelRunning", testCancelRunning},
		{"Events", testEvents},
		{"EventsFenced", testEventsFenced},
		{"EventsFencedRacingStartAttempt", testEventsFencedRace},
		{"EventsSanitized", testEventsSanitized},
		{"SubscribeAcrossProcesses", testSubscribeAcrossProcesses},
		{"SubscribeClosesWithContext", testSubscribeCloses},
		{"Status", testStatus},
		{"Workers", testWorkers},
		{"Tokens", testTokens},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newDB)
		})
	}
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newTask is a task as the API would create it.
func newTask(prompt string, labels map[string]string) store.NewTask {
	return store.NewTask{
		Spec: store.TaskSpec{Prompt: prompt, Profile: "default", Labels: labels},
		Run: loop.Run{
			Task: prompt, MaxIterations: 3, State: loop.Queued,
			Worker:  executor.Spec{Executor: "direct", Model: "qwen3"},
			Auditor: executor.Spec{Executor: "direct", Model: "qwen3"},
		},
		CreatedBy:   "alice",
		RequestHash: "hash-of-" + prompt,
	}
}

func mustCreate(t testing.TB, b store.Store, nt store.NewTask) *store.Task {
	t.Helper()
	task, created, err := b.CreateTask(ctxFor(t), nt)
	if err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	if !created {
		t.Fatalf("CreateTask: created = false for a new task")
	}
	return task
}

func testMigrate(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	o := newDB(t)
	b := Open(t, o)

	for name, check := range map[string]func(context.Context) error{"CheckSchema": b.CheckSchema, "Ping": b.Ping} {
		err := check(ctx)
		if !errors.Is(err, store.ErrSchema) || !strings.Contains(err.Error(), "run oneshot migrate") {
			t.Errorf("%s on an empty database = %v, want ErrSchema telling to run oneshot migrate", name, err)
		}
	}
	if _, _, err := b.CreateTask(ctx, newTask("too early", nil)); err == nil {
		t.Errorf("CreateTask on an empty database succeeded")
	}

	// Two processes migrating at once (two deploys) both succeed.
	other := Open(t, o)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, bk := range []store.Backend{b, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = bk.Migrate(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate %d: %v", i, err)
		}
	}
	if err := b.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	if err := b.CheckSchema(ctx); err != nil {
		t.Errorf("CheckSchema after Migrate: %v", err)
	}
	if err := b.Ping(ctx); err != nil {
		t.Errorf("Ping after Migrate: %v", err)
	}
	mustCreate(t, b, newTask("after migrate", nil))
}

func testSchemaNewer(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	o := newDB(t)
	b := Migrated(t, o)
	// A later release migrated the database. The version table is the contract; this
	// test writes to it directly, as that release's migration would.
	if err := bumpSchema(ctx, o); err != nil {
		t.Fatalf("simulate a newer schema: %v", err)
	}
	err := b.CheckSchema(ctx)
	if !errors.Is(err, store.ErrSchema) || !strings.Contains(err.Error(), "upgrade oneshot") {
		t.Errorf("CheckSchema on a newer schema = %v, want ErrSchema telling to upgrade oneshot", err)
	}
	if err := b.Migrate(ctx); !errors.Is(err, store.ErrSchema) {
		t.Errorf("Migrate on a newer schema = %v, want ErrSchema", err)
	}
	// A running process stays ready while a release migrates ahead of replacing it.
	if err := b.Ping(ctx); err != nil {
		t.Errorf("Ping on a newer schema = %v, want nil", err)
	}
}

func testCreateGet(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	b := Migrated(t, newDB(t))
	nt := newTask("fix the flaky test", map[string]string{"team": "infra", "ticket": "OPS-1"})
	nt.ID = "task-create-get"
	nt.TraceContext = map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	nt.Spec.Repo = &store.Repo{URL: "https://example.com/repo.git", Ref: "main"}
	nt.Spec.Priority = 2
	created := mustCreate(t, b, nt)

	got, err := b.GetTask(ctx, nt.ID)
	if err != nil {
		t.Fatalf("GetTask: %v", err)
	}
	if got.ID != nt.ID || got.State() != loop.Queued || got.Attempts != 0 || got.WorkerID != "" || got.CancelRequested {
		t.Errorf("GetTask = id %q state %q attempts %d worker %q cancel %v, want a fresh queued task %q",
			got.ID, got.State(), got.Attempts, got.WorkerID, got.CancelRequested, nt.ID)
	}
	if got.CreatedBy != "alice" || got.Spec.Prompt != nt.Spec.Prompt || got.Spec.Labels["ticket"] != "OPS-1" ||
		got.Spec.Repo == nil || got.Spec.Repo.Ref != "main" || got.Spec.Priority != 2 {
		t.Errorf("GetTask spec/creator = %+v by %q, want what was created", got.Spec, got.CreatedBy)
	}
	if got.TraceContext["traceparent"] != nt.TraceContext["traceparent"] {
		t.Errorf("trace context = %v, want %v", got.TraceContext, nt.TraceContext)
	}
	if got.Run.ID != nt.ID || got.Run.Worker.Model != "qwen3" || got.Run.MaxIterations != 3 || got.Run.CreatedAt.IsZero() {
		t.Errorf("run = %+v, want the initial run with its id and specs", got.Run)
	}
	if !got.CreatedAt.Equal(created.CreatedAt) || got.CreatedAt.IsZero() || time.Since(got.CreatedAt) > time.Minute {
		t.Errorf("created_at = %v, returned at create %v", got.CreatedAt, created.CreatedAt)
	}

	if _, err := b.GetTask(ctx, "no-such-task"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetTask of an unknown id = %v, want ErrNotFound", err)
	}
	if _, _, err := b.CreateTask(ctx, nt); err == nil {
		t.Errorf("CreateTask with an existing id succeeded")
	}
	bad := newTask("bad priority", nil)
	bad.Spec.Priority = 9
	if _, _, err := b.CreateTask(ctx, bad); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CreateTask with priority 9 = %v, want ErrInvalid", err)
	}
	auto := mustCreate(t, b, newTask("no id given", nil))
	if auto.ID == "" || auto.Run.ID != auto.ID {
		t.Errorf("CreateTask without an id gave id %q, run id %q", auto.ID, auto.Run.ID)
	}
}

// newestFirst sorts tasks as ListTasks returns them.
func newestFirst(tasks []*store.Task) []string {
	sorted := slices.Clone(tasks)
	slices.SortFunc(sorted, func(a, b *store.Task) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	ids := make([]string, len(sorted))
	for i, t := range sorted {
		ids[i] = t.ID
	}
	return ids
}

// listAll walks every page of f.
func listAll(t *testing.T, b store.Store, f store.Filter) (ids []string, pages int) {
	t.Helper()
	for {
		tasks, next, err := b.ListTasks(ctxFor(t), f)
		if err != nil {
			t.Fatalf("ListTasks(%+v): %v", f, err)
		}
		pages++
		for _, task := range tasks {
			ids = append(ids, task.ID)
		}
		if next == "" {
			return ids, pages
		}
		if len(tasks) != f.Limit {
			t.Fatalf("page %d has %d tasks and a next cursor; want full pages of %d before the last", pages, len(tasks), f.Limit)
		}
		f.Cursor = next
		if pages > 100 {
			t.Fatalf("pagination does not end")
		}
	}
}

func testListPagination(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	b := Migrated(t, newDB(t))
	var tasks []*store.Task
	for i := range 7 {
		tasks = append(tasks, mustCreate(t, b, newTask(fmt.Sprintf("task %d", i), nil)))
	}
	want := newestFirst(tasks)

	ids, pages := listAll(t, b, store.Filter{Limit: 3})
	if !slices.Equal(ids, want) || pages != 3 {
		t.Errorf("pages of 3 = %v in %d pages, want %v in 3 pages", ids, pages, want)
	}

	// Tasks created while a client pages do not shift the pages it has yet to read.
	first, next, err := b.ListTasks(ctx, store.Filter{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, b, newTask("late arrival", nil))
	rest, _ := listAll(t, b, store.Filter{Limit: 3, Cursor: next})
	got := append([]string{first[0].ID, first[1].ID, first[2].ID}, rest...)
	if !slices.Equal(got, want) {
		t.Errorf("paging while a task is added = %v, want %v", got, want)
	}

	all, _, err := b.ListTasks(ctx, store.Filter{})
	if err != nil || len(all) != 8 {
		t.Errorf("default limit list = %d tasks, %v; want all 8", len(all), err)
	}
	for _, cursor := range []string{"not-a-cursor", "bm9wZQ"} {
		if _, _, err := b.ListTasks(ctx, store.Filter{Cursor: cursor}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ListTasks with cursor %q = %v, want ErrInvalid", cursor, err)
		}
	}
}

func testListFilters(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	b := Migrated(t, newDB(t))
	var infra, running []*store.Task
	for i := range 6 {
		labels := map[string]string{"team": "web"}
		if i%2 == 0 {
			labels = map[string]string{"team": "infra", "query": "a=b"}
		}
		task := mustCreate(t, b, newTask(fmt.Sprintf("task %d", i), labels))
		if i%2 == 0 {
			infra = append(infra, task)
		}
		if i < 3 {
			started, err := b.StartAttempt(ctx, task.ID, "w1")
			if err != nil {
				t.Fatal(err)
			}
			r := started.Run
			r.State = loop.WorkerRunning
			if err := b.SaveRun(ctx, task.ID, started.Attempts, &r); err != nil {
				t.Fatal(err)
			}
			running = append(running, task)
		}
	}
	var infraRunning []*store.Task
	for _, task := range infra {
		if slices.ContainsFunc(running, func(r *store.Task) bool { return r.ID == task.ID }) {
			infraRunning = append(infraRunning, task)
		}
	}

	tests := []struct {
		name   string
		filter store.Filter
		want   []string
	}{
		{"label", store.Filter{Label: "team=infra", Limit: 2}, newestFirst(infra)},
		{"label with = in its value", store.Filter{Label: "query=a=b", Limit: 2}, newestFirst(infra)},
		{"state", store.Filter{State: loop.WorkerRunning, Limit: 2}, newestFirst(running)},
		{"state and label", store.Filter{State: loop.WorkerRunning, Label: "team=infra", Limit: 1}, newestFirst(infraRunning)},
		{"no match", store.Filter{Label: "team=nobody", Limit: 2}, nil},
		{"state without tasks", store.Filter{State: loop.Completed, Limit: 2}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := listAll(t, b, tc.filter)
			if !slices.Equal(got, tc.want) {
				t.Errorf("ListTasks(%+v) = %v, want %v", tc.filter, got, tc.want)
			}
		})
	}
	for _, f := range []store.Filter{{Label: "no-equals-sign"}, {Label: "=value"}, {State: "sleeping"}} {
		if _, _, err := b.ListTasks(ctx, f); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ListTasks(%+v) = %v, want ErrInvalid", f, err)
		}
	}
}

func testIdempotency(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	b := Migrated(t, newDB(t))
	nt := newTask("deploy", nil)
	nt.IdempotencyKey = "key-1"
	first := mustCreate(t, b, nt)

	nt.ID = "" // a retry: the API would mint a new id
	again, created, err := b.CreateTask(ctx, nt)
	if err != nil || created || again.ID != first.ID {
		t.Errorf("retry with the same key and body = %v created=%v err=%v, want task %s created=false", idOf(again), created, err, first.ID)
	}

	changed := nt
	changed.RequestHash = "hash-of-another-body"
	if _, _, err := b.CreateTask(ctx, changed); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same key, different body = %v, want ErrConflict", err)
	}

	// Keys are scoped to their creator.
	bob := nt
	bob.CreatedBy = "bob"
	other, created, err := b.CreateTask(ctx, bob)
	if err != nil || !created || other.ID == first.ID {
		t.Errorf("same key by another creator = %v created=%v err=%v, want a new task", idOf(other), created, err)
	}

	st, err := b.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Counts[loop.Queued] != 2 || st.QueueDepth != 2 {
		t.Errorf("after a replay: %d queued tasks, queue depth %d; want 2 and 2 (a replay enqueues nothing)", st.Counts[loop.Queued], st.QueueDepth)
	}
}

func idOf(t *store.Task) string {
	if t == nil {
		return "<nil>"
	}
	return t.ID
}

func testIdempotencyConcurrent(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	o := newDB(t)
	backends := []store.Backend{Migrated(t, o), Open(t, o)}
	const n = 12
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ids     = map[string]bool{}
		created int
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nt := newTask("same request", nil)
			nt.IdempotencyKey = "retry-storm"
			nt.ID = fmt.Sprintf("attempt-%d", i)
			task, c, err := backends[i%2].CreateTask(ctx, nt)
			if err != nil {
				t.Errorf("concurrent CreateTask %d: %v", i, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			ids[task.ID] = true
			if c {
				created++
			}
		}()
	}
	wg.Wait()
	if len(ids) != 1 || created != 1 {
		t.Errorf("%d concurrent creates with one key gave tasks %v, %d created; want one task created once", n, ids, created)
	}
	tasks, _, err := backends[0].ListTasks(ctx, store.Filter{})
	if err != nil || len(tasks) != 1 {
		t.Errorf("tasks stored = %d (%v), want 1", len(tasks), err)
	}
	st, err := backends[0].Status(ctx)
	if err != nil || st.QueueDepth != 1 {
		t.Errorf("queue depth = %v (%v), want 1 job", st, err)
	}
}

func testAttemptsAndFencing(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	b := Migrated(t, newDB(t))
	task := mustCreate(t, b, newTask("work", nil))

	a1, err := b.StartAttempt(ctx, task.ID, "worker-a")
	if err != nil || a1.Attempts != 1 || a1.WorkerID != "worker-a" {
		t.Fatalf("first StartAttempt = attempts %d worker %q, %v; want 1, worker-a", a1.Attempts, a1.WorkerID, err)
	}
	r := a1.Run
	r.State = loop.WorkerRunning
	if err := b.SaveRun(ctx, task.ID, 1, &r); err != nil {
		t.Fatalf("SaveRun of attempt 1: %v", err)
	}

	// worker-a stored events after its last checkpoint, then died; worker-b takes over.
	if _, err := b.AppendEvents(ctx, []store.EventBatch{{Task: task.ID, Attempt: 1, Events: []activity.Event{{Seq: 1, Type: activity.Message}, {Seq: 2, Type: activity.Message}}}}); err != nil {
		t.Fatal(err)
	}
	a2, err := b.StartAttempt(ctx, task.ID, "worker-b")
	if err != nil || a2.Attempts != 2 || a2.WorkerID != "worker-b" || a2.State() != loop.WorkerRunning {
		t.Fatalf("second StartAttempt = attempts %d worker %q state %s, %v; want 2, worker-b, the checkpointed state", a2.Attempts, a2.WorkerID, a2.State(), err)
	}
	if a2.Run.LastSeq != 2 {
		t.Errorf("second attempt's run starts at seq %d, want 2 (after the dead attempt's stored events)", a2.Run.LastSeq)
	}
	stale := r
	stale.State = loop.AuditPending
	if err := b.SaveRun(ctx, task.ID, 1, &stale); !errors.Is(err, store.ErrFenced) {
		t.Errorf("SaveRun by the superseded attempt = %v, want ErrFenced", err)
	}
	got, _ := b.GetTask(ctx, task.ID)
	if got.State() != loop.WorkerRunning {
		t.Errorf("after a fenced write the state is %s, want worker_running", got.State())
	}

	r2 := a2.Run
	r2.State = loop.Completed
	r2.Result = "done"
	if err := b.SaveRun(ctx, task.ID, 2, &r2); err != nil {
		t.Fatalf("SaveRun completed: %v", err)
	}
	got, _ = b.GetTask(ctx, task.ID)
	if got.State() != loop.Completed || got.Run.Result != "done" {
		t.Errorf("after completing: state %s result %q", got.State(), got.Run.Result)
	}

	// A final task is never moved back, even by its own attempt, nor restarted.
	back := r2
	back.State = loop.WorkerRunning
	if err := b.SaveRun(ctx, task.ID, 2, &back); !errors.Is(err, store.ErrFenced) {
		t.Errorf("SaveRun moving a completed task back = %v, want ErrFenced", err)
	}
	again, err := b.StartAttempt(ctx, task.ID, "worker-c")
	if err != nil || again.Attempts != 2 || again.State() != loop.Completed || again.WorkerID != "worker-b" {
		t.Errorf("StartAttempt on a completed task = attempts %d state %s worker %q, %v; want it unchanged", again.Attempts, again.State(), again.WorkerID, err)
	}

	if _, err := b.StartAttempt(ctx, "no-such-task", "w"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("StartAttempt of an unknown task = %v, want ErrNotFound", err)
	}
	if err := b.SaveRun(ctx, "no-such-task", 1, &r); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SaveRun of an unknown task = %v, want ErrNotFound", err)
	}
}

func testCancelQueued(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	b := Migrated(t, newDB(t))
	task := mustCreate(t, b, newTask("never mind", nil))
	keep := mustCreate(t, b, newTask("keep me", nil))
	// Events a released attempt stored after its last checkpoint.
	if _, err := b.AppendEvents(ctx, Unfenced(activity.Event{Seq: 1, Task: task.ID, Type: activity.Message, Text: "earlier"})); err != nil {
		t.Fatal(err)
	}

	got, err := b.RequestCancel(ctx, task.ID)
	if err != nil {
		t.Fatalf("RequestCancel: %v", err)
	}
	if got.State() != loop.Cancelled || !got.CancelRequested || got.Run.FinishedAt == nil || got.Run.Phase != loop.Queued {
		t.Errorf("RequestCancel of a queued task = state %s cancel %v finished %v phase %q; want cancelled at once",
			got.State(), got.CancelRequested, got.Run.FinishedAt, got.Run.Phase)
	}
	stored, _ := b.GetTask(ctx, task.ID)
	if stored.State() != loop.Cancelled || !stored.CancelRequested {
		t.Errorf("stored task after cancel: state %s cancel %v", stored.State(), stored.CancelRequested)
	}
	events, err := b.Events(ctx, task.ID, 0, 0)
	if err != nil || len(events) != 2 || events[1].Seq != 2 || events[1].Type != activity.State || events[1].Text != "cancelled" {
		t.Errorf("events after cancel = %+v, %v; want the earlier event, then a state event \"cancelled\" (seq 2)", events, err)
	}
	if got.Run.LastSeq != 2 {
		t.Errorf("run's last seq = %d, want 2", got.Run.LastSeq)
	}
	st, err := b.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.QueueDepth != 1 || st.Counts[loop.Cancelled] != 1 || st.Counts[loop.Queued] != 1 {
		t.Errorf("status after cancelling one of two = depth %d counts %v; want the cancelled job gone from the queue", st.QueueDepth, st.Counts)
	}

	// Cancelling again, or cancelling a finished task, changes nothing.
	again, err := b.RequestCancel(ctx, task.ID)
	if err != nil || again.State() != loop.Cancelled || !again.UpdatedAt.Equal(stored.UpdatedAt) {
		t.Errorf("second RequestCancel = %v, %v; want the task unchanged", again, err)
	}
	// A worker that fetched the job just before the cancel cannot revive it.
	late, err := b.StartAttempt(ctx, task.ID, "late-worker")
	if err != nil {
		t.Fatalf("StartAttempt after cancel: %v", err)
	}
	if late.State() != loop.Cancelled || late.Attempts != 0 {
		t.Errorf("StartAttempt after cancel = %+v, %v; want the cancelled task unchanged", late, err)
	}
	r := late.Run
	r.State = loop.WorkerRunning
	if err := b.SaveRun(ctx, task.ID, 0, &r); !errors.Is(err, store.ErrFenced) {
		t.Errorf("SaveRun after cancel = %v, want ErrFenced", err)
	}
	if _, err := b.RequestCancel(ctx, "no-such-task"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RequestCancel of an unknown task = %v, want ErrNotFound", err)
	}
	if k, _ := b.GetTask(ctx, keep.ID); k.State() != loop.Queued || k.CancelRequested {
		t.Errorf("the other task became %s (cancel %v)", k.State(), k.CancelRequested)
	}
}

// testCancelRunning checks that cancelling a running task leaves its state to the
// worker and that River cancels the running job's context.
func testCancelRunning(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	o := newDB(t)
	api := Migrated(t, o)
	worker := Open(t, o) // the worker process

	started := make(chan string, 1)
	stopped := make(chan time.Time, 1)
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[store.TaskArgs]) error {
		task, err := worker.StartAttempt(ctx, job.Args.TaskID, "worker-1")
		if err != nil {
			return err
		}
		r := task.Run
		r.State = loop.WorkerRunning
		if err := worker.SaveRun(ctx, task.ID, task.Attempts, &r); err != nil {
			return err
		}
		started <- task.ID
		<-ctx.Done()
		stopped <- time.Now()
		return ctx.Err()
	}))
	q, err := worker.NewQueue(river.Config{
		ID:      "worker-1",
		Workers: workers,
		Queues:  map[string]river.QueueConfig{store.TaskQueue: {MaxWorkers: 2}},
	})
	if err != nil {
		t.Fatalf("NewQueue: %v", err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatalf("start queue: %v", err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.StopAndCancel(stopCtx); err != nil {
			t.Errorf("stop queue: %v", err)
		}
	})

	task := mustCreate(t, api, newTask("long job", nil))
	select {
	case id := <-started:
		if id != task.ID {
			t.Fatalf("worker started %s, want %s", id, task.ID)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the worker did not start the task within 20s")
	}
	st, err := api.Status(ctx)
	if err != nil || st.InFlight != 1 || st.QueueDepth != 0 {
		t.Errorf("status while running = %+v, %v; want 1 in flight, none queued", st, err)
	}

	cancelAt := time.Now()
	got, err := api.RequestCancel(ctx, task.ID)
	if err != nil {
		t.Fatalf("RequestCancel: %v", err)
	}
	if got.State() != loop.WorkerRunning || !got.CancelRequested {
		t.Errorf("RequestCancel of a running task = state %s cancel %v; want the state left to the worker, cancel requested", got.State(), got.CancelRequested)
	}
	select {
	case at := <-stopped:
		t.Logf("River cancelled the running job's context %v after the request", at.Sub(cancelAt).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatalf("the running job's context was not cancelled within 5s of RequestCancel")
	}
}

func testEvents(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	b := Migrated(t, newDB(t))
	ts := time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC)
	ev := func(task string, seq int64, text string) activity.Event {
		return activity.Event{
			Seq: seq, TS: ts.Add(time.Duration(seq) * time.Millisecond), Task: task, Iteration: 1,
			Role: activity.RoleWorker, Executor: "claude", Type: activity.Message, Text: text,
		}
	}
	original := json.RawMessage(`{"type":"assistant",  "z":1, "a":[1, 2]}`)
	first := []activity.Event{ev("a", 3, "three"), ev("a", 1, "one"), ev("b", 1, "b-one"), ev("a", 2, "two")}
	first[1].Data = original
	if _, err := b.AppendEvents(ctx, Unfenced(first...)); err != nil {
		t.Fatalf("AppendEvents: %v", err)
	}
	// A retried batch overlaps what is stored: duplicates are ignored, the first copy wins.
	if _, err := b.AppendEvents(ctx, Unfenced(ev("a", 2, "two again"), ev("a", 4, "four"))); err != nil {
		t.Fatalf("AppendEvents with duplicates: %v", err)
	}

	got, err := b.Events(ctx, "a", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, e := range got {
		texts = append(texts, fmt.Sprintf("%d:%s", e.Seq, e.Text))
	}
	if want := []string{"1:one", "2:two", "3:three", "4:four"}; !slices.Equal(texts, want) {
		t.Errorf("events of a = %v, want %v", texts, want)
	}
	if e := got[0]; e.Task != "a" || e.Iteration != 1 || e.Role != activity.RoleWorker || e.Executor != "claude" ||
		e.Type != activity.Message || !e.TS.Equal(ts.Add(time.Millisecond).Truncate(time.Microsecond)) {
		t.Errorf("event 1 read back as %+v", e)
	}
	if string(got[0].Data) != string(original) {
		t.Errorf("data = %s, want the agent's original bytes %s", got[0].Data, original)
	}
	if got[1].Data != nil {
		t.Errorf("event without data read back with data %s", got[1].Data)
	}

	after, err := b.Events(ctx, "a", 2, 1)
	if err != nil || len(after) != 1 || after[0].Seq != 3 {
		t.Errorf("Events(after 2, limit 1) = %+v, %v; want seq 3 only", after, err)
	}
	if none, err := b.Events(ctx, "a", 4, 0); err != nil || len(none) != 0 {
		t.Errorf("Events after the last = %+v, %v; want none", none, err)
	}
	if other, err := b.Events(ctx, "b", 0, 0); err != nil || len(other) != 1 || other[0].Text != "b-one" {
		t.Errorf("events of b = %+v, %v", other, err)
	}
	if _, err := b.AppendEvents(ctx, []store.EventBatch{{Events: []activity.Event{{Seq: 1, Type: activity.Message}}}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("AppendEvents of a batch without a task = %v, want ErrInvalid", err)
	}
	if _, err := b.AppendEvents(ctx, []store.EventBatch{{Task: "a", Events: []activity.Event{ev("b", 9, "b's")}}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("AppendEvents of an event of another task than its batch's = %v, want ErrInvalid", err)
	}
	if fenced, err := b.AppendEvents(ctx, nil); err != nil || fenced != nil {
		t.Errorf("AppendEvents(nil) = %v, %v", fenced, err)
	}

	// A chatty agent's batch larger than one statement.
	var many []activity.Event
	for i := range 1234 {
		many = append(many, ev("chatty", int64(i+1), strings.Repeat("x", i%50)))
	}
	if _, err := b.AppendEvents(ctx, Unfenced(many...)); err != nil {
		t.Fatalf("AppendEvents of %d: %v", len(many), err)
	}
	var total int
	for after := int64(0); ; {
		page, err := b.Events(ctx, "chatty", after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.Seq != after+1 {
				t.Fatalf("chatty events out of order: %d after %d", e.Seq, after)
			}
			after = e.Seq
		}
		total += len(page)
	}
	if total != len(many) {
		t.Errorf("read back %d chatty events, want %d", total, len(many))
	}
}

// testEventsFenced: event batches are fenced like checkpoints. A batch of the task's
// current attempt (or an unfenced one) is stored; a batch of a superseded attempt is not,
// and is reported without failing the batches stored with it.
func testEventsFenced(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	b := Migrated(t, newDB(t))
	task := mustCreate(t, b, newTask("fenced events", nil))
	other := mustCreate(t, b, newTask("another task", nil))
	msg := func(seq int64, text string) activity.Event {
		return activity.Event{Seq: seq, TS: time.Now(), Role: activity.RoleWorker, Type: activity.Message, Text: text}
	}
	batch := func(id string, attempt int, events ...activity.Event) store.EventBatch {
		return store.EventBatch{Task: id, Attempt: attempt, Events: events}
	}
	stored := func(id string) []string {
		t.Helper()
		evs, err := b.Events(ctx, id, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, e := range evs {
			texts = append(texts, fmt.Sprintf("%d:%s", e.Seq, e.Text))
		}
		return texts
	}
	fencedOf := func(fenced []store.EventBatch) []string {
		var out []string
		for _, f := range fenced {
			out = append(out, fmt.Sprintf("%s@%d:%d", f.Task, f.Attempt, len(f.Events)))
		}
		return out
	}

	a1, err := b.StartAttempt(ctx, task.ID, "worker-a")
	if err != nil {
		t.Fatal(err)
	}
	fenced, err := b.AppendEvents(ctx, []store.EventBatch{batch(task.ID, a1.Attempts, msg(1, "a1 one"), msg(2, "a1 two"))})
	if err != nil || len(fenced) != 0 {
		t.Fatalf("AppendEvents of the current attempt = fenced %v, %v; want it stored", fencedOf(fenced), err)
	}

	// worker-b takes the task over; worker-a, taken for dead, comes back and writes on.
	a2, err := b.StartAttempt(ctx, task.ID, "worker-b")
	if err != nil || a2.Attempts != 2 {
		t.Fatalf("second StartAttempt = attempts %d, %v", a2.Attempts, err)
	}
	fenced, err = b.AppendEvents(ctx, []store.EventBatch{
		batch(task.ID, a1.Attempts, msg(3, "stale three"), msg(4, "stale four")),
		batch(task.ID, a2.Attempts, msg(3, "a2 three")),
		batch(other.ID, 0, msg(1, "other one")),
	})
	if want := []string{task.ID + "@1:2"}; err != nil || !slices.Equal(fencedOf(fenced), want) {
		t.Errorf("AppendEvents of a stale, a current and an unfenced batch = fenced %v, %v; want %v", fencedOf(fenced), err, want)
	}
	if got, want := stored(task.ID), []string{"1:a1 one", "2:a1 two", "3:a2 three"}; !slices.Equal(got, want) {
		t.Errorf("events of the task = %v, want %v: the superseded attempt's batch must not be stored", got, want)
	}
	if got, want := stored(other.ID), []string{"1:other one"}; !slices.Equal(got, want) {
		t.Errorf("events of the other task = %v, want %v", got, want)
	}

	// Only stale batches: nothing is stored, and that is no error. An attempt the task
	// never had and a task that does not exist are fenced off too.
	fenced, err = b.AppendEvents(ctx, []store.EventBatch{
		batch(task.ID, a1.Attempts, msg(4, "stale four")),
		batch(task.ID, a2.Attempts+1, msg(4, "attempt 3 never started")),
		batch("no-such-task", 1, msg(1, "nobody's")),
	})
	if want := []string{task.ID + "@1:1", task.ID + "@3:1", "no-such-task@1:1"}; err != nil || !slices.Equal(fencedOf(fenced), want) {
		t.Errorf("AppendEvents of stale batches only = fenced %v, %v; want %v", fencedOf(fenced), err, want)
	}
	if evs, _ := b.Events(ctx, "no-such-task", 0, 0); len(evs) != 0 {
		t.Errorf("a fenced batch of an unknown task stored %d events", len(evs))
	}

	// The current attempt still writes once the task is final: its last events may be
	// flushed just after its final checkpoint.
	r := a2.Run
	r.State = loop.Completed
	if err := b.SaveRun(ctx, task.ID, a2.Attempts, &r); err != nil {
		t.Fatal(err)
	}
	fenced, err = b.AppendEvents(ctx, []store.EventBatch{
		batch(task.ID, a2.Attempts, msg(4, "a2 four")),
		batch(task.ID, a1.Attempts, msg(5, "stale five")),
	})
	if want := []string{task.ID + "@1:1"}; err != nil || !slices.Equal(fencedOf(fenced), want) {
		t.Errorf("AppendEvents after the final checkpoint = fenced %v, %v; want %v", fencedOf(fenced), err, want)
	}
	if got, want := stored(task.ID), []string{"1:a1 one", "2:a1 two", "3:a2 three", "4:a2 four"}; !slices.Equal(got, want) {
		t.Errorf("events of the finished task = %v, want %v", got, want)
	}
}

// testEventsFencedRace: an attempt keeps appending events, one batch at a time, while
// another process starts a new attempt. Each of the old attempt's batches is stored
// before the new attempt begins (the LastSeq StartAttempt returns covers it) or not at
// all, so nothing stale lands after the new attempt's first event, and the new attempt's
// seqs never collide with stale ones.
func testEventsFencedRace(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	o := newDB(t)
	b := Migrated(t, o)
	rescuer := Open(t, o)
	for round, wait := range []time.Duration{10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond} {
		task := mustCreate(t, b, newTask(fmt.Sprintf("raced %d", round), nil))
		a1, err := b.StartAttempt(ctx, task.ID, "worker-a")
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			fencedAt int64
			err      error
		}
		done := make(chan result, 1)
		go func() {
			for seq := int64(1); ; seq++ {
				fenced, err := b.AppendEvents(ctx, []store.EventBatch{{Task: task.ID, Attempt: a1.Attempts,
					Events: []activity.Event{{Seq: seq, Type: activity.Message, Text: "stale"}}}})
				if err != nil || len(fenced) > 0 {
					done <- result{seq, err}
					return
				}
			}
		}()
		time.Sleep(wait)
		a2, err := rescuer.StartAttempt(ctx, task.ID, "worker-b")
		if err != nil {
			t.Fatal(err)
		}
		var res result
		select {
		case res = <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: the old attempt's writes were not fenced off within 30s of the new attempt", round)
		}
		if res.err != nil {
			t.Fatalf("round %d: AppendEvents: %v", round, res.err)
		}
		var n, last int64
		for {
			page, err := b.Events(ctx, task.ID, last, store.MaxEventsLimit)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			n, last = n+int64(len(page)), page[len(page)-1].Seq
		}
		t.Logf("round %d: %d batches stored before the new attempt, fenced at seq %d", round, n, res.fencedAt)
		if n != res.fencedAt-1 || last != res.fencedAt-1 {
			t.Errorf("round %d: %d events stored up to seq %d; want every batch before the fenced one (seq %d) and none after",
				round, n, last, res.fencedAt)
		}
		if a2.Run.LastSeq != last {
			t.Errorf("round %d: the new attempt starts after seq %d, but the old attempt's events go up to seq %d", round, a2.Run.LastSeq, last)
		}
	}
}

func testEventsSanitized(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	b := Migrated(t, newDB(t))
	events := []activity.Event{
		{Seq: 1, Task: "s", Type: activity.Stderr, Text: "bad \xff byte and a \x00 NUL"},
		{Seq: 2, Task: "s", Type: activity.Message, Data: json.RawMessage(`{"not": json`)},
		{Seq: 3, Task: "s", Type: activity.Message, Data: json.RawMessage(`{"nul":"\u0000"}`)},
	}
	if _, err := b.AppendEvents(ctx, Unfenced(events...)); err != nil {
		t.Fatalf("AppendEvents of awkward bytes: %v", err)
	}
	got, err := b.Events(ctx, "s", 0, 0)
	if err != nil || len(got) != 3 {
		t.Fatalf("Events = %d, %v; want 3", len(got), err)
	}
	if !strings.HasPrefix(got[0].Text, "bad ") || strings.ContainsRune(got[0].Text, 0) || !strings.Contains(got[0].Text, "NUL") {
		t.Errorf("text = %q, want the line kept with invalid bytes replaced", got[0].Text)
	}
	for _, e := range got[1:] {
		if !json.Valid(e.Data) {
			t.Errorf("data of event %d = %s, want valid JSON", e.Seq, e.Data)
		}
	}
	var kept string
	if err := json.Unmarshal(got[1].Data, &kept); err != nil || kept != `{"not": json` {
		t.Errorf("invalid JSON data kept as %s, want it as a JSON string", got[1].Data)
	}
}

func testSubscribeAcrossProcesses(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	o := newDB(t)
	writer := Migrated(t, o)
	reader := Open(t, o) // another process: the API serving an SSE stream
	task := mustCreate(t, writer, newTask("watched", nil))
	other := mustCreate(t, writer, newTask("not watched", nil))

	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	wake := reader.Subscribe(subCtx, task.ID)
	local := writer.Subscribe(subCtx, task.ID)
	drain := func() {
		// Subscribing may wake once so that a reader re-reads; start from quiet.
		time.Sleep(600 * time.Millisecond)
		for _, ch := range []<-chan struct{}{wake, local} {
			select {
			case <-ch:
			default:
			}
		}
	}
	waitWake := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case _, ok := <-ch:
			if !ok {
				t.Fatalf("%s: subscription closed", what)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no wake-up within 5s", what)
		}
	}

	drain()
	if _, err := writer.AppendEvents(ctx, Unfenced(activity.Event{Seq: 1, Task: task.ID, Type: activity.Message, Text: "hello"})); err != nil {
		t.Fatal(err)
	}
	waitWake("events, same process", local)
	waitWake("events, other process", wake)
	if evs, err := reader.Events(ctx, task.ID, 0, 0); err != nil || len(evs) != 1 {
		t.Errorf("after the wake-up the reader sees %d events (%v), want 1", len(evs), err)
	}

	drain()
	started, err := writer.StartAttempt(ctx, task.ID, "w")
	if err != nil {
		t.Fatal(err)
	}
	r := started.Run
	r.State = loop.WorkerRunning
	if err := writer.SaveRun(ctx, task.ID, started.Attempts, &r); err != nil {
		t.Fatal(err)
	}
	waitWake("state change, other process", wake)

	drain()
	if _, err := writer.AppendEvents(ctx, Unfenced(activity.Event{Seq: 1, Task: other.ID, Type: activity.Message})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
		t.Errorf("a change to another task woke this task's subscriber")
	case <-time.After(time.Second):
	}
}

func testSubscribeCloses(t *testing.T, newDB NewDatabase) {
	b := Migrated(t, newDB(t))
	ctx, cancel := context.WithCancel(ctxFor(t))
	ch := b.Subscribe(ctx, "some-task")
	cancel()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("the subscription was not closed within 5s of its context ending")
		}
	}
}

func testStatus(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	b := Migrated(t, newDB(t))
	st, err := b.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.QueueDepth != 0 || st.InFlight != 0 || st.OldestQueuedAge != 0 || st.WorkersAlive != 0 || st.Counts[loop.Queued] != 0 {
		t.Errorf("status of an empty store = %+v", st)
	}
	if _, ok := st.Counts[loop.Completed]; !ok {
		t.Errorf("counts omit states without tasks: %v; want every state, 0 when empty", st.Counts)
	}

	var ids []string
	for i := range 4 {
		ids = append(ids, mustCreate(t, b, newTask(fmt.Sprintf("t%d", i), nil)).ID)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := b.RequestCancel(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	a, err := b.StartAttempt(ctx, ids[1], "w")
	if err != nil {
		t.Fatal(err)
	}
	r := a.Run
	r.State = loop.Completed
	if err := b.SaveRun(ctx, ids[1], a.Attempts, &r); err != nil {
		t.Fatal(err)
	}
	st, err = b.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Counts[loop.Queued] != 2 || st.Counts[loop.Cancelled] != 1 || st.Counts[loop.Completed] != 1 {
		t.Errorf("counts = %v, want 2 queued, 1 cancelled, 1 completed", st.Counts)
	}
	// Queue depth is River's view: jobs waiting for a worker. The completed task's job
	// was never worked here, so it still waits; the cancelled one does not.
	if st.QueueDepth != 3 {
		t.Errorf("queue depth = %d, want 3", st.QueueDepth)
	}
	if st.OldestQueuedAge < 40*time.Millisecond || st.OldestQueuedAge > time.Minute {
		t.Errorf("oldest queued age = %v, want about the time since the first submission", st.OldestQueuedAge)
	}
}

func testWorkers(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	b := Migrated(t, newDB(t))
	now := time.Now()
	beats := []store.Worker{
		{ID: "alive", Host: "ip-10-0-0-1", Slots: 4, Running: 1},
		{ID: "dead", Host: "ip-10-0-0-2", Slots: 4, Running: 2, LastSeen: now.Add(-time.Minute)},
		{ID: "alive", Host: "ip-10-0-0-1", Slots: 4, Running: 3, Draining: true}, // a later beat of the same worker
	}
	for _, w := range beats {
		if err := b.Heartbeat(ctx, w); err != nil {
			t.Fatalf("Heartbeat(%s): %v", w.ID, err)
		}
	}
	ws, err := b.Workers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || ws[0].ID != "alive" || ws[1].ID != "dead" {
		t.Fatalf("Workers = %+v, want alive and dead", ws)
	}
	if w := ws[0]; w.Running != 3 || !w.Draining || w.Host != "ip-10-0-0-1" || w.Slots != 4 || now.Sub(w.LastSeen).Abs() > 10*time.Second {
		t.Errorf("alive worker = %+v, want its latest heartbeat", w)
	}
	if w := ws[1]; !w.LastSeen.Equal(now.Add(-time.Minute).Truncate(time.Microsecond)) {
		t.Errorf("dead worker last seen %v, want %v", w.LastSeen, now.Add(-time.Minute))
	}
	st, err := b.Status(ctx)
	if err != nil || st.WorkersAlive != 1 {
		t.Errorf("workers alive = %+v, %v; want 1 (the other stopped heartbeating a minute ago)", st, err)
	}
	if err := b.Heartbeat(ctx, store.Worker{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Heartbeat without an id = %v, want ErrInvalid", err)
	}
}

func testTokens(t *testing.T, newDB NewDatabase) {
	ctx := ctxFor(t)
	b := Migrated(t, newDB(t))
	hash := []byte("0123456789abcdef0123456789abcdef")
	if has, err := b.HasTokens(ctx); err != nil || has {
		t.Errorf("HasTokens of a new store = %v, %v; want false", has, err)
	}
	tok, err := b.CreateToken(ctx, "ci", true, hash)
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if tok.ID == "" || tok.Name != "ci" || !tok.Admin || tok.RevokedAt != nil {
		t.Errorf("CreateToken = %+v", tok)
	}
	got, err := b.TokenByHash(ctx, hash)
	if err != nil || got.ID != tok.ID || !got.Admin || got.RevokedAt != nil || !got.CreatedAt.Equal(tok.CreatedAt) {
		t.Errorf("TokenByHash = %+v, %v; want %+v", got, err, tok)
	}
	if _, err := b.TokenByHash(ctx, []byte("another hash")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TokenByHash of an unknown hash = %v, want ErrNotFound", err)
	}
	if _, err := b.CreateToken(ctx, "copy", false, hash); err == nil {
		t.Errorf("CreateToken with an existing hash succeeded")
	}
	if err := b.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	revoked, err := b.TokenByHash(ctx, hash)
	if err != nil || revoked.RevokedAt == nil {
		t.Errorf("after revoking: %+v, %v; want the token with revoked_at set", revoked, err)
	}
	if err := b.RevokeToken(ctx, tok.ID); err != nil {
		t.Errorf("revoking twice = %v, want nil", err)
	}
	if again, _ := b.TokenByHash(ctx, hash); again == nil || again.RevokedAt == nil || !again.RevokedAt.Equal(*revoked.RevokedAt) {
		t.Errorf("revoking twice moved revoked_at")
	}
	if has, err := b.HasTokens(ctx); err != nil || !has {
		t.Errorf("HasTokens with only a revoked token = %v, %v; want true", has, err)
	}
	if err := b.RevokeToken(ctx, "tok_unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeToken of an unknown id = %v, want ErrNotFound", err)
	}
	if _, err := b.CreateToken(ctx, "empty", false, nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CreateToken without a hash = %v, want ErrInvalid", err)
	}
}
