package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite: one database file in WAL mode, shared by this process's store and River
// through a pool of ONE connection. SQLite allows one writer at a time; River's
// SQLite driver runs maintenance work in parallel and recommends a single
// connection to avoid SQLITE_BUSY errors. Other processes on the same file (a
// second `oneshot worker`) wait for the lock up to the busy timeout, and write
// transactions take it up front (BEGIN IMMEDIATE), so two processes never deadlock
// upgrading a read lock.
//
// SQLite has no LISTEN/NOTIFY: writes wake this process's subscribers directly, and
// a poller looks every PollInterval for changes other processes made to the tasks
// someone here subscribes to.

const sqliteBusyTimeout = 10 * time.Second

type sqliteEngine struct {
	sqlHandle
	db   *sql.DB
	path string
	*riverJobs[*sql.Tx]
	hub *hub
	log *slog.Logger

	pollInterval time.Duration
	stopPoll     context.CancelFunc
	pollDone     chan struct{}
}

func openSQLite(ctx context.Context, o Options, path string) (Backend, error) {
	q := url.Values{}
	q.Add("_busy_timeout", fmt.Sprint(sqliteBusyTimeout.Milliseconds()))
	q.Add("_journal_mode", "WAL")
	q.Add("_synchronous", "NORMAL")
	q.Add("_foreign_keys", "1")
	q.Add("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open SQLite database %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	// Keep the connection: reopening re-runs the pragmas and loses SQLite's caches.
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open SQLite database %s: %w", path, err)
	}

	e := &sqliteEngine{sqlHandle: sqlHandle{db}, db: db, path: path, hub: newHub(), log: o.Logger, pollInterval: o.PollInterval}
	e.riverJobs, err = newRiverJobs(riversqlite.New(db), o.Logger, func(h handle) *sql.Tx { return h.(sqlTx).tx })
	if err != nil {
		db.Close()
		return nil, err
	}
	migrations, err := loadMigrations(e.kind())
	if err != nil {
		db.Close()
		return nil, err
	}
	pollCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	e.stopPoll, e.pollDone = stop, make(chan struct{})
	go e.poll(pollCtx)
	return &core{engine: e, log: o.Logger, now: o.Now, workerTimeout: o.WorkerTimeout, hub: e.hub, migrations: migrations}, nil
}

func (e *sqliteEngine) kind() string { return "sqlite" }

func (e *sqliteEngine) inTx(ctx context.Context, fn func(tx handle) error) error {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(sqlTx{sqlHandle{tx}, tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (e *sqliteEngine) time(t time.Time) any { return t.UTC().UnixMicro() }

// param is an anonymous "?": SQLite looks numbered parameters up by a linear scan,
// which makes a 4500-argument insert take 100 times longer.
func (e *sqliteEngine) param(int) string { return "?" }

func (e *sqliteEngine) isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// forUpdate is empty: the transaction already holds SQLite's write lock.
func (e *sqliteEngine) forUpdate() string { return "" }

func (e *sqliteEngine) forShare() string { return "" }

func (e *sqliteEngine) tableExistsQuery() string {
	return `SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = $1`
}

// River keeps SQLite times as UTC text ("2006-01-02 15:04:05.000"), which julianday reads.
func (e *sqliteEngine) waitingAgeQuery() string {
	return `SELECT (julianday('now') - julianday(min(scheduled_at))) * 86400.0 FROM river_job
		WHERE kind = $1 AND state = 'available'`
}

// notify has nothing to do: other processes' pollers see the change.
func (e *sqliteEngine) notify(context.Context, handle, []string) error { return nil }

// migrate runs River's migrations and ours in one transaction, which holds SQLite's
// write lock from its start (BEGIN IMMEDIATE): concurrent runs take turns, and a
// failed run leaves nothing half-done.
func (e *sqliteEngine) migrate(ctx context.Context, ours func(tx handle) error) error {
	return e.inTx(ctx, func(tx handle) error {
		if err := e.migrateRiverTx(ctx, tx); err != nil {
			return err
		}
		return ours(tx)
	})
}

func (e *sqliteEngine) newQueue(cfg river.Config) (Queue, error) {
	if cfg.FetchPollInterval == 0 {
		cfg.FetchPollInterval = SQLiteFetchPollInterval
		if cfg.FetchCooldown > cfg.FetchPollInterval {
			cfg.FetchPollInterval = cfg.FetchCooldown
		}
	}
	return e.riverJobs.newQueue(cfg)
}

func (e *sqliteEngine) watch() {}

func (e *sqliteEngine) close() error {
	e.stopPoll()
	<-e.pollDone
	return e.db.Close()
}

// poll wakes subscribers of tasks whose row or events changed since the last look,
// whoever changed them. A task that just got its first subscriber is woken at its
// first look too: a change made between the subscriber's read and that look would
// otherwise go unnoticed.
func (e *sqliteEngine) poll(ctx context.Context) {
	defer close(e.pollDone)
	type version struct{ updated, seq int64 }
	seen := make(map[string]version)
	ticker := time.NewTicker(e.pollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		ids := e.hub.tasks()
		if len(ids) == 0 {
			clear(seen)
			continue
		}
		now := make(map[string]version, len(ids))
		for len(ids) > 0 {
			n := min(len(ids), 500)
			chunk := ids[:n]
			ids = ids[n:]
			args := make([]any, len(chunk))
			marks := make([]string, len(chunk))
			for i, id := range chunk {
				args[i], marks[i] = id, e.param(i+1)
			}
			rs, err := e.query(ctx, `SELECT t.id, t.updated_at, coalesce((SELECT max(seq) FROM events e WHERE e.task_id = t.id), 0)
				FROM tasks t WHERE t.id IN (`+strings.Join(marks, ", ")+`)`, args...)
			if err != nil {
				if ctx.Err() == nil {
					e.log.WarnContext(ctx, "could not look for task changes", "err", err)
				}
				break
			}
			for rs.Next() {
				var (
					id string
					v  version
				)
				if err := rs.Scan(&id, &v.updated, &v.seq); err != nil {
					e.log.WarnContext(ctx, "could not look for task changes", "err", err)
					break
				}
				now[id] = v
			}
			rs.Close()
		}
		var changed []string
		for id, v := range now {
			if old, ok := seen[id]; !ok || old != v {
				changed = append(changed, id)
			}
		}
		seen = now
		e.hub.wake(changed...)
	}
}

// sqlHandle adapts database/sql's pool and transactions to handle.
type sqlHandle struct {
	c interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (h sqlHandle) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := h.c.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (h sqlHandle) query(ctx context.Context, query string, args ...any) (rows, error) {
	rs, err := h.c.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rs}, nil
}

func (h sqlHandle) queryRow(ctx context.Context, query string, args ...any) row {
	return h.c.QueryRowContext(ctx, query, args...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

type sqlTx struct {
	sqlHandle
	tx *sql.Tx
}
