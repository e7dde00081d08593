package store_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/store"
	"github.com/oneshot-run/oneshot/internal/store/storetest"
)

// TestPostgresListenReconnects kills the connection that listens for task changes, as
// a database restart or failover would, and checks that subscribers are woken (they
// may have missed changes) and keep receiving notifications afterwards.
func TestPostgresListenReconnects(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := storetest.Postgres(t)
	u, err := url.Parse(o.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	app := "oneshot-listen-test-" + time.Now().Format("150405.000000")
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	o.DatabaseURL = u.String()

	writer := storetest.Migrated(t, o)
	reader := storetest.Open(t, o)
	task, _, err := writer.CreateTask(ctx, store.NewTask{Spec: store.TaskSpec{Prompt: "p", Profile: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	wake := reader.Subscribe(ctx, task.ID)

	admin, err := pgx.Connect(ctx, o.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	listener := func() int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			var pid int
			err := admin.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
				WHERE application_name = $1 AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`, app).Scan(&pid)
			if err == nil {
				return pid
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("no LISTEN connection showed up within 10s")
		return 0
	}
	waitWake := func(what string) {
		t.Helper()
		select {
		case <-wake:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no wake-up within 5s", what)
		}
	}
	drain := func() {
		time.Sleep(100 * time.Millisecond)
		select {
		case <-wake:
		default:
		}
	}

	first := listener()
	drain()
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, first); err != nil {
		t.Fatal(err)
	}
	waitWake("after losing the LISTEN connection")
	second := listener()
	if second == first {
		t.Fatalf("the LISTEN connection was not replaced")
	}

	drain()
	if _, err := writer.AppendEvents(ctx, storetest.Unfenced(activity.Event{Seq: 1, Task: task.ID, Type: activity.Message, Text: "after reconnect"})); err != nil {
		t.Fatal(err)
	}
	waitWake("an event written after the reconnect")
}
