package api

import (
	"time"

	"github.com/oneshot-run/oneshot/internal/executor"
	"github.com/oneshot-run/oneshot/internal/loop"
	"github.com/oneshot-run/oneshot/internal/store"
)

// The types below are the API's JSON shapes, documented in openapi.json. They are
// separate from the store's records so that internals (agent endpoints and commands,
// session ids, workdirs) stay out of the API and the store can change without breaking
// clients. Every key is always present; absent values are null, empty strings or zero.

type taskView struct {
	ID              string          `json:"id"`
	State           loop.State      `json:"state"`
	Spec            specView        `json:"spec"`
	Agents          agentsView      `json:"agents"`
	MaxIterations   int             `json:"max_iterations"`
	Iterations      []iterationView `json:"iterations"`
	Verdict         string          `json:"verdict"`
	Feedback        string          `json:"feedback"`
	Result          string          `json:"result"`
	Usage           usageView       `json:"usage"`
	Attempts        int             `json:"attempts"`
	WorkerID        string          `json:"worker_id"`
	Agent           *agentView      `json:"agent"`
	CancelRequested bool            `json:"cancel_requested"`
	Error           string          `json:"error"`
	ErrorKind       string          `json:"error_kind"`
	LastEventSeq    int64           `json:"last_event_seq"`
	CreatedBy       string          `json:"created_by"`
	CreatedAt       time.Time       `json:"created_at"`
	StartedAt       *time.Time      `json:"started_at"`
	FinishedAt      *time.Time      `json:"finished_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
}

type specView struct {
	Prompt        string            `json:"prompt"`
	Profile       string            `json:"profile"`
	Model         *string           `json:"model"`
	MaxIterations *int              `json:"max_iterations"`
	Repo          *store.Repo       `json:"repo"`
	Labels        map[string]string `json:"labels"`
	Priority      int               `json:"priority"`
}

type agentsView struct {
	Worker  agentSpecView `json:"worker"`
	Auditor agentSpecView `json:"auditor"`
}

type agentSpecView struct {
	Executor string `json:"executor"`
	Model    string `json:"model"`
}

type usageView struct {
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CostUSD      float64 `json:"cost_usd"`
}

type agentView struct {
	Role      string    `json:"role"`
	Iteration int       `json:"iteration"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
}

type iterationView struct {
	N                 int        `json:"n"`
	WorkerResult      string     `json:"worker_result"`
	WorkerExitCode    int        `json:"worker_exit_code"`
	WorkerUsage       usageView  `json:"worker_usage"`
	WorkerStartedAt   *time.Time `json:"worker_started_at"`
	WorkerFinishedAt  *time.Time `json:"worker_finished_at"`
	AuditorAnswer     string     `json:"auditor_answer"`
	AuditorExitCode   int        `json:"auditor_exit_code"`
	AuditorUsage      usageView  `json:"auditor_usage"`
	AuditStartedAt    *time.Time `json:"audit_started_at"`
	AuditFinishedAt   *time.Time `json:"audit_finished_at"`
	Verdict           string     `json:"verdict"`
	Feedback          string     `json:"feedback"`
	VerdictUnreadable bool       `json:"verdict_unreadable"`
	Usage             usageView  `json:"usage"`
}

func viewUsage(u executor.Usage) usageView {
	return usageView{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, CostUSD: u.CostUSD}
}

func viewTask(t *store.Task) taskView {
	r := &t.Run
	v := taskView{
		ID:    t.ID,
		State: r.State,
		Spec: specView{
			Prompt: t.Spec.Prompt, Profile: t.Spec.Profile, Repo: t.Spec.Repo,
			Labels: t.Spec.Labels, Priority: t.Spec.Priority,
		},
		Agents: agentsView{
			Worker:  agentSpecView{Executor: r.Worker.Executor, Model: r.Worker.Model},
			Auditor: agentSpecView{Executor: r.Auditor.Executor, Model: r.Auditor.Model},
		},
		MaxIterations:   r.MaxIterations,
		Iterations:      make([]iterationView, 0, len(r.Iterations)),
		Verdict:         string(r.Verdict),
		Feedback:        r.Feedback,
		Result:          r.Result,
		Usage:           viewUsage(r.Usage),
		Attempts:        t.Attempts,
		WorkerID:        t.WorkerID,
		CancelRequested: t.CancelRequested,
		Error:           r.Error,
		ErrorKind:       r.ErrorKind,
		LastEventSeq:    r.LastSeq,
		CreatedBy:       t.CreatedBy,
		CreatedAt:       t.CreatedAt,
		StartedAt:       r.StartedAt,
		FinishedAt:      r.FinishedAt,
		UpdatedAt:       t.UpdatedAt,
	}
	if v.State == "" {
		v.State = loop.Queued
	}
	if v.Spec.Labels == nil {
		v.Spec.Labels = map[string]string{}
	}
	if t.Spec.Model != "" {
		m := t.Spec.Model
		v.Spec.Model = &m
	}
	if t.Spec.MaxIterations > 0 {
		n := t.Spec.MaxIterations
		v.Spec.MaxIterations = &n
	}
	if r.Agent != nil {
		v.Agent = &agentView{Role: r.Agent.Role, Iteration: r.Agent.Iteration, PID: r.Agent.PID, StartedAt: r.Agent.StartedAt}
	}
	for _, it := range r.Iterations {
		v.Iterations = append(v.Iterations, iterationView{
			N:                 it.N,
			WorkerResult:      it.WorkerResult,
			WorkerExitCode:    it.WorkerExitCode,
			WorkerUsage:       viewUsage(it.WorkerUsage),
			WorkerStartedAt:   it.WorkerStartedAt,
			WorkerFinishedAt:  it.WorkerFinishedAt,
			AuditorAnswer:     it.AuditorAnswer,
			AuditorExitCode:   it.AuditorExitCode,
			AuditorUsage:      viewUsage(it.AuditorUsage),
			AuditStartedAt:    it.AuditStartedAt,
			AuditFinishedAt:   it.AuditFinishedAt,
			Verdict:           string(it.Verdict),
			Feedback:          it.Feedback,
			VerdictUnreadable: it.VerdictUnreadable,
			Usage:             viewUsage(it.WorkerUsage.Add(it.AuditorUsage)),
		})
	}
	return v
}

// statusView is the body of GET /api/v1/status; durations are in seconds.
type statusView struct {
	Counts                 map[loop.State]int `json:"counts"`
	QueueDepth             int                `json:"queue_depth"`
	InFlight               int                `json:"in_flight"`
	OldestQueuedAgeSeconds float64            `json:"oldest_queued_age_seconds"`
	WorkersAlive           int                `json:"workers_alive"`
	Workers                []workerView       `json:"workers"`
}

type workerView struct {
	ID       string    `json:"id"`
	Host     string    `json:"host"`
	Slots    int       `json:"slots"`
	Running  int       `json:"running"`
	Draining bool      `json:"draining"`
	LastSeen time.Time `json:"last_seen"`
}

func viewStatus(st *store.Status, workers []store.Worker) statusView {
	v := statusView{
		Counts:                 map[loop.State]int{},
		QueueDepth:             st.QueueDepth,
		InFlight:               st.InFlight,
		OldestQueuedAgeSeconds: st.OldestQueuedAge.Seconds(),
		WorkersAlive:           st.WorkersAlive,
		Workers:                make([]workerView, 0, len(workers)),
	}
	for _, s := range stateNames() {
		v.Counts[loop.State(s)] = st.Counts[loop.State(s)]
	}
	for _, w := range workers {
		v.Workers = append(v.Workers, workerView{ID: w.ID, Host: w.Host, Slots: w.Slots, Running: w.Running, Draining: w.Draining, LastSeen: w.LastSeen})
	}
	return v
}
