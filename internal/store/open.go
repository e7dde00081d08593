package store

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/riverqueue/river"
)

// Defaults shared by the store and the runtime.
const (
	// TaskQueue is the River queue tasks are inserted into; a runtime works it by
	// listing it in river.Config.Queues.
	TaskQueue = river.QueueDefault
	// DefaultMaxAttempts is NewTask.MaxAttempts when the caller leaves it 0.
	DefaultMaxAttempts = 5
	// HeartbeatInterval is how often a worker process is expected to call Heartbeat.
	HeartbeatInterval = 5 * time.Second
	// WorkerTimeout is how long after its last heartbeat a worker still counts as
	// alive in Status (three missed heartbeats).
	WorkerTimeout = 3 * HeartbeatInterval
	// DefaultPollInterval is how often SQLite subscribers look for changes made by
	// other processes (PostgreSQL uses LISTEN/NOTIFY instead).
	DefaultPollInterval = 200 * time.Millisecond
	// DefaultFetchCooldown is NewQueue's default River FetchCooldown, the least time
	// between two fetches of one client. River's own default (100 ms) makes a task
	// submitted shortly after another wait up to 100 ms for an idle worker.
	DefaultFetchCooldown = 5 * time.Millisecond
	// SQLiteFetchPollInterval is NewQueue's default River FetchPollInterval on SQLite.
	// River's SQLite driver relays insert notifications through a table it polls
	// every 50 ms; this fallback poll keeps submit→start short even when a
	// notification was rate-limited away.
	SQLiteFetchPollInterval = 100 * time.Millisecond
)

// Options configure Open.
type Options struct {
	// DatabaseURL selects PostgreSQL (postgres:// or postgresql://). Empty means
	// SQLite at DataDir/oneshot.db.
	DatabaseURL string
	// DataDir holds the SQLite database; it is created (0700) when missing.
	DataDir string
	Logger  *slog.Logger
	// WorkerTimeout overrides the package's WorkerTimeout for Status.
	WorkerTimeout time.Duration
	// PollInterval overrides DefaultPollInterval (SQLite subscribers).
	PollInterval time.Duration
	// Now defaults to time.Now (tests).
	Now func() time.Time
}

// Backend is a Store on a concrete database, with what the service's commands need
// around it: migrations, the schema check and River clients on the same database.
type Backend interface {
	Store
	// Migrate brings Oneshot's tables and River's to the versions this binary needs.
	// It is idempotent and safe to run from several processes at once.
	Migrate(ctx context.Context) error
	// CheckSchema returns an error wrapping ErrSchema, saying what to do, when the
	// database is not at exactly the schema this binary needs.
	CheckSchema(ctx context.Context) error
	// NewQueue returns a River client on the same database. The caller sets Workers,
	// Queues and the like in cfg; zero fetch intervals get defaults that suit the
	// database (see SQLiteFetchPollInterval).
	NewQueue(cfg river.Config) (Queue, error)
	// Kind is "sqlite" or "postgres".
	Kind() string
	// HasTokens reports whether any API token was ever created (revoked ones
	// count), so a brand-new installation can mint its first admin token.
	HasTokens(ctx context.Context) (bool, error)
	// RescueTasks and RemoveWorker serve the runtime's worker liveness (rescue.go).
	RescueTasks(ctx context.Context, deadAfter time.Duration) (int, error)
	RemoveWorker(ctx context.Context, id string) error
}

// Queue is a River client that works jobs, without River's transaction type
// parameter.
type Queue interface {
	Start(ctx context.Context) error
	// Stop stops fetching new jobs and waits for running ones to return.
	Stop(ctx context.Context) error
	// StopAndCancel cancels running jobs' contexts, then waits for them to return.
	StopAndCancel(ctx context.Context) error
	// JobCancel cancels a job: at once when it waits, through its context when it runs.
	JobCancel(ctx context.Context, jobID int64) error
	// Stopped is closed when the client has stopped.
	Stopped() <-chan struct{}
}

// Open connects to the database o names. It does not migrate: call Migrate
// (`oneshot migrate`) or CheckSchema before serving.
func Open(ctx context.Context, o Options) (Backend, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.WorkerTimeout <= 0 {
		o.WorkerTimeout = WorkerTimeout
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	switch {
	case strings.HasPrefix(o.DatabaseURL, "postgres://"), strings.HasPrefix(o.DatabaseURL, "postgresql://"):
		return openPostgres(ctx, o)
	case o.DatabaseURL != "":
		return nil, fmt.Errorf("database URL must start with postgres:// or postgresql:// (leave it empty for the embedded SQLite database)")
	}
	if o.DataDir == "" {
		return nil, fmt.Errorf("no data directory for the SQLite database: set --data-dir (or a --database-url for PostgreSQL)")
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", o.DataDir, err)
	}
	return openSQLite(ctx, o, filepath.Join(o.DataDir, "oneshot.db"))
}
