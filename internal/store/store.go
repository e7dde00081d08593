// Package store keeps the service's tasks, their checkpointed runs, activity events,
// API tokens and worker liveness, in SQLite (embedded, the default) or PostgreSQL
// (production, many processes). Both implementations pass the same test suite.
//
// Tasks are queued with River in the same transaction that creates them, so a task is
// never stored without its job or queued without its row.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/loop"
)

// Errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	// ErrFenced: the caller no longer owns the task (another attempt took it over), so its
	// checkpoint was refused. The caller must stop working on the task.
	ErrFenced = errors.New("task is owned by a newer attempt")
	// ErrSchema: the database schema is missing, older or newer than this binary.
	ErrSchema = errors.New("database schema mismatch")
	// ErrConflict: an Idempotency-Key was reused with a different request.
	ErrConflict = errors.New("idempotency key reused with a different request")
	// ErrInvalid: the caller passed something the store cannot use (a malformed cursor
	// or label filter, an unknown state, a priority out of range). The wrapping error
	// says what to fix.
	ErrInvalid = errors.New("invalid request")
)

// TaskArgs are the arguments of the River job that runs a task: only its id, so the
// job row never holds the prompt or anything secret.
type TaskArgs struct {
	TaskID string `json:"task_id"`
}

// Kind is the River job kind of a task.
func (TaskArgs) Kind() string { return "oneshot_task" }

// Repo is a git repository cloned into the task's workspace.
type Repo struct {
	URL string `json:"url"`
	Ref string `json:"ref,omitempty"`
}

// TaskSpec is what a client asked for. It never holds endpoints or keys: the profile
// names them on the server.
type TaskSpec struct {
	Prompt        string            `json:"prompt"`
	Profile       string            `json:"profile"`
	Model         string            `json:"model,omitempty"`
	MaxIterations int               `json:"max_iterations,omitempty"`
	Repo          *Repo             `json:"repo,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Priority      int               `json:"priority,omitempty"` // 1 (highest) to 4, River's range
}

// Task is a stored task.
type Task struct {
	ID   string   `json:"id"`
	Spec TaskSpec `json:"spec"`
	// Run is the loop's checkpoint: state, iterations, verdicts, usage, error.
	Run loop.Run `json:"run"`
	// Attempts counts how many times a worker started the task.
	Attempts int `json:"attempts"`
	// WorkerID is the worker process that ran (or runs) the latest attempt.
	WorkerID        string            `json:"worker_id,omitempty"`
	CancelRequested bool              `json:"cancel_requested,omitempty"`
	TraceContext    map[string]string `json:"trace_context,omitempty"`
	CreatedBy       string            `json:"created_by,omitempty"` // token name
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
}

// State is the task's state (its run's state).
func (t *Task) State() loop.State { return t.Run.State }

// NewTask is the input of CreateTask.
type NewTask struct {
	ID             string
	Spec           TaskSpec
	Run            loop.Run // initial run: state queued, specs resolved from the profile
	CreatedBy      string
	TraceContext   map[string]string
	IdempotencyKey string // optional; scoped to CreatedBy
	// RequestHash identifies the request body, so a reused key with a different body is
	// ErrConflict rather than a silent mismatch.
	RequestHash string
	// MaxAttempts is how many times the task may be started before it fails for good
	// (config max_attempts; 0 means DefaultMaxAttempts). Its River job gets one attempt
	// more, so the worker that finds the cap exceeded can record why the task failed.
	MaxAttempts int
}

// EventBatch is events of one task written by one attempt at it, for AppendEvents.
type EventBatch struct {
	Task string
	// Attempt is the writer's attempt (Task.Attempts as StartAttempt returned it): the
	// batch is stored only while it is the task's current attempt. 0 writes unfenced, for
	// writers that are not an attempt at the task (tests, tools, the store itself).
	Attempt int
	// Events of Task, in any order. An event that names no task is Task's; one that names
	// another task is ErrInvalid.
	Events []activity.Event
}

// Filter selects tasks for ListTasks, newest first.
type Filter struct {
	State  loop.State
	Label  string // "key=value"
	Limit  int
	Cursor string // opaque, from the previous page
}

// Status is a summary for /api/v1/status, metrics and autoscaling.
type Status struct {
	Counts          map[loop.State]int `json:"counts"`
	QueueDepth      int                `json:"queue_depth"`       // tasks waiting for a worker
	InFlight        int                `json:"in_flight"`         // tasks a worker is running
	OldestQueuedAge time.Duration      `json:"oldest_queued_age"` // 0 when the queue is empty
	WorkersAlive    int                `json:"workers_alive"`
}

// Worker is a live worker process, as its heartbeats describe it.
type Worker struct {
	ID       string    `json:"id"`
	Host     string    `json:"host"`
	Slots    int       `json:"slots"`
	Running  int       `json:"running"`
	LastSeen time.Time `json:"last_seen"`
	Draining bool      `json:"draining"`
}

// Token is an API token's record; the secret itself is never stored, only its hash.
type Token struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Admin     bool       `json:"admin"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Store is the service's persistence.
type Store interface {
	// CreateTask stores a task and enqueues it, atomically. With an idempotency key
	// already used by the same creator and request it returns the existing task and
	// created=false.
	CreateTask(ctx context.Context, t NewTask) (task *Task, created bool, err error)
	GetTask(ctx context.Context, id string) (*Task, error)
	ListTasks(ctx context.Context, f Filter) (tasks []*Task, next string, err error)

	// StartAttempt records that worker took the task for a new attempt and returns the
	// task with Attempts incremented. Checkpoints of older attempts are fenced off.
	// A task already in a final state (say, cancelled while it waited) is returned
	// unchanged: the caller must not run it. The returned Run.LastSeq is at least the
	// highest stored event seq, so events of the new attempt never collide with those
	// a dead attempt stored after its last checkpoint.
	StartAttempt(ctx context.Context, id, worker string) (*Task, error)
	// SaveRun checkpoints the run of attempt; ErrFenced when a newer attempt exists or
	// the task already reached a final state (a stale writer never moves it back).
	SaveRun(ctx context.Context, id string, attempt int, r *loop.Run) error
	// RequestCancel marks the task for cancellation and, if it is not running, cancels
	// it at once. It returns the task as it is afterwards.
	RequestCancel(ctx context.Context, id string) (*Task, error)

	// AppendEvents stores batches of events (of any tasks) in one transaction and wakes
	// subscribers. Events with a seq already stored for their task are ignored.
	//
	// Event writes are fenced like checkpoints: a batch with an Attempt is stored only if
	// that attempt is still the task's current one (the check and the insert happen in
	// one transaction that StartAttempt cannot interleave with), so an attempt that was
	// taken for dead and comes back never adds to its successor's activity. Batches
	// refused that way are not an error: they are returned in fenced, and their writer
	// must stop writing (and working) for that attempt. err is about storing the rest;
	// when it is not nil, nothing was stored.
	AppendEvents(ctx context.Context, batches []EventBatch) (fenced []EventBatch, err error)
	// Events returns up to limit events of task with seq > after, in seq order.
	Events(ctx context.Context, task string, after int64, limit int) ([]activity.Event, error)
	// Subscribe returns a channel that receives a value whenever events or the state of
	// task may have changed (across processes: LISTEN/NOTIFY or polling). It is closed
	// when ctx ends.
	Subscribe(ctx context.Context, task string) <-chan struct{}

	Status(ctx context.Context) (*Status, error)
	Heartbeat(ctx context.Context, w Worker) error
	Workers(ctx context.Context) ([]Worker, error)

	CreateToken(ctx context.Context, name string, admin bool, hash []byte) (*Token, error)
	// TokenByHash returns the token with that hash, revoked or not.
	TokenByHash(ctx context.Context, hash []byte) (*Token, error)
	RevokeToken(ctx context.Context, id string) error

	// Ping checks the database is reachable and the schema is current (ErrSchema).
	Ping(ctx context.Context) error
	Close() error
}
