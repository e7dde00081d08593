package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/loop"
	"github.com/oneshot-run/oneshot/internal/store"
)

// TaskWorker is the River worker of job kind oneshot_task: it runs one task's loop per
// job, from the task's last checkpoint to a final state, or until the task is cancelled
// or released.
//
// What it returns to River: nil when the task reached a final state or another attempt
// owns it (River completes the job); river.JobSnooze(0) when the task was released on
// drain (the job is available again at once, and River does not count a snooze as an
// attempt); river.JobSnooze(backoff) when the store failed, so that River never discards
// a task's job: the only attempt limit is the task's own (MaxAttempts).
type TaskWorker struct {
	river.WorkerDefaults[store.TaskArgs]
	rt *Runtime
}

// Timeout disables River's job timeout: agents have their own.
func (w *TaskWorker) Timeout(*river.Job[store.TaskArgs]) time.Duration { return -1 }

// Work runs the task of job.
func (w *TaskWorker) Work(ctx context.Context, job *river.Job[store.TaskArgs]) error {
	return w.rt.work(ctx, job.JobRow.ID, job.Attempt, job.AttemptedBy, job.Args.TaskID)
}

// errReleasedAtPhaseEnd stops a loop at a phase boundary while draining: the checkpoint
// is saved, then the loop is told to stop.
var errReleasedAtPhaseEnd = errors.New("released at the end of a phase: this worker is draining")

// errTakenOver stops the loop of an attempt that no longer owns its task: another
// attempt started it (this process was taken for dead: paused, partitioned), as the
// store's refusal of its events or the task's attempt counter showed.
var errTakenOver = fmt.Errorf("another attempt took the task over: %w", store.ErrFenced)

// storeRetry is how long a failing store gets before a job is snoozed.
const storeRetryBackoff = 5 * time.Second

// taskRun is the state of one running task.
type taskRun struct {
	id      string
	attempt int            // this attempt's number (store.Task.Attempts)
	events  *AttemptEvents // the attempt's event sink
	cancel  context.CancelCauseFunc
	pid     atomic.Int64 // the running agent's process group, 0 when none
	log     *slog.Logger
	profile string
	// recheck asks the cancel watcher to read the task again now (after a gap in this
	// process's heartbeats, when another attempt may have taken the task over).
	recheck chan struct{}

	// Phase tracking for metrics, touched only by the checkpoint callback (the loop
	// serialises it).
	lastState  loop.State
	phaseStart time.Time
	spanCtx    context.Context // the task's span, parent of the phase spans
	phaseSpan  trace.Span
}

func (t *taskRun) release() { t.cancel(loop.ErrReleased) }

func (r *Runtime) work(jobCtx context.Context, jobID int64, riverAttempt int, attemptedBy []string, taskID string) error {
	log := r.log.With("task_id", taskID, "job_id", jobID)
	if r.Draining() {
		// Fetched just as the drain began: hand it straight back.
		return river.JobSnooze(0)
	}
	r.running.Add(1)
	r.metrics.TaskStarted()
	defer func() {
		r.running.Add(-1)
		r.metrics.TaskStopped()
	}()

	task, err := r.backend.StartAttempt(jobCtx, taskID, r.opts.WorkerID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		log.Warn("the queue holds a job for a task that does not exist; dropping the job")
		return nil
	case err != nil:
		log.Error("could not start an attempt; the task goes back to the queue", "error", err)
		return river.JobSnooze(storeRetryBackoff)
	}
	if task.Run.State.Final() {
		log.Info("task already finished; nothing to do", "state", string(task.Run.State))
		return nil
	}
	log = log.With("attempt", task.Attempts)
	events := r.events.Attempt(task.ID, task.Attempts)
	spanCtx, span := r.startTaskSpan(jobCtx, task)
	if tid := traceIDOf(span, task.TraceContext); tid != "" {
		log = log.With("trace_id", tid)
	}
	outcome, outcomeMsg := "failed", ""
	defer func() { endSpan(span, outcome, outcomeMsg) }()
	run := task.Run
	if run.ID == "" {
		run.ID = task.ID
	}
	if run.Task == "" {
		run.Task = task.Spec.Prompt
	}
	if run.CreatedAt.IsZero() {
		run.CreatedAt = task.CreatedAt
	}
	save := func(ctx context.Context, rn *loop.Run) error {
		return r.backend.SaveRun(ctx, taskID, task.Attempts, rn)
	}

	// River counts the starts of this job that did not end in a snooze: each one is a
	// worker that died (or was lost) while it held the task.
	maxAttempts := max(r.cfg.MaxAttempts, 1)
	if riverAttempt > maxAttempts {
		last := "unknown"
		if len(attemptedBy) >= 2 {
			last = attemptedBy[len(attemptedBy)-2]
		}
		msg := fmt.Sprintf("gave up after %s: the task's worker process died each time (last: worker %s)", plural(riverAttempt-1, "attempt"), last)
		log.Error("task failed: too many attempts", "attempts", riverAttempt-1, "last_worker", last)
		outcomeMsg = msg
		return r.finishWithout(jobCtx, log, events, &run, save, loop.Failed, "attempts", msg)
	}
	if task.CancelRequested {
		outcome = string(loop.Cancelled)
		return r.finishWithout(jobCtx, log, events, &run, save, loop.Cancelled, "", "")
	}
	err = r.runLoop(jobCtx, spanCtx, log, jobID, task, events, &run, save)
	switch {
	case run.State == loop.Failed:
		outcomeMsg = run.Error
	case run.State.Final():
		outcome = string(run.State)
	default:
		outcome = "released"
	}
	return err
}

// finishWithout ends a task that is not run again: cancelled while its worker was gone,
// or out of attempts.
func (r *Runtime) finishWithout(ctx context.Context, log *slog.Logger, events *AttemptEvents, run *loop.Run,
	save func(context.Context, *loop.Run) error, state loop.State, kind, msg string) error {
	now := r.opts.Now()
	if state == loop.Failed && run.Phase == "" {
		run.Phase = run.State
	}
	run.State, run.Error, run.ErrorKind, run.FinishedAt, run.Agent, run.UpdatedAt = state, msg, kind, &now, nil, now
	run.LastSeq++
	text := string(state)
	if msg != "" {
		text += ": " + msg
	}
	events.Emit(activity.Event{Seq: run.LastSeq, TS: now.UTC(), Task: run.ID, Role: activity.RoleLoop,
		Type: activity.State, Text: text, Iteration: len(run.Iterations)})
	if err := r.events.Flush(ctx); err != nil {
		log.Warn("flushing events failed", "error", err)
	}
	if err := save(ctx, run); err != nil {
		if errors.Is(err, store.ErrFenced) {
			log.Warn("another attempt took the task over; this one stops without touching it")
			return nil
		}
		log.Error("could not record the end of the task; it goes back to the queue", "error", err)
		return river.JobSnooze(storeRetryBackoff)
	}
	log.Info("task finished", "state", string(state))
	return nil
}

// runLoop prepares the agents and workspace and drives the loop.
func (r *Runtime) runLoop(jobCtx, spanCtx context.Context, log *slog.Logger, jobID int64, task *store.Task,
	events *AttemptEvents, run *loop.Run, save func(context.Context, *loop.Run) error) error {
	fail := func(kind string, err error) error {
		log.Error("task failed before its agents ran", "error", err)
		return r.finishWithout(jobCtx, log, events, run, save, loop.Failed, kind, err.Error())
	}
	ag, err := resolveAgents(r.cfg, task.Spec, r.opts.Getenv, r.opts.NewExecutor)
	if err != nil {
		return fail("config", err)
	}
	run.Worker, run.Auditor = ag.workerSpec, ag.auditorSpec
	run.MaxIterations = maxIterations(r.cfg, task.Spec, run.MaxIterations)
	if run.State.Final() || !run.State.Valid() {
		run.State = loop.Queued
	}

	// The loop's context: cancelled with a cause by the watchers below, never by River
	// directly, so the loop always knows why it stopped.
	loopCtx, cancel := context.WithCancelCause(context.WithoutCancel(jobCtx))
	defer cancel(nil)
	tr := &taskRun{id: task.ID, attempt: task.Attempts, events: events, cancel: cancel, log: log, profile: task.Spec.Profile,
		recheck: make(chan struct{}, 1), lastState: run.State, spanCtx: spanCtx}

	dir, cleanup, err := newWorkspace(loopCtx, workspaceOptions{
		Base: r.opts.WorkspaceDir, Allowlist: r.cfg.RepoAllowlist,
		CloneTimeout: r.opts.CloneTimeout,
	}, task.ID, task.Spec.Repo)
	if err != nil {
		return fail("workspace", err)
	}
	defer cleanup()
	run.Workdir = dir

	r.mu.Lock()
	r.tasks[jobID] = tr
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.tasks, jobID)
		r.mu.Unlock()
	}()

	// The watchers outlive a stopped loop (killAfterStop must see it through), so their
	// context ends only when the loop has returned.
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(jobCtx))
	var watchers sync.WaitGroup
	watchers.Add(2)
	go func() { defer watchers.Done(); r.watchCancel(watchCtx, jobCtx, tr) }()
	go func() { defer watchers.Done(); r.killAfterStop(watchCtx, loopCtx, tr) }()
	defer func() {
		stopWatch()
		watchers.Wait()
	}()

	l := &loop.Loop{
		Worker: ag.worker, Auditor: ag.auditor,
		Events: events,
		Now:    r.opts.Now,
		Checkpoint: func(ctx context.Context, rn *loop.Run) error {
			return r.checkpoint(ctx, tr, rn, save)
		},
	}
	started := r.opts.Now()
	log.Info("task started", "state", string(run.State), "iterations_done", len(run.Iterations), "max_iterations", run.MaxIterations)
	err = l.Run(loopCtx, run)
	if ferr := r.events.Flush(context.WithoutCancel(jobCtx)); ferr != nil {
		log.Warn("flushing events failed", "error", ferr)
	}
	r.closePhase(tr, run, "released")
	switch {
	case err == nil, errors.Is(err, loop.ErrCancelled):
		log.Info("task finished", "state", string(run.State), "iterations", len(run.Iterations), "took", r.opts.Now().Sub(started).Round(time.Millisecond).String())
		if run.StartedAt != nil {
			r.metrics.TaskFinished(run.State, r.opts.Now().Sub(*run.StartedAt), len(run.Iterations))
		}
		return nil
	case errors.Is(err, store.ErrFenced), errors.Is(context.Cause(loopCtx), store.ErrFenced):
		log.Warn("another attempt took the task over; this one stops without touching it", "error", err)
		return nil
	case errors.Is(err, loop.ErrReleased), errors.Is(err, errReleasedAtPhaseEnd):
		if errors.Is(err, errReleasedAtPhaseEnd) {
			// Say so in the activity stream, as the loop does for a release mid-phase.
			run.LastSeq++
			events.Emit(activity.Event{Seq: run.LastSeq, TS: r.opts.Now().UTC(), Task: run.ID, Role: activity.RoleLoop,
				Type: activity.State, Text: string(run.State) + " (released)", Iteration: len(run.Iterations)})
			_ = r.events.Flush(context.WithoutCancel(jobCtx))
			if serr := save(context.WithoutCancel(jobCtx), run); serr != nil {
				log.Warn("recording the release failed; the checkpoint before it stands", "error", serr)
			}
		}
		log.Info("task released for another worker", "state", string(run.State))
		r.metrics.TaskReleased()
		return river.JobSnooze(0)
	default:
		log.Error("task stopped by an error; it goes back to the queue and continues from its last checkpoint", "state", string(run.State), "error", err)
		return river.JobSnooze(storeRetryBackoff)
	}
}

// checkpoint saves the run (retrying a failing store for a while), keeps phase metrics,
// remembers the agent's process group, and stops the loop at a phase boundary when the
// process is draining.
func (r *Runtime) checkpoint(ctx context.Context, tr *taskRun, rn *loop.Run, save func(context.Context, *loop.Run) error) error {
	if rn.Agent != nil {
		tr.pid.Store(int64(rn.Agent.PID))
	} else {
		tr.pid.Store(0)
	}
	if rn.State != tr.lastState {
		phaseEnded := tr.lastState == loop.WorkerRunning || tr.lastState == loop.AuditorRunning || rn.State.Final()
		r.observeTransition(tr, rn)
		// At the end of a phase, the phase's events are stored before the checkpoint
		// that ends it, so whoever sees the new state finds every event before it. (The
		// start of a phase needs no such wait: its events arrive within FlushEvery.)
		if phaseEnded {
			if err := r.events.Flush(ctx); err != nil && ctx.Err() == nil {
				tr.log.Warn("flushing events failed", "error", err)
			}
		}
	}
	if err := saveWithRetry(ctx, save, rn); err != nil {
		return err
	}
	if r.Draining() && (rn.State == loop.AuditPending || rn.State == loop.ReiterationPending) {
		return errReleasedAtPhaseEnd
	}
	return nil
}

// saveWithRetry rides out a short store outage (a database restart) before giving up.
func saveWithRetry(ctx context.Context, save func(context.Context, *loop.Run) error, rn *loop.Run) error {
	backoff := 100 * time.Millisecond
	var err error
	for attempt := 0; attempt < 8; attempt++ {
		if err = save(ctx, rn); err == nil || errors.Is(err, store.ErrFenced) {
			return err
		}
		select {
		case <-ctx.Done():
			// The loop saves its final checkpoints with a context that is never
			// cancelled, so a done ctx here means the caller gave up.
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return err
}

// observeTransition records phase metrics and logs when the run changes state.
func (r *Runtime) observeTransition(tr *taskRun, rn *loop.Run) {
	prev, next := tr.lastState, rn.State
	tr.lastState = next
	iteration := 0
	if n := len(rn.Iterations); n > 0 {
		iteration = rn.Iterations[n-1].N
	}
	if prev == loop.WorkerRunning || prev == loop.AuditorRunning {
		outcome := "ok"
		switch next {
		case loop.Failed:
			if rn.ErrorKind != "iteration_limit" {
				outcome = "failed"
			}
		case loop.Cancelled:
			outcome = "cancelled"
		}
		r.closePhaseAs(tr, rn, prev, outcome)
	}
	if next == loop.WorkerRunning || next == loop.AuditorRunning {
		tr.phaseStart = r.opts.Now()
		_, tr.phaseSpan = r.tracer.Start(tr.spanCtx, "oneshot."+roleOf(next, prev),
			trace.WithAttributes(attribute.Int("oneshot.iteration", iteration)))
	}
	tr.log.Info("state "+string(next), "iteration", iteration, "role", roleOf(next, prev))
}

// closePhase ends the phase still open when the loop returns (the agent was stopped).
func (r *Runtime) closePhase(tr *taskRun, rn *loop.Run, outcome string) {
	if tr.lastState == loop.WorkerRunning || tr.lastState == loop.AuditorRunning {
		r.closePhaseAs(tr, rn, tr.lastState, outcome)
		tr.lastState = ""
	}
}

func (r *Runtime) closePhaseAs(tr *taskRun, rn *loop.Run, phase loop.State, outcome string) {
	role := roleOf(phase, "")
	endSpan(tr.phaseSpan, outcome, rn.Error)
	tr.phaseSpan = nil
	if !tr.phaseStart.IsZero() {
		r.metrics.PhaseFinished(role, outcome, r.opts.Now().Sub(tr.phaseStart))
		tr.phaseStart = time.Time{}
	}
	if outcome == "failed" {
		r.metrics.ExecutorError(role, rn.ErrorKind)
	}
	if n := len(rn.Iterations); n > 0 && outcome == "ok" {
		it := rn.Iterations[n-1]
		if role == activity.RoleWorker {
			r.metrics.Usage(tr.profile, role, it.WorkerUsage)
		} else {
			r.metrics.Usage(tr.profile, role, it.AuditorUsage)
		}
	}
}

func roleOf(s, prev loop.State) string {
	switch s {
	case loop.WorkerRunning:
		return activity.RoleWorker
	case loop.AuditorRunning, loop.AuditPending:
		return activity.RoleAuditor
	}
	switch prev {
	case loop.WorkerRunning:
		return activity.RoleWorker
	case loop.AuditorRunning:
		return activity.RoleAuditor
	}
	return activity.RoleLoop
}

// cancelCheckGap is the least time between two reads of a running task's cancel flag:
// the task's own checkpoints and events wake its subscription too, and each wake must
// not cost a query.
const cancelCheckGap = 250 * time.Millisecond

// watchCancel stops the loop when the task is cancelled (the store's flag, seen through
// Subscribe, or River's job cancellation), when another attempt took the task over (the
// store refused the attempt's events, or the task's attempt counter moved on), or when
// the process drains past its margin (River's stop-and-cancel). The flag as
// StartAttempt returned it was already checked.
func (r *Runtime) watchCancel(ctx, jobCtx context.Context, tr *taskRun) {
	changed := r.backend.Subscribe(ctx, tr.id)
	var (
		lastCheck time.Time
		pending   <-chan time.Time // a check postponed to keep the gap
	)
	takenOver := func() {
		tr.log.Warn("another attempt took the task over; stopping this one's agent")
		tr.events.fence()
		tr.cancel(errTakenOver)
	}
	check := func() bool {
		lastCheck = time.Now()
		t, err := r.backend.GetTask(ctx, tr.id)
		if err != nil {
			if ctx.Err() == nil {
				tr.log.Warn("checking the task for a cancel request failed", "error", err)
			}
			return false
		}
		switch {
		case t.Attempts != tr.attempt:
			takenOver()
			return true
		case t.CancelRequested:
			tr.log.Info("cancel requested; stopping the agent")
			tr.cancel(loop.ErrCancelled)
			return true
		}
		return false
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-pending:
			pending = nil
			if check() {
				return
			}
		case <-tr.recheck:
			if check() {
				return
			}
		case <-tr.events.Fenced():
			takenOver()
			return
		case <-jobCtx.Done():
			if errors.Is(context.Cause(jobCtx), river.ErrJobCancelledRemotely) {
				tr.log.Info("job cancelled through the queue; stopping the agent")
				tr.cancel(loop.ErrCancelled)
			} else {
				tr.cancel(loop.ErrReleased)
			}
			return
		case _, ok := <-changed:
			if !ok {
				return
			}
			if wait := cancelCheckGap - time.Since(lastCheck); wait > 0 {
				if pending == nil {
					pending = time.After(wait)
				}
				continue
			}
			if check() {
				return
			}
		}
	}
}

// killAfterStop makes sure a stopped agent's process group is gone soon: the executor
// sends SIGTERM at once and SIGKILL after its own grace; if the loop still has an agent
// CancelKillAfter after the stop, the group is killed here.
func (r *Runtime) killAfterStop(ctx, loopCtx context.Context, tr *taskRun) {
	select {
	case <-ctx.Done():
		if loopCtx.Err() == nil {
			return // the loop ended by itself
		}
	case <-loopCtx.Done():
	}
	t := time.NewTimer(r.opts.CancelKillAfter)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		// The watchers stop when the loop returned, i.e. the executor reaped its agent.
		return
	}
	if pid := tr.pid.Load(); pid > 0 {
		tr.log.Warn("agent still running after the stop; killing its process group", "pid", pid)
		_ = syscall.Kill(-int(pid), syscall.SIGKILL)
	}
}

// traceID extracts the trace id of a W3C traceparent ("00-<trace id>-<span id>-<flags>").
func traceID(tc map[string]string) string {
	parts := strings.Split(tc["traceparent"], "-")
	if len(parts) == 4 && len(parts[1]) == 32 {
		return parts[1]
	}
	return ""
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
