// Package loop is the worker→auditor state machine shared by `oneshot run` and the
// service's workers.
//
// A Loop drives one Run from whatever state it is in to a final state: it runs the worker,
// asks the auditor for a verdict, and hands the auditor's feedback back to the worker until
// the auditor says DONE or IMPOSSIBLE or the iteration limit is reached. Every transition is
// checkpointed (Loop.Checkpoint) before the next step starts, so a run interrupted anywhere
// continues from its last checkpoint.
package loop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/executor"
	"github.com/oneshot-run/oneshot/internal/prompt"
	"github.com/oneshot-run/oneshot/internal/verdict"
)

// Causes a caller gives (with context.WithCancelCause) to say why it stopped a run.
var (
	// ErrInterrupted: the user stopped the run (Ctrl-C). The run ends interrupted and can be resumed.
	ErrInterrupted = errors.New("run interrupted")
	// ErrCancelled: the run was cancelled for good.
	ErrCancelled = errors.New("run cancelled")
	// ErrReleased: this process is shutting down; the run keeps its checkpoint, unfinished,
	// for another process to continue.
	ErrReleased = errors.New("run released for another worker")
)

// Loop runs the worker→auditor loop. Worker, Auditor and Checkpoint are required.
type Loop struct {
	Worker  executor.Executor
	Auditor executor.Executor
	// Checkpoint persists the run. It is called after every transition, with the run
	// locked against concurrent changes; an error stops the loop.
	Checkpoint func(context.Context, *Run) error
	// Events receives every activity event, stamped with seq, time, task and role.
	Events activity.Sink
	// Env is added to every agent's environment.
	Env []string
	// Now defaults to time.Now.
	Now func() time.Time

	mu sync.Mutex // guards the run while an agent's callbacks may touch it
}

// Run drives r until it reaches a final state or ctx is done. It returns nil when the run
// ended completed, rejected or failed (see r.State); the cause of ctx (ErrInterrupted,
// ErrCancelled, ErrReleased, or context.Canceled) when it was stopped; and any
// checkpoint error.
func (l *Loop) Run(ctx context.Context, r *Run) error {
	if l.Now == nil {
		l.Now = time.Now
	}
	if r.MaxIterations < 1 {
		return fmt.Errorf("run %s: max iterations must be at least 1, got %d", r.ID, r.MaxIterations)
	}
	if r.StartedAt == nil {
		now := l.Now()
		r.StartedAt = &now
	}
	for !r.State.Final() {
		var err error
		switch r.State {
		case Queued, ReiterationPending, WorkerRunning:
			err = l.work(ctx, r)
		case AuditPending, AuditorRunning:
			err = l.audit(ctx, r)
		default:
			return fmt.Errorf("run %s is in unknown state %q", r.ID, r.State)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *Loop) work(ctx context.Context, r *Run) error {
	it := r.current()
	if r.State != WorkerRunning || it == nil || it.WorkerDone {
		if r.State == ReiterationPending && len(r.Iterations) >= r.MaxIterations {
			return l.fail(ctx, r, ReiterationPending, "iteration_limit",
				fmt.Errorf("reached the iteration limit (%d) without a DONE verdict", r.MaxIterations))
		}
		r.Iterations = append(r.Iterations, Iteration{N: len(r.Iterations) + 1})
		it = r.current()
	} else {
		// The worker of this iteration started before but never finished (crash,
		// interruption, release): run it again from scratch.
		*it = Iteration{N: it.N}
	}
	data := prompt.Data{
		RunID: r.ID, Iteration: it.N, MaxIterations: r.MaxIterations,
		Task: r.Task, Additions: r.Additions,
	}
	render := prompt.Worker
	if it.N > 1 {
		render = prompt.Reworker
		data.Feedback, data.PreviousIteration = r.Feedback, it.N-1
	}
	text, err := render(data)
	if err != nil {
		return err
	}
	now := l.Now()
	it.WorkerStartedAt = &now
	if err := l.transition(ctx, r, WorkerRunning, activity.RoleWorker); err != nil {
		return err
	}

	res, runErr := l.runAgent(ctx, r, activity.RoleWorker, l.Worker, r.Worker.Executor, text)
	if stop := l.stopped(ctx, r); stop != nil {
		return stop
	}
	if runErr != nil {
		return l.fail(ctx, r, WorkerRunning, executor.Kind(runErr), fmt.Errorf("worker (iteration %d): %w", it.N, runErr))
	}
	done := l.Now()
	it.WorkerFinishedAt = &done
	it.WorkerResult, it.WorkerExitCode, it.WorkerSession, it.WorkerUsage = res.Text, res.ExitCode, res.SessionID, res.Usage
	it.WorkerDone = true
	r.Result = res.Text
	r.Usage = r.Usage.Add(res.Usage)
	return l.transition(ctx, r, AuditPending, activity.RoleLoop)
}

func (l *Loop) audit(ctx context.Context, r *Run) error {
	it := r.current()
	if it == nil || !it.WorkerDone {
		// Nothing to audit: the checkpoint says otherwise, so run the worker first.
		return l.transition(ctx, r, WorkerRunning, activity.RoleLoop)
	}
	text, err := prompt.Auditor(prompt.Data{
		RunID: r.ID, Iteration: it.N, MaxIterations: r.MaxIterations,
		Task: r.Task, Additions: r.Additions, WorkerResult: it.WorkerResult,
	})
	if err != nil {
		return err
	}
	now := l.Now()
	it.AuditStartedAt = &now
	if err := l.transition(ctx, r, AuditorRunning, activity.RoleAuditor); err != nil {
		return err
	}

	res, runErr := l.runAgent(ctx, r, activity.RoleAuditor, l.Auditor, r.Auditor.Executor, text)
	if stop := l.stopped(ctx, r); stop != nil {
		return stop
	}
	if runErr != nil {
		return l.fail(ctx, r, AuditorRunning, executor.Kind(runErr), fmt.Errorf("auditor (iteration %d): %w", it.N, runErr))
	}
	done := l.Now()
	it.AuditFinishedAt = &done
	it.AuditorAnswer, it.AuditorExitCode, it.AuditorSession, it.AuditorUsage = res.Text, res.ExitCode, res.SessionID, res.Usage
	r.Usage = r.Usage.Add(res.Usage)

	d := verdict.Parse(res.Text)
	it.Verdict, it.Feedback, it.VerdictUnreadable = d.Verdict, d.Feedback, !d.Readable
	r.Verdict, r.Feedback = d.Verdict, d.Feedback
	data, _ := json.Marshal(d)
	l.emit(r, activity.Event{Role: activity.RoleAuditor, Type: activity.State, Text: "verdict " + string(d.Verdict) + ": " + d.Feedback, Data: data})

	switch d.Verdict {
	case verdict.Done:
		return l.finish(ctx, r, Completed)
	case verdict.Impossible:
		return l.finish(ctx, r, Rejected)
	}
	if len(r.Iterations) >= r.MaxIterations {
		return l.fail(ctx, r, ReiterationPending, "iteration_limit",
			fmt.Errorf("reached the iteration limit (%d) without a DONE verdict", r.MaxIterations))
	}
	return l.transition(ctx, r, ReiterationPending, activity.RoleLoop)
}

// runAgent runs one agent turn, keeping the run's Agent field and event stream current.
func (l *Loop) runAgent(ctx context.Context, r *Run, role string, ex executor.Executor, name, text string) (executor.Result, error) {
	if ex == nil {
		return executor.Result{}, fmt.Errorf("no %s executor configured", role)
	}
	iteration := r.current().N
	req := executor.Request{
		Prompt:  text,
		Workdir: r.Workdir,
		Env:     l.Env,
		OnStart: func(pid int) {
			l.mu.Lock()
			defer l.mu.Unlock()
			if r.Agent != nil {
				r.Agent.PID = pid
			}
			// Best effort: a failed checkpoint here only loses the pid.
			_ = l.Checkpoint(context.WithoutCancel(ctx), r)
		},
	}
	emit := func(e activity.Event) {
		l.mu.Lock()
		defer l.mu.Unlock()
		e.Role, e.Executor, e.Iteration = role, name, iteration
		l.emitLocked(r, e)
	}
	return ex.Run(ctx, req, emit)
}

// stopped handles a run whose context is done: it records why and returns the cause.
func (l *Loop) stopped(ctx context.Context, r *Run) error {
	if ctx.Err() == nil {
		return nil
	}
	cause := context.Cause(ctx)
	// The checkpoint must land even though ctx is done.
	save := context.WithoutCancel(ctx)
	r.Agent = nil
	switch {
	case errors.Is(cause, ErrReleased):
		// Keep the non-final state: whoever picks the run up continues from here.
		l.emit(r, activity.Event{Role: activity.RoleLoop, Type: activity.State, Text: string(r.State) + " (released)"})
		if err := l.save(save, r); err != nil {
			return err
		}
		return cause
	case errors.Is(cause, ErrCancelled):
		if err := l.end(save, r, Cancelled, r.State); err != nil {
			return err
		}
		return cause
	default:
		if err := l.end(save, r, Interrupted, r.State); err != nil {
			return err
		}
		if errors.Is(cause, ErrInterrupted) {
			return cause
		}
		return fmt.Errorf("%w: %w", ErrInterrupted, cause)
	}
}

func (l *Loop) fail(ctx context.Context, r *Run, phase State, kind string, err error) error {
	r.Error, r.ErrorKind = err.Error(), kind
	l.emit(r, activity.Event{Role: activity.RoleLoop, Type: activity.Error, Text: r.Error})
	return l.end(ctx, r, Failed, phase)
}

func (l *Loop) finish(ctx context.Context, r *Run, s State) error {
	return l.end(ctx, r, s, "")
}

func (l *Loop) end(ctx context.Context, r *Run, s, phase State) error {
	now := l.Now()
	r.FinishedAt, r.Phase, r.Agent = &now, phase, nil
	return l.transition(ctx, r, s, activity.RoleLoop)
}

// transition moves r to s, records the running agent for the *_running states, emits a
// state event and checkpoints.
func (l *Loop) transition(ctx context.Context, r *Run, s State, role string) error {
	r.State = s
	r.Agent = nil
	if s == WorkerRunning || s == AuditorRunning {
		r.Agent = &Agent{Role: role, Iteration: r.current().N, StartedAt: l.Now()}
	}
	e := activity.Event{Role: activity.RoleLoop, Type: activity.State, Text: string(s)}
	if r.Error != "" && s == Failed {
		e.Text += ": " + r.Error
	}
	l.emit(r, e)
	return l.save(ctx, r)
}

func (l *Loop) save(ctx context.Context, r *Run) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.UpdatedAt = l.Now()
	if err := l.Checkpoint(ctx, r); err != nil {
		return fmt.Errorf("save checkpoint of run %s (state %s): %w", r.ID, r.State, err)
	}
	return nil
}

func (l *Loop) emit(r *Run, e activity.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Iteration == 0 {
		if it := r.current(); it != nil {
			e.Iteration = it.N
		}
	}
	l.emitLocked(r, e)
}

func (l *Loop) emitLocked(r *Run, e activity.Event) {
	r.LastSeq++
	e.Seq, e.TS, e.Task = r.LastSeq, l.Now().UTC(), r.ID
	e.Text = activity.Truncate(e.Text)
	if l.Events != nil {
		l.Events.Emit(e)
	}
}
