package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/oneshot-run/oneshot/internal/loop"
	"github.com/oneshot-run/oneshot/internal/store"
)

const (
	defaultListLimit  = 50
	maxListLimit      = 500
	maxIdempotencyKey = 255
	maxTraceState     = 512
	maxCursorLen      = 512
)

var cursorRE = regexp.MustCompile(`^[A-Za-z0-9_=+/-]*$`) // base64 of either alphabet

var traceparentRE = regexp.MustCompile(`^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`)

// createTask handles POST /api/v1/tasks.
func (s *server) createTask(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	req, err := s.decodeCreate(w, r)
	if err != nil {
		return err
	}
	plan, err := s.validate(req)
	if err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey || strings.ContainsFunc(key, func(c rune) bool { return c < 0x20 || c > 0x7e }) {
		return errInvalid("header Idempotency-Key must be at most %d printable ASCII characters; a UUID is a good choice", maxIdempotencyKey)
	}

	now := s.now().UTC()
	id := s.newID()
	run := loop.Run{
		ID: id, Task: plan.spec.Prompt, MaxIterations: plan.maxIterations,
		Worker: plan.worker, Auditor: plan.auditor,
		State: loop.Queued, Iterations: []loop.Iteration{},
		CreatedAt: now, UpdatedAt: now,
	}
	nt := store.NewTask{
		ID: id, Spec: plan.spec, Run: run, CreatedBy: p.name,
		TraceContext: traceContext(r.Header), MaxAttempts: s.cfg.MaxAttempts,
	}
	if key != "" {
		// Keys are per token: two clients choosing the same key never see each other's
		// task. The store scopes keys by creator name too, which tokens may share.
		nt.IdempotencyKey = p.id + "/" + key
		nt.RequestHash = requestHash(plan.spec)
	}
	noteTask(r, id)

	task, created, err := s.store.CreateTask(r.Context(), nt)
	if errors.Is(err, store.ErrInvalid) {
		return errInvalid("%s", invalidMessage(err))
	}
	if errors.Is(err, store.ErrConflict) {
		return errConflict("the Idempotency-Key %q was already used for a different request: use a new key for a new task, or resend the original request unchanged", clip(key))
	}
	if err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	noteTask(r, task.ID)
	w.Header().Set("Location", "/api/v1/tasks/"+url.PathEscape(task.ID))
	status := http.StatusCreated
	if !created {
		w.Header().Set("Idempotent-Replayed", "true")
		status = http.StatusOK
	}
	writeJSON(w, status, viewTask(task))
	return nil
}

// requestHash identifies a create request by its meaning, not its bytes: it hashes the
// validated spec with defaults applied, so key order, whitespace, explicit nulls and
// spelling out a default do not change it.
func requestHash(spec store.TaskSpec) string {
	b, _ := json.Marshal(spec) // strings, numbers and a string map: cannot fail
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// invalidMessage is the store's explanation of an ErrInvalid, without the sentinel's text.
func invalidMessage(err error) string {
	msg := err.Error()
	if _, rest, ok := strings.Cut(msg, store.ErrInvalid.Error()+": "); ok {
		return rest
	}
	return msg
}

// traceContext keeps a valid W3C trace context so the worker's spans join the trace of
// the request that created the task. An invalid header is ignored, as the W3C spec says.
func traceContext(h http.Header) map[string]string {
	tp := strings.TrimSpace(h.Get("Traceparent"))
	if !traceparentRE.MatchString(tp) || strings.HasPrefix(tp, "ff") {
		return nil
	}
	tc := map[string]string{"traceparent": tp}
	if ts := strings.TrimSpace(h.Get("Tracestate")); ts != "" && len(ts) <= maxTraceState && !hasControl(ts) {
		tc["tracestate"] = ts
	}
	return tc
}

// getTask handles GET /api/v1/tasks/{id}.
func (s *server) getTask(w http.ResponseWriter, r *http.Request) error {
	task, err := s.lookupTask(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewTask(task))
	return nil
}

// lookupTask loads the task named in the path: 404 when there is none.
func (s *server) lookupTask(r *http.Request) (*store.Task, error) {
	id := r.PathValue("id")
	noteTask(r, id)
	task, err := s.store.GetTask(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound("there is no task %q: check the id (GET /api/v1/tasks lists tasks)", clip(id))
	}
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	return task, nil
}

// listResponse is the body of GET /api/v1/tasks.
type listResponse struct {
	Tasks      []taskView `json:"tasks"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// listTasks handles GET /api/v1/tasks.
func (s *server) listTasks(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "state", "label", "limit", "cursor":
		default:
			return errInvalid("unknown query parameter %q: use state, label, limit and cursor", clip(k))
		}
		if len(q[k]) > 1 {
			return errInvalid("query parameter %s is given %d times: give it once", k, len(q[k]))
		}
	}
	f := store.Filter{Limit: defaultListLimit, Cursor: q.Get("cursor")}
	if v := q.Get("state"); v != "" {
		st := loop.State(v)
		if !st.Valid() {
			return errInvalid("state %q is not a task state: use one of %s", clip(v), strings.Join(stateNames(), ", "))
		}
		f.State = st
	}
	if v := q.Get("label"); v != "" {
		k, val, ok := strings.Cut(v, "=")
		if !ok || !labelKeyRE.MatchString(k) || len(k) > maxLabelKeyLen {
			return errInvalid("label filter %q must be key=value, e.g. label=team=payments", clip(v))
		}
		f.Label = k + "=" + val
	}
	if len(f.Cursor) > maxCursorLen || !cursorRE.MatchString(f.Cursor) {
		return errInvalid("cursor %q is not one this server gave out: pass next_cursor from the previous page unchanged, or start again without a cursor", clip(f.Cursor))
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			return errInvalid("limit %q must be a number from 1 to %d", clip(v), maxListLimit)
		}
		f.Limit = n
	}
	tasks, next, err := s.store.ListTasks(r.Context(), f)
	if errors.Is(err, store.ErrInvalid) {
		return errInvalid("%s", invalidMessage(err))
	}
	if err != nil {
		return fmt.Errorf("list tasks: %w", err)
	}
	resp := listResponse{Tasks: make([]taskView, 0, len(tasks)), NextCursor: next}
	for _, t := range tasks {
		resp.Tasks = append(resp.Tasks, viewTask(t))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func stateNames() []string {
	return []string{
		string(loop.Queued), string(loop.WorkerRunning), string(loop.AuditPending), string(loop.AuditorRunning),
		string(loop.ReiterationPending), string(loop.Completed), string(loop.Rejected), string(loop.Failed),
		string(loop.Cancelled), string(loop.Interrupted),
	}
}

// cancelTask handles POST /api/v1/tasks/{id}/cancel: 202 with the task (a queued task is
// cancelled at once; a running one when its worker stops the agent), 409 when the task
// has already finished.
func (s *server) cancelTask(w http.ResponseWriter, r *http.Request) error {
	task, err := s.lookupTask(r)
	if err != nil {
		return err
	}
	if task.State().Final() {
		return errConflict("task %s is already %s and cannot be cancelled", task.ID, task.State())
	}
	task, err = s.store.RequestCancel(r.Context(), task.ID)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound("there is no task %q: check the id", clip(r.PathValue("id")))
	}
	if err != nil {
		return fmt.Errorf("cancel task: %w", err)
	}
	if st := task.State(); st.Final() && st != loop.Cancelled {
		return errConflict("task %s finished (%s) before it could be cancelled", task.ID, st)
	}
	writeJSON(w, http.StatusAccepted, viewTask(task))
	return nil
}
