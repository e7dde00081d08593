package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/oneshot-run/oneshot/internal/loop"
	"github.com/oneshot-run/oneshot/internal/store"
	"github.com/oneshot-run/oneshot/internal/store/storetest"
)

// rawSQL runs a statement on the test database behind the store's back, to put River's
// job rows into the states a crash leaves behind.
func rawSQL(t *testing.T, o store.Options, query string, args ...any) {
	t.Helper()
	ctx := context.Background()
	if o.DatabaseURL != "" {
		conn, err := pgx.Connect(ctx, o.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return
	}
	db, err := sql.Open("sqlite", filepath.Join(o.DataDir, "oneshot.db")+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func TestRescueTasks(t *testing.T) {
	for _, db := range storetest.Databases {
		t.Run(db.Kind, func(t *testing.T) {
			o := db.New(t)
			b := storetest.Migrated(t, o)
			ctx := context.Background()
			attemptedBy := func(worker string) string {
				if db.Kind == "postgres" {
					return "ARRAY['" + worker + "']"
				}
				return `jsonb('["` + worker + `"]')`
			}
			// running marks the task's job as being run by worker, as River's fetch does.
			running := func(task *store.Task, worker string) {
				if _, err := b.StartAttempt(ctx, task.ID, worker); err != nil {
					t.Fatal(err)
				}
				rawSQL(t, o, `UPDATE river_job SET state = 'running', attempt = attempt + 1, attempted_by = `+attemptedBy(worker)+
					` WHERE args->>'task_id' = $1`, task.ID)
			}
			create := func() *store.Task {
				task, _, err := b.CreateTask(ctx, store.NewTask{
					Spec: store.TaskSpec{Prompt: "p", Profile: "default"},
					Run:  loop.Run{Task: "p", MaxIterations: 1},
				})
				if err != nil {
					t.Fatal(err)
				}
				return task
			}
			for _, w := range []string{"alive", "dead"} {
				if err := b.Heartbeat(ctx, store.Worker{ID: w, Slots: 1}); err != nil {
					t.Fatal(err)
				}
			}
			// "dead" last heartbeated long ago.
			if err := b.Heartbeat(ctx, store.Worker{ID: "dead", Slots: 1, LastSeen: time.Now().Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}

			ofDead := create()
			running(ofDead, "dead")
			ofAlive := create()
			running(ofAlive, "alive")
			ofUnknown := create() // a worker that never heartbeated (or removed itself) holds it
			running(ofUnknown, "gone")
			// A stale, fenced attempt completed the shared job while "dead" still ran the task.
			orphan := create()
			running(orphan, "dead")
			rawSQL(t, o, `UPDATE river_job SET state = 'completed', finalized_at = created_at WHERE args->>'task_id' = $1`, orphan.ID)
			// A finished task's completed job is left alone.
			finished := create()
			running(finished, "dead")
			ft, _ := b.GetTask(ctx, finished.ID)
			ft.Run.State = loop.Completed
			if err := b.SaveRun(ctx, finished.ID, ft.Attempts, &ft.Run); err != nil {
				t.Fatal(err)
			}
			rawSQL(t, o, `UPDATE river_job SET state = 'completed', finalized_at = created_at WHERE args->>'task_id' = $1`, finished.ID)
			queued := create() // waiting: nothing to rescue

			n, err := b.RescueTasks(ctx, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if n != 3 {
				t.Fatalf("released %d jobs, want 3 (the dead worker's, the unknown worker's and the orphaned one)", n)
			}
			st, err := b.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.InFlight != 1 || st.QueueDepth != 4 {
				t.Errorf("after the rescue: in flight %d, queued %d; want 1 (the live worker's) and 4", st.InFlight, st.QueueDepth)
			}
			n, err = b.RescueTasks(ctx, time.Minute)
			if err != nil || n != 0 {
				t.Fatalf("a second rescue released %d (%v), want 0: rescue must be idempotent", n, err)
			}
			_ = queued

			// A worker that stops cleanly is forgotten; its running job is then rescued.
			if err := b.RemoveWorker(ctx, "alive"); err != nil {
				t.Fatal(err)
			}
			if n, err := b.RescueTasks(ctx, time.Minute); err != nil || n != 1 {
				t.Fatalf("after the live worker was removed, released %d (%v), want 1", n, err)
			}
			ws, _ := b.Workers(ctx)
			for _, w := range ws {
				if w.ID == "alive" {
					t.Error("RemoveWorker left the worker listed")
				}
			}
		})
	}
}
