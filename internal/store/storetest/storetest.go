// Package storetest is the conformance suite every store.Backend passes, and helpers
// that give other packages' tests a real, migrated store on SQLite and, when
// ONESHOT_TEST_DATABASE_URL is set, PostgreSQL.
//
//	storetest.ForEach(t, func(t *testing.T, b store.Backend) { ... })
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/store"
)

// DatabaseURLEnv names the PostgreSQL server the PostgreSQL tests use; they skip when
// it is empty.
const DatabaseURLEnv = "ONESHOT_TEST_DATABASE_URL"

// NewDatabase returns Options that open a fresh, empty database. Every store.Open
// with the same Options reaches the same database, as two processes would.
type NewDatabase func(tb testing.TB) store.Options

// SQLite is a NewDatabase for a SQLite file in a temporary directory.
func SQLite(tb testing.TB) store.Options {
	return store.Options{DataDir: tb.TempDir()}
}

// Postgres is a NewDatabase for a new schema on the server ONESHOT_TEST_DATABASE_URL
// names (dropped when the test ends); it skips the test when the variable is unset.
func Postgres(tb testing.TB) store.Options {
	tb.Helper()
	base := os.Getenv(DatabaseURLEnv)
	if base == "" {
		tb.Skip(DatabaseURLEnv + ` is not set: skipping the PostgreSQL tests (start a throwaway server with: eval "$(bash scripts/test-postgres.sh start)")`)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to %s: %v", DatabaseURLEnv, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "oneshot_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		conn.Close(ctx)
		tb.Fatalf("create test schema: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop test schema %s: %v", schema, err)
		}
		conn.Close(ctx)
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse %s: %v", DatabaseURLEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return store.Options{DatabaseURL: u.String()}
}

// Databases are the databases tests run against, by Backend kind.
var Databases = []struct {
	Kind string
	New  NewDatabase
}{
	{"sqlite", SQLite},
	{"postgres", Postgres},
}

// Open opens a Backend on o and closes it when the test ends.
func Open(tb testing.TB, o store.Options) store.Backend {
	tb.Helper()
	b, err := store.Open(context.Background(), o)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() {
		if err := b.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	return b
}

// Migrated opens a Backend on o, migrates it and closes it when the test ends.
func Migrated(tb testing.TB, o store.Options) store.Backend {
	tb.Helper()
	b := Open(tb, o)
	if err := b.Migrate(context.Background()); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return b
}

// ForEach runs test once per database (as subtests named by kind) with a fresh,
// migrated Backend; the PostgreSQL run skips without ONESHOT_TEST_DATABASE_URL.
func ForEach(t *testing.T, test func(t *testing.T, b store.Backend)) {
	for _, db := range Databases {
		t.Run(db.Kind, func(t *testing.T) {
			test(t, Migrated(t, db.New(t)))
		})
	}
}

// Unfenced groups events into unfenced batches (Attempt 0), one per task in the order
// the tasks first appear, for tests that seed a store with events.
func Unfenced(events ...activity.Event) []store.EventBatch {
	var batches []store.EventBatch
	index := map[string]int{}
	for _, e := range events {
		i, ok := index[e.Task]
		if !ok {
			i = len(batches)
			index[e.Task] = i
			batches = append(batches, store.EventBatch{Task: e.Task})
		}
		batches[i].Events = append(batches[i].Events, e)
	}
	return batches
}

// bumpSchema records a schema version newer than any this binary knows, as a later
// release's `oneshot migrate` would.
func bumpSchema(ctx context.Context, o store.Options) error {
	const insert = `INSERT INTO oneshot_schema (version, applied_at) VALUES (999, $1)`
	if o.DatabaseURL != "" {
		conn, err := pgx.Connect(ctx, o.DatabaseURL)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, insert, time.Now())
		return err
	}
	db, err := sql.Open("sqlite", filepath.Join(o.DataDir, "oneshot.db")+"?_busy_timeout=10000")
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, insert, time.Now().UnixMicro())
	return err
}
