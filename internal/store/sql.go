package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/loop"
)

// This file is the one implementation of Store that both databases share. The SQL is
// written once in the subset SQLite and PostgreSQL agree on ($n placeholders, row
// values, ON CONFLICT, RETURNING); what differs sits behind engine.

// handle is a connection pool or a transaction, as the shared code uses them.
type handle interface {
	exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	query(ctx context.Context, query string, args ...any) (rows, error)
	queryRow(ctx context.Context, query string, args ...any) row
}

type row interface {
	Scan(dest ...any) error
}

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// engine is what differs between SQLite and PostgreSQL.
type engine interface {
	handle
	kind() string
	// inTx runs fn in a transaction that takes the write lock where the database has
	// one (SQLite), committing when fn returns nil.
	inTx(ctx context.Context, fn func(tx handle) error) error
	// time converts a time to the column representation.
	time(t time.Time) any
	// param is the placeholder of the i-th (from 1) argument in statements with many
	// arguments, each used once, in order.
	param(i int) string
	isUniqueViolation(err error) bool
	// forUpdate is appended to a SELECT that reads a row it then updates.
	forUpdate() string
	// forShare is appended to a SELECT that reads rows which must not change until the
	// transaction ends (SQLite needs nothing: a write transaction holds the database's
	// only write lock from its start).
	forShare() string
	// tableExistsQuery takes a table name ($1) and returns whether it exists.
	tableExistsQuery() string
	// waitingAgeQuery returns, in seconds, how long the oldest available task job
	// has been eligible to run (NULL when there is none).
	waitingAgeQuery() string
	// notify tells other processes that tasks changed; h may be a transaction.
	notify(ctx context.Context, h handle, tasks []string) error
	// insertJob inserts the River job of a task within tx.
	insertJob(ctx context.Context, tx handle, args TaskArgs, opts *river.InsertOpts) (int64, error)
	// cancelJob cancels a River job within tx and returns its state afterwards;
	// ErrNotFound when the job is gone.
	cancelJob(ctx context.Context, tx handle, jobID int64) (rivertype.JobState, error)
	// riverVersions reports River's migration versions: applied and needed.
	riverVersions(ctx context.Context) (applied, needed int, err error)
	// migrate brings River's tables up to date, then runs ours (Oneshot's
	// migrations) in a transaction, with concurrent migrate calls, in this process or
	// another, kept from interleaving.
	migrate(ctx context.Context, ours func(tx handle) error) error
	newQueue(cfg river.Config) (Queue, error)
	// watch is called before the first subscription (PostgreSQL starts LISTEN).
	watch()
	close() error
}

// core implements Backend over an engine.
type core struct {
	engine
	log           *slog.Logger
	now           func() time.Time
	workerTimeout time.Duration
	hub           *hub
	migrations    []migration
}

var _ Backend = (*core)(nil)

func (c *core) Kind() string { return c.kind() }

func (c *core) NewQueue(cfg river.Config) (Queue, error) {
	if cfg.Logger == nil {
		cfg.Logger = c.log
	}
	if cfg.FetchCooldown == 0 {
		cfg.FetchCooldown = DefaultFetchCooldown
	}
	q, err := c.newQueue(cfg)
	if err != nil {
		return nil, fmt.Errorf("create River client on %s: %w", c.kind(), err)
	}
	return q, nil
}

func (c *core) Close() error {
	c.hub.close()
	return c.close()
}

// stamp is the current time at the precision both databases keep (microseconds).
func (c *core) stamp() time.Time { return c.now().UTC().Truncate(time.Microsecond) }

// finalStatesSQL lists the final states (loop.State.Final) as SQL literals, for
// "state NOT IN ...".
const finalStatesSQL = "('completed', 'rejected', 'failed', 'cancelled', 'interrupted')"

// allStates are the loop's states, for Status counts.
var allStates = []loop.State{
	loop.Queued, loop.WorkerRunning, loop.AuditPending, loop.AuditorRunning,
	loop.ReiterationPending, loop.Completed, loop.Rejected, loop.Failed,
	loop.Cancelled, loop.Interrupted,
}

// taskColumns are what scanTask reads, qualified with the alias t; RETURNING clauses
// (where SQLite accepts no alias) use returnTaskColumns.
const (
	taskColumns       = "t.id, t.spec, t.run, t.attempts, t.worker_id, t.cancel_requested, t.trace_context, t.created_by, t.created_at, t.updated_at"
	returnTaskColumns = "id, spec, run, attempts, worker_id, cancel_requested, trace_context, created_by, created_at, updated_at"
)

func scanTask(r row, extra ...any) (*Task, error) {
	var (
		t                  Task
		spec, run, traceCx []byte
	)
	dest := append([]any{&t.ID, &spec, &run, &t.Attempts, &t.WorkerID, &t.CancelRequested, &traceCx, &t.CreatedBy,
		timestamp{&t.CreatedAt}, timestamp{&t.UpdatedAt}}, extra...)
	if err := r.Scan(dest...); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(spec, &t.Spec); err != nil {
		return nil, fmt.Errorf("task %s has an unreadable spec: %w", t.ID, err)
	}
	if err := json.Unmarshal(run, &t.Run); err != nil {
		return nil, fmt.Errorf("task %s has an unreadable run: %w", t.ID, err)
	}
	if len(traceCx) > 0 {
		if err := json.Unmarshal(traceCx, &t.TraceContext); err != nil {
			return nil, fmt.Errorf("task %s has an unreadable trace context: %w", t.ID, err)
		}
	}
	return &t, nil
}

func (c *core) CreateTask(ctx context.Context, nt NewTask) (*Task, bool, error) {
	if nt.ID == "" {
		nt.ID = newID("t_")
	}
	priority := nt.Spec.Priority
	if priority == 0 {
		priority = river.PriorityDefault
	}
	if priority < 1 || priority > 4 {
		return nil, false, fmt.Errorf("%w: priority must be 1 (highest) to 4, got %d", ErrInvalid, priority)
	}
	maxAttempts := nt.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = DefaultMaxAttempts
	}
	if nt.IdempotencyKey != "" {
		if t, err := c.replay(ctx, nt); err == nil || !errors.Is(err, ErrNotFound) {
			return t, false, err
		}
	}

	now := c.stamp()
	r := nt.Run
	if r.ID == "" {
		r.ID = nt.ID
	}
	if r.State == "" {
		r.State = loop.Queued
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = now
	}
	spec, err := json.Marshal(nt.Spec)
	if err != nil {
		return nil, false, fmt.Errorf("encode spec of task %s: %w", nt.ID, err)
	}
	run, err := json.Marshal(&r)
	if err != nil {
		return nil, false, fmt.Errorf("encode run of task %s: %w", nt.ID, err)
	}
	var traceCx, key any
	if len(nt.TraceContext) > 0 {
		b, err := json.Marshal(nt.TraceContext)
		if err != nil {
			return nil, false, fmt.Errorf("encode trace context of task %s: %w", nt.ID, err)
		}
		traceCx = string(b)
	}
	if nt.IdempotencyKey != "" {
		key = nt.IdempotencyKey
	}

	err = c.inTx(ctx, func(tx handle) error {
		jobID, err := c.insertJob(ctx, tx, TaskArgs{TaskID: nt.ID}, &river.InsertOpts{
			MaxAttempts: maxAttempts + 1,
			Priority:    priority,
			Queue:       TaskQueue,
		})
		if err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
		_, err = tx.exec(ctx, `INSERT INTO tasks (id, spec, run, state, attempts, worker_id, cancel_requested,
				trace_context, created_by, idempotency_key, request_hash, river_job_id, created_at, updated_at)
			VALUES ($1, $2, $3, $4, 0, '', false, $5, $6, $7, $8, $9, $10, $10)`,
			nt.ID, string(spec), string(run), string(r.State), traceCx, nt.CreatedBy, key, nt.RequestHash, jobID, c.time(now))
		if err != nil {
			return err
		}
		return c.insertLabels(ctx, tx, nt.ID, nt.Spec.Labels, now)
	})
	if err != nil {
		if c.isUniqueViolation(err) && nt.IdempotencyKey != "" {
			// Another request with the same key won the race: answer as a replay.
			if t, rerr := c.replay(ctx, nt); rerr == nil || !errors.Is(rerr, ErrNotFound) {
				return t, false, rerr
			}
		}
		if c.isUniqueViolation(err) {
			return nil, false, fmt.Errorf("create task %s: a task with this id already exists: %w", nt.ID, err)
		}
		return nil, false, fmt.Errorf("create task %s: %w", nt.ID, err)
	}
	return &Task{
		ID: nt.ID, Spec: nt.Spec, Run: r, CreatedBy: nt.CreatedBy, TraceContext: nt.TraceContext,
		CreatedAt: now, UpdatedAt: now,
	}, true, nil
}

// replay returns the task created earlier with nt's idempotency key: ErrNotFound when
// there is none, ErrConflict when it was created from a different request.
func (c *core) replay(ctx context.Context, nt NewTask) (*Task, error) {
	var hash string
	t, err := scanTask(c.queryRow(ctx, `SELECT `+taskColumns+`, t.request_hash FROM tasks t
		WHERE t.created_by = $1 AND t.idempotency_key = $2`, nt.CreatedBy, nt.IdempotencyKey), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("look up idempotency key: %w", err)
	}
	if hash != nt.RequestHash {
		return nil, fmt.Errorf("%w: key %q already created task %s from another request body; use a new key for a new task",
			ErrConflict, nt.IdempotencyKey, t.ID)
	}
	return t, nil
}

func (c *core) insertLabels(ctx context.Context, tx handle, id string, labels map[string]string, created time.Time) error {
	if len(labels) == 0 {
		return nil
	}
	var (
		b    strings.Builder
		args = make([]any, 0, 2+2*len(labels))
	)
	args = append(args, id, c.time(created))
	b.WriteString("INSERT INTO task_labels (task_id, key, value, created_at) VALUES ")
	i := 0
	for k, v := range labels {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "($1, $%d, $%d, $2)", len(args)+1, len(args)+2)
		args = append(args, k, v)
		i++
	}
	_, err := tx.exec(ctx, b.String(), args...)
	if err != nil {
		return fmt.Errorf("store labels: %w", err)
	}
	return nil
}

func (c *core) GetTask(ctx context.Context, id string) (*Task, error) {
	t, err := scanTask(c.queryRow(ctx, `SELECT `+taskColumns+` FROM tasks t WHERE t.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("task %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read task %s: %w", id, err)
	}
	return t, nil
}

// List limits.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

func (c *core) ListTasks(ctx context.Context, f Filter) ([]*Task, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	if f.State != "" && !f.State.Valid() {
		return nil, "", fmt.Errorf("%w: unknown state %q", ErrInvalid, f.State)
	}

	var (
		where []string
		args  []any
		arg   = func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
		from  = "tasks t"
		order = "t.created_at DESC, t.id DESC"
		after = "(t.created_at, t.id)"
	)
	if f.Label != "" {
		key, value, ok := strings.Cut(f.Label, "=")
		if !ok || key == "" {
			return nil, "", fmt.Errorf("%w: label filter %q must be key=value", ErrInvalid, f.Label)
		}
		// The label index serves both the match and the newest-first order.
		from = "task_labels l JOIN tasks t ON t.id = l.task_id"
		order = "l.created_at DESC, l.task_id DESC"
		after = "(l.created_at, l.task_id)"
		where = append(where, "l.key = "+arg(key), "l.value = "+arg(value))
	}
	if f.State != "" {
		where = append(where, "t.state = "+arg(string(f.State)))
	}
	if f.Cursor != "" {
		created, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, after+" < ("+arg(c.time(created))+", "+arg(id)+")")
	}
	q := "SELECT " + taskColumns + " FROM " + from
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + order + " LIMIT " + arg(limit+1)

	rs, err := c.query(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list tasks: %w", err)
	}
	defer rs.Close()
	var tasks []*Task
	for rs.Next() {
		t, err := scanTask(rs)
		if err != nil {
			return nil, "", fmt.Errorf("list tasks: %w", err)
		}
		tasks = append(tasks, t)
	}
	if err := rs.Err(); err != nil {
		return nil, "", fmt.Errorf("list tasks: %w", err)
	}
	next := ""
	if len(tasks) > limit {
		tasks = tasks[:limit]
		last := tasks[limit-1]
		next = encodeCursor(last.CreatedAt, last.ID)
	}
	return tasks, next, nil
}

// A cursor is the (created_at, id) of the last task of a page, which the next page
// starts after: stable while tasks are added, since new ones sort first.
func encodeCursor(created time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(created.UnixMicro(), 10) + "," + id))
}

func decodeCursor(s string) (time.Time, string, error) {
	bad := fmt.Errorf("%w: cursor %q is not one this server returned; start again without a cursor", ErrInvalid, s)
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", bad
	}
	micros, id, ok := strings.Cut(string(raw), ",")
	if !ok || id == "" {
		return time.Time{}, "", bad
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return time.Time{}, "", bad
	}
	return time.UnixMicro(us).UTC(), id, nil
}

func (c *core) StartAttempt(ctx context.Context, id, worker string) (*Task, error) {
	t, err := scanTask(c.queryRow(ctx, `UPDATE tasks SET attempts = attempts + 1, worker_id = $2, updated_at = $3
		WHERE id = $1 AND state NOT IN `+finalStatesSQL+` RETURNING `+returnTaskColumns, id, worker, c.time(c.stamp())))
	if errors.Is(err, sql.ErrNoRows) {
		// Unknown, or final: GetTask tells which.
		return c.GetTask(ctx, id)
	}
	if err != nil {
		return nil, fmt.Errorf("start attempt on task %s: %w", id, err)
	}
	// A dead attempt may have stored events after its last checkpoint; numbering
	// this attempt's events after them keeps them from being dropped as duplicates.
	last, err := c.lastSeq(ctx, c, id)
	if err != nil {
		return nil, fmt.Errorf("start attempt on task %s: %w", id, err)
	}
	t.Run.LastSeq = max(t.Run.LastSeq, last)
	// The attempt it supersedes, if that one still runs somewhere, learns of it at once
	// (its runtime watches the task), as do event streams (the task's worker changed).
	c.changed(ctx, id)
	return t, nil
}

// lastSeq is the highest event seq stored for task (0 when it has none).
func (c *core) lastSeq(ctx context.Context, h handle, task string) (int64, error) {
	var last int64
	if err := h.queryRow(ctx, `SELECT coalesce(max(seq), 0) FROM events WHERE task_id = $1`, task).Scan(&last); err != nil {
		return 0, fmt.Errorf("read the last event seq: %w", err)
	}
	return last, nil
}

func (c *core) SaveRun(ctx context.Context, id string, attempt int, r *loop.Run) error {
	run, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode run of task %s: %w", id, err)
	}
	n, err := c.exec(ctx, `UPDATE tasks SET run = $1, state = $2, updated_at = $3
		WHERE id = $4 AND attempts = $5 AND state NOT IN `+finalStatesSQL,
		string(run), string(r.State), c.time(c.stamp()), id, attempt)
	if err != nil {
		return fmt.Errorf("save checkpoint of task %s: %w", id, err)
	}
	if n == 0 {
		var (
			attempts int
			state    string
		)
		err := c.queryRow(ctx, `SELECT attempts, state FROM tasks WHERE id = $1`, id).Scan(&attempts, &state)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("save checkpoint of task %s: %w", id, ErrNotFound)
		case err != nil:
			return fmt.Errorf("save checkpoint of task %s: %w", id, err)
		case attempts != attempt:
			return fmt.Errorf("save checkpoint of task %s: attempt %d was superseded by attempt %d: %w", id, attempt, attempts, ErrFenced)
		default:
			return fmt.Errorf("save checkpoint of task %s: the task is already %s: %w", id, state, ErrFenced)
		}
	}
	c.changed(ctx, id)
	return nil
}

// changed wakes the subscribers of tasks, here and in other processes.
func (c *core) changed(ctx context.Context, tasks ...string) {
	c.hub.wake(tasks...)
	if err := c.notify(ctx, c, tasks); err != nil {
		// Other processes' subscribers still see the change on their next read.
		c.log.WarnContext(ctx, "could not notify other processes of a task change", "err", err)
	}
}

func (c *core) RequestCancel(ctx context.Context, id string) (*Task, error) {
	var t *Task
	err := c.inTx(ctx, func(tx handle) error {
		var jobID sql.NullInt64
		var err error
		t, err = scanTask(tx.queryRow(ctx, `SELECT `+taskColumns+`, t.river_job_id FROM tasks t WHERE t.id = $1`+c.forUpdate(), id), &jobID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("task %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if t.State().Final() {
			return nil
		}
		running := false
		if jobID.Valid {
			state, err := c.cancelJob(ctx, tx, jobID.Int64)
			switch {
			case errors.Is(err, ErrNotFound):
			case err != nil:
				return fmt.Errorf("cancel its queue job: %w", err)
			default:
				// A running job's context is cancelled by River once this commits; the
				// worker then records the cancellation. Any other job will never run.
				running = state == rivertype.JobStateRunning
			}
		}
		now := c.stamp()
		t.CancelRequested, t.UpdatedAt = true, now
		if !running {
			r := &t.Run
			last, err := c.lastSeq(ctx, tx, id)
			if err != nil {
				return err
			}
			r.Phase, r.State, r.Agent = r.State, loop.Cancelled, nil
			r.FinishedAt, r.UpdatedAt = &now, now
			r.LastSeq = max(r.LastSeq, last) + 1
			if err := c.insertEventsTx(ctx, tx, []activity.Event{{
				Seq: r.LastSeq, TS: now, Task: id, Role: activity.RoleLoop, Type: activity.State,
				Text: string(loop.Cancelled),
			}}); err != nil {
				return err
			}
		}
		run, err := json.Marshal(&t.Run)
		if err != nil {
			return fmt.Errorf("encode run: %w", err)
		}
		if _, err := tx.exec(ctx, `UPDATE tasks SET cancel_requested = true, run = $1, state = $2, updated_at = $3 WHERE id = $4`,
			string(run), string(t.Run.State), c.time(now), id); err != nil {
			return err
		}
		return c.notify(ctx, tx, []string{id})
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("cancel task %s: %w", id, err)
	}
	c.hub.wake(id)
	return t, nil
}

// maxEventsPerStatement keeps a multi-row insert under SQLite's variable limit.
const maxEventsPerStatement = 500

func (c *core) AppendEvents(ctx context.Context, batches []EventBatch) ([]EventBatch, error) {
	// Validate and sanitize outside the transaction, keeping it short.
	clean := make([][]activity.Event, len(batches))
	total, toCheck := 0, 0
	for i, b := range batches {
		if b.Task == "" {
			return nil, fmt.Errorf("%w: event batch %d names no task", ErrInvalid, i)
		}
		if b.Attempt < 0 {
			return nil, fmt.Errorf("%w: event batch %d of task %s has attempt %d", ErrInvalid, i, b.Task, b.Attempt)
		}
		clean[i] = make([]activity.Event, len(b.Events))
		for j, e := range b.Events {
			if e.Task != "" && e.Task != b.Task {
				return nil, fmt.Errorf("%w: event %d (seq %d) of the batch of task %s names task %s", ErrInvalid, j, e.Seq, b.Task, e.Task)
			}
			e.Task = b.Task
			clean[i][j] = sanitize(e)
		}
		total += len(b.Events)
		if b.Attempt > 0 && len(b.Events) > 0 {
			toCheck++
		}
	}
	if total == 0 {
		return nil, nil
	}
	var (
		fenced []EventBatch
		stored []activity.Event
	)
	err := c.inTx(ctx, func(tx handle) error {
		fenced, stored = nil, make([]activity.Event, 0, total)
		var current map[string]int
		if toCheck > 0 {
			var err error
			if current, err = c.currentAttempts(ctx, tx, batches); err != nil {
				return err
			}
		}
		for i, b := range batches {
			if len(b.Events) == 0 {
				continue
			}
			if b.Attempt > 0 && current[b.Task] != b.Attempt {
				fenced = append(fenced, b)
				continue
			}
			stored = append(stored, clean[i]...)
		}
		if len(stored) == 0 {
			return nil
		}
		if bulk, ok := c.engine.(bulkEventInserter); ok {
			return bulk.insertEvents(ctx, tx, stored)
		}
		if err := c.insertEventsTx(ctx, tx, stored); err != nil {
			return err
		}
		return c.notify(ctx, tx, taskIDs(stored))
	})
	if err != nil {
		return nil, fmt.Errorf("store %d events: %w", total, err)
	}
	c.hub.wake(taskIDs(stored)...)
	return fenced, nil
}

// currentAttempts reads, within tx, the attempt counter of the tasks that batches with
// an attempt write to, and keeps those tasks from changing (StartAttempt) until tx ends.
// A task that does not exist is missing from the map (attempt 0: every batch fenced).
func (c *core) currentAttempts(ctx context.Context, tx handle, batches []EventBatch) (map[string]int, error) {
	seen := make(map[string]bool)
	var ids []string
	for _, b := range batches {
		if b.Attempt > 0 && len(b.Events) > 0 && !seen[b.Task] {
			seen[b.Task] = true
			ids = append(ids, b.Task)
		}
	}
	// One order for every writer, so that two transactions never wait on each other's
	// row locks the other way round.
	slices.Sort(ids)
	current := make(map[string]int, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), maxEventsPerStatement)
		marks := make([]string, n)
		args := make([]any, n)
		for i, id := range ids[:n] {
			marks[i], args[i] = c.param(i+1), id
		}
		rs, err := tx.query(ctx, `SELECT id, attempts FROM tasks WHERE id IN (`+strings.Join(marks, ", ")+`) ORDER BY id`+c.forShare(), args...)
		if err != nil {
			return nil, fmt.Errorf("read the tasks' current attempts: %w", err)
		}
		for rs.Next() {
			var (
				id       string
				attempts int
			)
			if err := rs.Scan(&id, &attempts); err != nil {
				rs.Close()
				return nil, fmt.Errorf("read the tasks' current attempts: %w", err)
			}
			current[id] = attempts
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return nil, fmt.Errorf("read the tasks' current attempts: %w", err)
		}
		ids = ids[n:]
	}
	return current, nil
}

// bulkEventInserter is an engine with a faster way to store events than
// insertEventsTx. insertEvents runs within tx, must ignore duplicates and notify other
// processes of the tasks that got events.
type bulkEventInserter interface {
	insertEvents(ctx context.Context, tx handle, events []activity.Event) error
}

// insertEventsTx inserts events inside a transaction with the shared multi-row SQL.
func (c *core) insertEventsTx(ctx context.Context, tx handle, events []activity.Event) error {
	for len(events) > 0 {
		n := min(len(events), maxEventsPerStatement)
		var b strings.Builder
		args := make([]any, 0, n*9)
		b.WriteString("INSERT INTO events (task_id, seq, ts, iteration, role, executor, type, text, data) VALUES ")
		for i, e := range events[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for j := range 9 {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString(c.param(len(args) + j + 1))
			}
			b.WriteByte(')')
			var data any
			if len(e.Data) > 0 {
				data = string(e.Data)
			}
			args = append(args, e.Task, e.Seq, c.time(e.TS), e.Iteration, e.Role, e.Executor, string(e.Type), e.Text, data)
		}
		b.WriteString(" ON CONFLICT (task_id, seq) DO NOTHING")
		if _, err := tx.exec(ctx, b.String(), args...); err != nil {
			return err
		}
		events = events[n:]
	}
	return nil
}

// sanitize makes an event storable in either database: valid UTF-8 without NUL
// (PostgreSQL rejects both in text), Data valid JSON (kept as a JSON string if the
// agent's original was not), times in UTC at microsecond precision.
func sanitize(e activity.Event) activity.Event {
	clean := func(s string) string {
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
		if strings.IndexByte(s, 0) >= 0 {
			s = strings.ReplaceAll(s, "\x00", "\uFFFD")
		}
		return s
	}
	e.Text, e.Role, e.Executor, e.Type = clean(e.Text), clean(e.Role), clean(e.Executor), activity.Type(clean(string(e.Type)))
	if len(e.Data) > 0 && (!json.Valid(e.Data) || strings.Contains(string(e.Data), `\u0000`)) {
		quoted, _ := json.Marshal(clean(string(e.Data)))
		e.Data = quoted
	}
	if e.TS.IsZero() {
		e.TS = time.Now()
	}
	e.TS = e.TS.UTC().Truncate(time.Microsecond)
	return e
}

func taskIDs(events []activity.Event) []string {
	seen := make(map[string]bool)
	var ids []string
	for _, e := range events {
		if !seen[e.Task] {
			seen[e.Task] = true
			ids = append(ids, e.Task)
		}
	}
	return ids
}

// Event read limits.
const (
	DefaultEventsLimit = 1000
	MaxEventsLimit     = 10000
)

func (c *core) Events(ctx context.Context, task string, after int64, limit int) ([]activity.Event, error) {
	if limit <= 0 {
		limit = DefaultEventsLimit
	}
	limit = min(limit, MaxEventsLimit)
	rs, err := c.query(ctx, `SELECT task_id, seq, ts, iteration, role, executor, type, text, data FROM events
		WHERE task_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, task, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read events of task %s: %w", task, err)
	}
	defer rs.Close()
	var events []activity.Event
	for rs.Next() {
		var (
			e    activity.Event
			typ  string
			data []byte
		)
		if err := rs.Scan(&e.Task, &e.Seq, timestamp{&e.TS}, &e.Iteration, &e.Role, &e.Executor, &typ, &e.Text, &data); err != nil {
			return nil, fmt.Errorf("read events of task %s: %w", task, err)
		}
		e.Type = activity.Type(typ)
		if len(data) > 0 {
			e.Data = json.RawMessage(data)
		}
		events = append(events, e)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read events of task %s: %w", task, err)
	}
	return events, nil
}

func (c *core) Subscribe(ctx context.Context, task string) <-chan struct{} {
	c.watch()
	return c.hub.subscribe(ctx, task)
}

// Status reads the queue figures from River's job table: QueueDepth counts task jobs
// that wait for a worker (available, scheduled, retryable, pending), InFlight the
// running ones, and OldestQueuedAge is how long the oldest available job has been
// eligible to run without a worker taking it.
func (c *core) Status(ctx context.Context) (*Status, error) {
	st := &Status{Counts: make(map[loop.State]int, len(allStates))}
	for _, s := range allStates {
		st.Counts[s] = 0
	}
	rs, err := c.query(ctx, `SELECT state, count(*) FROM tasks GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count tasks by state: %w", err)
	}
	for rs.Next() {
		var (
			state string
			n     int
		)
		if err := rs.Scan(&state, &n); err != nil {
			rs.Close()
			return nil, fmt.Errorf("count tasks by state: %w", err)
		}
		st.Counts[loop.State(state)] = n
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("count tasks by state: %w", err)
	}

	rs, err = c.query(ctx, `SELECT state, count(*) FROM river_job
		WHERE kind = $1 AND state IN ('available', 'scheduled', 'retryable', 'pending', 'running')
		GROUP BY state`, TaskArgs{}.Kind())
	if err != nil {
		return nil, fmt.Errorf("count queued tasks: %w", err)
	}
	for rs.Next() {
		var (
			state string
			n     int
		)
		if err := rs.Scan(&state, &n); err != nil {
			rs.Close()
			return nil, fmt.Errorf("count queued tasks: %w", err)
		}
		if state == string(rivertype.JobStateRunning) {
			st.InFlight += n
		} else {
			st.QueueDepth += n
		}
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("count queued tasks: %w", err)
	}

	var age sql.NullFloat64
	if err := c.queryRow(ctx, c.waitingAgeQuery(), TaskArgs{}.Kind()).Scan(&age); err != nil {
		return nil, fmt.Errorf("age of the oldest queued task: %w", err)
	}
	if age.Valid && age.Float64 > 0 {
		st.OldestQueuedAge = time.Duration(age.Float64 * float64(time.Second)).Round(time.Millisecond)
	}

	if err := c.queryRow(ctx, `SELECT count(*) FROM workers WHERE last_seen > $1`,
		c.time(c.stamp().Add(-c.workerTimeout))).Scan(&st.WorkersAlive); err != nil {
		return nil, fmt.Errorf("count live workers: %w", err)
	}
	return st, nil
}

// forgetWorkersAfter is how long a worker that stopped heartbeating stays listed.
const forgetWorkersAfter = 24 * time.Hour

func (c *core) Heartbeat(ctx context.Context, w Worker) error {
	if w.ID == "" {
		return fmt.Errorf("%w: heartbeat without a worker id", ErrInvalid)
	}
	seen := w.LastSeen
	if seen.IsZero() {
		seen = c.stamp()
	}
	_, err := c.exec(ctx, `INSERT INTO workers (id, host, slots, running, draining, last_seen) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET host = excluded.host, slots = excluded.slots, running = excluded.running,
			draining = excluded.draining, last_seen = excluded.last_seen`,
		w.ID, w.Host, w.Slots, w.Running, w.Draining, c.time(seen))
	if err != nil {
		return fmt.Errorf("record heartbeat of worker %s: %w", w.ID, err)
	}
	if _, err := c.exec(ctx, `DELETE FROM workers WHERE last_seen < $1`, c.time(c.stamp().Add(-forgetWorkersAfter))); err != nil {
		return fmt.Errorf("forget long-gone workers: %w", err)
	}
	return nil
}

// Workers lists the workers that heartbeated in the last day, dead or alive: compare
// LastSeen with WorkerTimeout.
func (c *core) Workers(ctx context.Context) ([]Worker, error) {
	rs, err := c.query(ctx, `SELECT id, host, slots, running, draining, last_seen FROM workers ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	defer rs.Close()
	var ws []Worker
	for rs.Next() {
		var w Worker
		if err := rs.Scan(&w.ID, &w.Host, &w.Slots, &w.Running, &w.Draining, timestamp{&w.LastSeen}); err != nil {
			return nil, fmt.Errorf("list workers: %w", err)
		}
		ws = append(ws, w)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	return ws, nil
}

func (c *core) CreateToken(ctx context.Context, name string, admin bool, hash []byte) (*Token, error) {
	if len(hash) == 0 {
		return nil, fmt.Errorf("%w: token without a hash", ErrInvalid)
	}
	t := &Token{ID: newID("tok_"), Name: name, Admin: admin, CreatedAt: c.stamp()}
	_, err := c.exec(ctx, `INSERT INTO tokens (id, name, admin, hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
		t.ID, t.Name, t.Admin, hash, c.time(t.CreatedAt))
	if err != nil {
		if c.isUniqueViolation(err) {
			return nil, fmt.Errorf("create token %q: a token with the same secret exists; generate a new secret", name)
		}
		return nil, fmt.Errorf("create token %q: %w", name, err)
	}
	return t, nil
}

func (c *core) TokenByHash(ctx context.Context, hash []byte) (*Token, error) {
	var t Token
	err := c.queryRow(ctx, `SELECT id, name, admin, created_at, revoked_at FROM tokens WHERE hash = $1`, hash).
		Scan(&t.ID, &t.Name, &t.Admin, timestamp{&t.CreatedAt}, nullTimestamp{&t.RevokedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	return &t, nil
}

func (c *core) HasTokens(ctx context.Context) (bool, error) {
	var one int
	err := c.queryRow(ctx, `SELECT 1 FROM tokens LIMIT 1`).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look for API tokens: %w", err)
	}
	return true, nil
}

func (c *core) RevokeToken(ctx context.Context, id string) error {
	n, err := c.exec(ctx, `UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, c.time(c.stamp()), id)
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	if n == 0 {
		var one int
		err := c.queryRow(ctx, `SELECT 1 FROM tokens WHERE id = $1`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("token %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("revoke token %s: %w", id, err)
		}
		// Already revoked: revoking again changes nothing.
	}
	return nil
}

// timestamp scans a time column of either database: PostgreSQL timestamptz or SQLite
// integer microseconds since the epoch.
type timestamp struct{ t *time.Time }

func (s timestamp) Scan(v any) error {
	switch x := v.(type) {
	case time.Time:
		*s.t = x.UTC()
	case int64:
		*s.t = time.UnixMicro(x).UTC()
	case nil:
		*s.t = time.Time{}
	default:
		return fmt.Errorf("cannot read a %T as a time", v)
	}
	return nil
}

type nullTimestamp struct{ t **time.Time }

func (s nullTimestamp) Scan(v any) error {
	if v == nil {
		*s.t = nil
		return nil
	}
	var t time.Time
	if err := (timestamp{&t}).Scan(v); err != nil {
		return err
	}
	*s.t = &t
	return nil
}

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
