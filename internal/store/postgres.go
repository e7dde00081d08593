package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/oneshot-run/oneshot/internal/activity"
)

// PostgreSQL: a pgx pool shared by the store and River (riverpgxv5, so River's
// LISTEN/NOTIFY gets a new task to a waiting worker at once).
//
// Subscribers in other processes learn of changes through NOTIFY on eventsChannel
// with the task id as payload. Each process holds one LISTEN connection, opened at
// the first Subscribe, that fans notifications out to its subscribers. When that
// connection breaks (a database restart, a failover) it reconnects with backoff
// and then wakes every subscriber, since notifications sent meanwhile are lost.

const (
	eventsChannel = "oneshot_events"
	// defaultPoolSize applies unless the URL sets pool_max_conns.
	defaultPoolSize = 10
	// pgInsertChunk bounds the rows of one event insert.
	pgInsertChunk = 5000
)

type pgEngine struct {
	pgHandle
	pool *pgxpool.Pool
	cfg  *pgxpool.Config
	*riverJobs[pgx.Tx]
	hub *hub
	log *slog.Logger

	mu         sync.Mutex
	listening  bool
	closed     bool
	stopListen context.CancelFunc
	listenDone chan struct{}
}

func openPostgres(ctx context.Context, o Options) (Backend, error) {
	cfg, err := pgxpool.ParseConfig(o.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", redactErr(err, o.DatabaseURL))
	}
	if u, err := url.Parse(o.DatabaseURL); err == nil && !u.Query().Has("pool_max_conns") {
		cfg.MaxConns = defaultPoolSize
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", hostOf(cfg), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", hostOf(cfg), err)
	}
	e := &pgEngine{pgHandle: pgHandle{pool}, pool: pool, cfg: cfg, hub: newHub(), log: o.Logger, listenDone: make(chan struct{})}
	e.riverJobs, err = newRiverJobs(riverpgxv5.New(pool), o.Logger, func(h handle) pgx.Tx { return h.(pgTx).tx })
	if err != nil {
		pool.Close()
		return nil, err
	}
	migrations, err := loadMigrations(e.kind())
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &core{engine: e, log: o.Logger, now: o.Now, workerTimeout: o.WorkerTimeout, hub: e.hub, migrations: migrations}, nil
}

func hostOf(cfg *pgxpool.Config) string {
	return fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
}

// redactErr keeps the password of rawURL out of err's text.
func redactErr(err error, rawURL string) error {
	u, perr := url.Parse(rawURL)
	if perr != nil || u.User == nil {
		return err
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
	}
	return err
}

func (e *pgEngine) kind() string { return "postgres" }

func (e *pgEngine) inTx(ctx context.Context, fn func(tx handle) error) error {
	return pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		return fn(pgTx{pgHandle{tx}, tx})
	})
}

func (e *pgEngine) time(t time.Time) any { return t.UTC() }

func (e *pgEngine) param(i int) string { return "$" + strconv.Itoa(i) }

func (e *pgEngine) isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func (e *pgEngine) forUpdate() string { return " FOR UPDATE" }

func (e *pgEngine) forShare() string { return " FOR SHARE" }

func (e *pgEngine) tableExistsQuery() string { return `SELECT to_regclass($1) IS NOT NULL` }

func (e *pgEngine) waitingAgeQuery() string {
	return `SELECT EXTRACT(EPOCH FROM now() - min(scheduled_at))::float8 FROM river_job
		WHERE kind = $1 AND state = 'available'`
}

// insertEvents stores events within tx with one statement per chunk: arrays in,
// unnest, and a NOTIFY for each task that got new events.
func (e *pgEngine) insertEvents(ctx context.Context, tx handle, events []activity.Event) error {
	for len(events) > 0 {
		chunk := events[:min(len(events), pgInsertChunk)]
		events = events[len(chunk):]
		n := len(chunk)
		var (
			tasks, roles, executors, types, texts, data = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			seqs                                        = make([]int64, n)
			iterations                                  = make([]int32, n)
			stamps                                      = make([]time.Time, n)
		)
		for i, ev := range chunk {
			tasks[i], seqs[i], stamps[i], iterations[i] = ev.Task, ev.Seq, ev.TS, int32(ev.Iteration)
			roles[i], executors[i], types[i], texts[i], data[i] = ev.Role, ev.Executor, string(ev.Type), ev.Text, string(ev.Data)
		}
		_, err := tx.exec(ctx, `WITH inserted AS (
				INSERT INTO events (task_id, seq, ts, iteration, role, executor, type, text, data)
				SELECT t, s, ts, it, r, ex, ty, tx, NULLIF(d, '')::json
				FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::int[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
					AS e(t, s, ts, it, r, ex, ty, tx, d)
				ON CONFLICT (task_id, seq) DO NOTHING
				RETURNING task_id)
			SELECT pg_notify('`+eventsChannel+`', task_id) FROM (SELECT DISTINCT task_id FROM inserted) AS changed`,
			tasks, seqs, stamps, iterations, roles, executors, types, texts, data)
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *pgEngine) notify(ctx context.Context, h handle, tasks []string) error {
	if len(tasks) == 0 {
		return nil
	}
	_, err := h.exec(ctx, `SELECT pg_notify('`+eventsChannel+`', t) FROM unnest($1::text[]) AS t`, tasks)
	return err
}

// migrate holds a session advisory lock on one connection while River's migrations
// (each in its own transaction, on other connections) and ours (in one transaction)
// run, so two `oneshot migrate` runs at once (two deploys) apply each migration once.
func (e *pgEngine) migrate(ctx context.Context, ours func(tx handle) error) error {
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext('oneshot migrate'))`); err != nil {
		return fmt.Errorf("wait for other migrations: %w", err)
	}
	defer func() {
		// A connection that cannot unlock is closed, which releases the lock too.
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext('oneshot migrate'))`); err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	if err := e.migrateRiver(ctx); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		return ours(pgTx{pgHandle{tx}, tx})
	})
}

func (e *pgEngine) newQueue(cfg river.Config) (Queue, error) { return e.riverJobs.newQueue(cfg) }

func (e *pgEngine) watch() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.listening || e.closed {
		return
	}
	e.listening = true
	ctx, cancel := context.WithCancel(context.Background())
	e.stopListen = cancel
	go e.listen(ctx)
}

func (e *pgEngine) close() error {
	e.mu.Lock()
	e.closed = true
	listening := e.listening
	e.mu.Unlock()
	if listening {
		e.stopListen()
		<-e.listenDone
	}
	e.pool.Close()
	return nil
}

// listen keeps a LISTEN connection open until ctx ends, reconnecting with backoff.
func (e *pgEngine) listen(ctx context.Context) {
	defer close(e.listenDone)
	const (
		minBackoff = 100 * time.Millisecond
		maxBackoff = 5 * time.Second
	)
	backoff := minBackoff
	for {
		connected, err := e.listenConn(ctx)
		if ctx.Err() != nil {
			return
		}
		if connected {
			backoff = minBackoff
		}
		e.log.WarnContext(ctx, "lost the connection that listens for task changes; reconnecting",
			"err", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listenConn connects, listens, wakes every subscriber (changes made while no
// connection listened were missed), and relays notifications until the connection
// fails or ctx ends.
func (e *pgEngine) listenConn(ctx context.Context) (connected bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, e.cfg.ConnConfig.Copy())
	if err != nil {
		return false, err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+eventsChannel); err != nil {
		return false, err
	}
	e.hub.wakeAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		e.hub.wake(n.Payload)
	}
}

// pgHandle adapts pgx's pool and transactions to handle.
type pgHandle struct {
	c interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	}
}

func (h pgHandle) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := h.c.Exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (h pgHandle) query(ctx context.Context, query string, args ...any) (rows, error) {
	return h.c.Query(ctx, query, args...)
}

func (h pgHandle) queryRow(ctx context.Context, query string, args ...any) row {
	return h.c.QueryRow(ctx, query, args...)
}

type pgTx struct {
	pgHandle
	tx pgx.Tx
}
