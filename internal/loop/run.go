package loop

import (
	"time"

	"github.com/oneshot-run/oneshot/internal/executor"
	"github.com/oneshot-run/oneshot/internal/verdict"
)

// State is where a run is in the loop.
//
//	queued → worker_running → audit_pending → auditor_running →
//	    completed | reiteration_pending → worker_running | rejected | failed
//
// cancelled and interrupted can be reached from any state that is not final.
type State string

const (
	Queued             State = "queued"
	WorkerRunning      State = "worker_running"
	AuditPending       State = "audit_pending"
	AuditorRunning     State = "auditor_running"
	ReiterationPending State = "reiteration_pending"
	Completed          State = "completed"
	Rejected           State = "rejected"
	Failed             State = "failed"
	Cancelled          State = "cancelled"
	Interrupted        State = "interrupted"
)

// Final reports whether no further step follows s without an explicit resume.
func (s State) Final() bool {
	switch s {
	case Completed, Rejected, Failed, Cancelled, Interrupted:
		return true
	}
	return false
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	switch s {
	case Queued, WorkerRunning, AuditPending, AuditorRunning, ReiterationPending,
		Completed, Rejected, Failed, Cancelled, Interrupted:
		return true
	}
	return false
}

// Run is the whole checkpointed record of one task's loop. It is what the local state
// file holds and what the service stores per task.
type Run struct {
	ID            string   `json:"id"`
	Task          string   `json:"task"`
	Additions     []string `json:"additions,omitempty"`
	Workdir       string   `json:"workdir,omitempty"`
	MaxIterations int      `json:"max_iterations"`

	Worker  executor.Spec `json:"worker"`
	Auditor executor.Spec `json:"auditor"`

	State State `json:"state"`
	// Phase is the state a run was in when it failed or was interrupted, so resume
	// knows where to continue.
	Phase State `json:"phase,omitempty"`

	Iterations []Iteration `json:"iterations"`
	// Agent is the agent process running now, if any.
	Agent *Agent `json:"agent,omitempty"`

	Verdict   verdict.Verdict `json:"verdict,omitempty"`
	Feedback  string          `json:"feedback,omitempty"`
	Result    string          `json:"result,omitempty"`
	Usage     executor.Usage  `json:"usage"`
	Error     string          `json:"error,omitempty"`
	ErrorKind string          `json:"error_kind,omitempty"`

	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`

	// LastSeq is the sequence number of the last activity event emitted.
	LastSeq int64 `json:"last_seq"`
}

// Iteration records one worker run and its audit.
type Iteration struct {
	N int `json:"n"`

	WorkerResult     string         `json:"worker_result,omitempty"`
	WorkerExitCode   int            `json:"worker_exit_code"`
	WorkerSession    string         `json:"worker_session,omitempty"`
	WorkerUsage      executor.Usage `json:"worker_usage"`
	WorkerStartedAt  *time.Time     `json:"worker_started_at,omitempty"`
	WorkerFinishedAt *time.Time     `json:"worker_finished_at,omitempty"`
	WorkerDone       bool           `json:"worker_done"`

	AuditorAnswer     string          `json:"auditor_answer,omitempty"`
	AuditorExitCode   int             `json:"auditor_exit_code"`
	AuditorSession    string          `json:"auditor_session,omitempty"`
	AuditorUsage      executor.Usage  `json:"auditor_usage"`
	AuditStartedAt    *time.Time      `json:"audit_started_at,omitempty"`
	AuditFinishedAt   *time.Time      `json:"audit_finished_at,omitempty"`
	Verdict           verdict.Verdict `json:"verdict,omitempty"`
	Feedback          string          `json:"feedback,omitempty"`
	VerdictUnreadable bool            `json:"verdict_unreadable,omitempty"`
}

// Agent identifies a running agent process, so an operator (or a resumed run) can see
// or clean up what was running. PID is also the process group id.
type Agent struct {
	Role      string    `json:"role"`
	Iteration int       `json:"iteration"`
	PID       int       `json:"pid,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

// current returns the iteration being worked on, or nil before the first worker run.
func (r *Run) current() *Iteration {
	if len(r.Iterations) == 0 {
		return nil
	}
	return &r.Iterations[len(r.Iterations)-1]
}

// Prepare makes a stopped run continue on the next Loop.Run: an interrupted or failed
// run goes back to the phase it stopped in; a run that failed at the iteration limit gets
// another iteration when maxIterations allows it. A completed or rejected run continues
// only when force is set (it then gets a new iteration with the previous feedback). An
// addition, when not empty, is appended to the task.
func (r *Run) Prepare(addition string, maxIterations int, force bool) error {
	if maxIterations > 0 {
		r.MaxIterations = maxIterations
	}
	switch r.State {
	case Completed, Rejected:
		if !force {
			return &StateError{State: r.State, Msg: "it is finished; use --force to run it again"}
		}
		r.State = ReiterationPending
	case Cancelled:
		if !force {
			return &StateError{State: r.State, Msg: "it was cancelled; use --force to run it again"}
		}
		r.State = r.resumePoint()
	case Interrupted, Failed:
		r.State = r.resumePoint()
	}
	if r.State == ReiterationPending && len(r.Iterations) >= r.MaxIterations {
		return &StateError{State: r.State, Msg: "it has used all its iterations; pass a higher --max-iterations"}
	}
	if addition != "" {
		r.Additions = append(r.Additions, addition)
	}
	r.Phase, r.Error, r.ErrorKind, r.FinishedAt, r.Agent = "", "", "", nil, nil
	return nil
}

// resumePoint is the non-final state a stopped run continues from.
func (r *Run) resumePoint() State {
	it := r.current()
	switch {
	case it == nil:
		return Queued
	case !it.WorkerDone:
		return WorkerRunning
	case it.Verdict == "":
		return AuditPending
	case it.Verdict == verdict.Retry:
		return ReiterationPending
	default:
		// Completed or rejected by the auditor but marked failed afterwards (cannot
		// happen today); continue with a new iteration.
		return ReiterationPending
	}
}

// StateError says why a run cannot continue.
type StateError struct {
	State State
	Msg   string
}

func (e *StateError) Error() string { return "run is " + string(e.State) + ": " + e.Msg }
