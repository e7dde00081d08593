package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oneshot-run/oneshot/internal/loop"
)

func TestCreateTaskValidation(t *testing.T) {
	big := strings.Repeat("a", 300<<10)
	labels := map[string]string{}
	for i := range 21 {
		labels[fmt.Sprintf("k%d", i)] = "v"
	}
	tests := []struct {
		name        string
		body        any
		contentType string
		want        int
		code        string
		message     string // a part of the message that tells the user what to fix
	}{
		{"not JSON", `{"prompt": "x"`, "", 400, "invalid_request", "ends in the middle"},
		{"syntax error", `{"prompt": x}`, "", 400, "invalid_request", "not valid JSON"},
		{"empty body", ``, "", 400, "invalid_request", "body is empty"},
		{"array", `[{"prompt": "x"}]`, "", 400, "invalid_request", "must be a JSON object"},
		{"null", `null`, "", 400, "invalid_request", "must be a JSON object"},
		{"two objects", `{"prompt": "x"} {"prompt": "y"}`, "", 400, "invalid_request", "exactly one JSON object"},
		{"unknown field", `{"prompt": "x", "endpoint": "http://evil"}`, "", 400, "invalid_request", `unknown field "endpoint"`},
		{"unknown nested field", `{"prompt": "x", "repo": {"url": "https://github.com/example/a", "token": "t"}}`, "", 400, "invalid_request", `unknown field "token"`},
		{"wrong type", `{"prompt": "x", "max_iterations": "3"}`, "", 400, "invalid_request", "max_iterations must be a whole number"},
		{"missing prompt", `{"profile": "default"}`, "", 400, "invalid_request", "prompt is required"},
		{"empty prompt", `{"prompt": ""}`, "", 400, "invalid_request", "prompt is required"},
		{"blank prompt", `{"prompt": " \n\t "}`, "", 400, "invalid_request", "prompt is required"},
		{"NUL in prompt", `{"prompt": "a\u0000b"}`, "", 400, "invalid_request", "NUL"},
		{"prompt over its limit", map[string]any{"prompt": strings.Repeat("a", 257<<10)}, "", 400, "invalid_request", "more than the limit of 262144"},
		{"body over its limit", map[string]any{"prompt": big + big + big + big}, "", 413, "payload_too_large", "larger than 1048576 bytes"},
		{"form content type", `prompt=x`, "application/x-www-form-urlencoded", 415, "unsupported_media_type", "Content-Type: application/json"},
		{"unknown profile", `{"prompt": "x", "profile": "fast"}`, "", 400, "invalid_request", `unknown profile "fast" in field profile: use one of default, large`},
		{"max_iterations zero", `{"prompt": "x", "max_iterations": 0}`, "", 400, "invalid_request", "from 1 to 5"},
		{"max_iterations over the cap", `{"prompt": "x", "max_iterations": 6}`, "", 400, "invalid_request", "from 1 to 5"},
		{"max_iterations huge", `{"prompt": "x", "max_iterations": 1e30}`, "", 400, "invalid_request", "max_iterations must be a whole number"},
		{"priority out of range", `{"prompt": "x", "priority": 5}`, "", 400, "invalid_request", "1 (highest) to 4"},
		{"model as a flag", `{"prompt": "x", "model": "--dangerously-skip-permissions"}`, "", 400, "invalid_request", "is not a model name"},
		{"model with spaces", `{"prompt": "x", "model": "gpt 4"}`, "", 400, "invalid_request", "is not a model name"},
		{"http repo", `{"prompt": "x", "repo": {"url": "http://github.com/example/a"}}`, "", 400, "invalid_request", "must be an https:// URL"},
		{"ssh repo", `{"prompt": "x", "repo": {"url": "git@github.com:example/a.git"}}`, "", 400, "invalid_request", "https"},
		{"file repo", `{"prompt": "x", "repo": {"url": "file:///etc"}}`, "", 400, "invalid_request", "must be an https:// URL"},
		{"repo without url", `{"prompt": "x", "repo": {"ref": "main"}}`, "", 400, "invalid_request", "repo.url is required"},
		{"repo with credentials", `{"prompt": "x", "repo": {"url": "https://user:ghp_secret@github.com/example/a"}}`, "", 400, "invalid_request", "must not contain a user name or password"},
		{"repo outside the allow-list", `{"prompt": "x", "repo": {"url": "https://gitlab.com/example/a"}}`, "", 400, "invalid_request", "not allowed on this server"},
		{"allow-list is not a string prefix", `{"prompt": "x", "repo": {"url": "https://github.com/example-evil/a"}}`, "", 400, "invalid_request", "not allowed on this server"},
		{"allow-list host must match", `{"prompt": "x", "repo": {"url": "https://github.com.evil.io/example/a"}}`, "", 400, "invalid_request", "not allowed on this server"},
		{"dot segments", `{"prompt": "x", "repo": {"url": "https://github.com/example/../other/a"}}`, "", 400, "invalid_request", ".. path segments"},
		{"encoded dot segments", `{"prompt": "x", "repo": {"url": "https://github.com/example/%2e%2e/other/a"}}`, "", 400, "invalid_request", ".. path segments"},
		{"repo with query", `{"prompt": "x", "repo": {"url": "https://github.com/example/a?x=1"}}`, "", 400, "invalid_request", "query"},
		{"ref as a flag", `{"prompt": "x", "repo": {"url": "https://github.com/example/a", "ref": "--upload-pack=touch pwned"}}`, "", 400, "invalid_request", "not a branch, tag or commit"},
		{"too many labels", map[string]any{"prompt": "x", "labels": labels}, "", 400, "invalid_request", "limit of 20"},
		{"label key with =", `{"prompt": "x", "labels": {"a=b": "c"}}`, "", 400, "invalid_request", "label key"},
		{"label value too long", map[string]any{"prompt": "x", "labels": map[string]string{"k": strings.Repeat("v", 257)}}, "", 400, "invalid_request", "longer than 256"},
	}
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var headers []string
				if tc.contentType != "" {
					headers = []string{"Content-Type", tc.contentType}
				}
				e := decode[apiErr](t, h.request("POST", "/api/v1/tasks", tc.body, headers...), tc.want)
				if e.Error.Code != tc.code {
					t.Errorf("code = %q, want %q", e.Error.Code, tc.code)
				}
				if !strings.Contains(e.Error.Message, tc.message) {
					t.Errorf("message %q does not contain %q", e.Error.Message, tc.message)
				}
			})
		}
		list := decode[listResponse](t, h.request("GET", "/api/v1/tasks", nil), 200)
		if len(list.Tasks) != 0 {
			t.Errorf("invalid requests created %d tasks", len(list.Tasks))
		}
	})
}

func TestCreateTaskAccepts(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"allow-listed prefix itself", `{"prompt": "x", "repo": {"url": "https://github.com/example"}}`},
		{"allow-listed host case", `{"prompt": "x", "repo": {"url": "https://GitHub.com/example/a.git", "ref": "v1.2.3"}}`},
		{"second allow-list entry", `{"prompt": "x", "repo": {"url": "https://git.example.org/team/tool"}}`},
		{"explicit nulls", `{"prompt": "x", "model": null, "max_iterations": null, "repo": null, "labels": null, "priority": null}`},
		{"no content type", `{"prompt": "x"}`},
		{"model with provider prefix", `{"prompt": "x", "model": "anthropic.claude-3-5-sonnet-20240620-v1:0"}`},
	}
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var headers []string
				if tc.name == "no content type" {
					headers = []string{"Content-Type", ""}
				}
				h.createTask(tc.body, headers...)
			})
		}
	})
}

func TestCreateGetTask(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		resp := h.request("POST", "/api/v1/tasks", map[string]any{
			"prompt": "make the tests pass", "profile": "default", "model": "qwen3-coder", "max_iterations": 4,
			"repo":   map[string]string{"url": "https://github.com/example/calc", "ref": "main"},
			"labels": map[string]string{"team": "payments"}, "priority": 2,
		}, "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate", "vendor=1")
		created := decode[taskView](t, resp, http.StatusCreated)
		if loc := resp.Header.Get("Location"); loc != "/api/v1/tasks/"+created.ID {
			t.Errorf("Location = %q", loc)
		}
		if created.State != loop.Queued || created.MaxIterations != 4 || created.Spec.Prompt != "make the tests pass" ||
			created.Spec.Labels["team"] != "payments" || created.Spec.Repo == nil || created.Spec.Repo.Ref != "main" ||
			created.Spec.Priority != 2 || created.Spec.Model == nil || *created.Spec.Model != "qwen3-coder" {
			t.Errorf("created task does not reflect the request: %+v", created)
		}
		if created.Agents.Worker.Model != "qwen3-coder" || created.Agents.Auditor.Model != "qwen3-auditor" {
			t.Errorf("agents = %+v: the model overrides the worker only", created.Agents)
		}

		got := decode[taskView](t, h.request("GET", "/api/v1/tasks/"+created.ID, nil), 200)
		if got.ID != created.ID || got.Spec.Prompt != created.Spec.Prompt || got.Iterations == nil {
			t.Errorf("GET returned %+v", got)
		}

		// The stored run is ready for a worker: specs from the profile, no secrets.
		stored, err := h.store.GetTask(context.Background(), created.ID)
		if err != nil {
			t.Fatal(err)
		}
		r := stored.Run
		if r.ID != created.ID || r.Task != "make the tests pass" || r.State != loop.Queued || r.MaxIterations != 4 ||
			r.Worker.Executor != "direct" || r.Worker.Endpoint != "http://127.0.0.1:11434/v1" || r.Worker.Model != "qwen3-coder" ||
			r.Auditor.Model != "qwen3-auditor" || r.Worker.APIKey != "" || r.Worker.InactivityTimeout == 0 {
			t.Errorf("stored run = %+v", r)
		}
		if stored.TraceContext["traceparent"] != "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" || stored.TraceContext["tracestate"] != "vendor=1" {
			t.Errorf("trace context = %v", stored.TraceContext)
		}

		// Defaults: the profile's iterations, default profile, priority 1.
		d := h.createTask(`{"prompt": "x"}`)
		if d.MaxIterations != 2 || d.Spec.Profile != "default" || d.Spec.MaxIterations != nil || d.Spec.Priority != 1 || d.Spec.Model != nil {
			t.Errorf("defaults: %+v", d)
		}
		l := h.createTask(`{"prompt": "x", "profile": "large"}`)
		if l.MaxIterations != 3 || l.Agents.Worker.Executor != "claude" {
			t.Errorf("profile without max_iterations: %+v", l)
		}

		e := decode[apiErr](t, h.request("GET", "/api/v1/tasks/no-such-task", nil), 404)
		if e.Error.Code != "not_found" || !strings.Contains(e.Error.Message, "no-such-task") {
			t.Errorf("unknown task: %+v", e)
		}
	})
}

func TestInvalidTraceparentIsIgnored(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		task := h.createTask(`{"prompt": "x"}`, "traceparent", "garbage")
		stored, err := h.store.GetTask(context.Background(), task.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored.TraceContext) != 0 {
			t.Errorf("trace context = %v, want none", stored.TraceContext)
		}
	})
}

// sequential makes ids and times that increase with each task, so newest-first order is
// unambiguous whatever the store's clock resolution.
func sequential(o *Options) {
	var n atomic.Int64
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	o.NewID = func() string { return fmt.Sprintf("task-%04d", n.Add(1)) }
	var clock atomic.Int64
	o.Now = func() time.Time { return base.Add(time.Duration(clock.Add(1)) * time.Second) }
}

func TestListTasks(t *testing.T) {
	eachBackend(t, sequential, func(t *testing.T, h *harness) {
		var ids []string
		for i := range 23 {
			team := "red"
			if i%3 == 0 {
				team = "blue"
			}
			ids = append(ids, h.createTask(map[string]any{"prompt": fmt.Sprintf("task %d", i), "labels": map[string]string{"team": team}}).ID)
		}
		slices.Reverse(ids) // newest first

		// The cursor walks every page once, newest first.
		var seen []string
		cursor, pages := "", 0
		for {
			path := "/api/v1/tasks?limit=5"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			page := decode[listResponse](t, h.request("GET", path, nil), 200)
			pages++
			if len(page.Tasks) > 5 {
				t.Fatalf("page of %d tasks with limit 5", len(page.Tasks))
			}
			for _, task := range page.Tasks {
				seen = append(seen, task.ID)
			}
			if page.NextCursor == "" {
				break
			}
			if pages > 10 {
				t.Fatal("the cursor does not end")
			}
			cursor = page.NextCursor
		}
		if !slices.Equal(seen, ids) {
			t.Errorf("pages gave\n%v\nwant\n%v", seen, ids)
		}

		// Filters.
		blue := decode[listResponse](t, h.request("GET", "/api/v1/tasks?label=team=blue&limit=500", nil), 200)
		if len(blue.Tasks) != 8 {
			t.Errorf("label filter: %d tasks, want 8", len(blue.Tasks))
		}
		for _, task := range blue.Tasks {
			if task.Spec.Labels["team"] != "blue" {
				t.Errorf("label filter returned %s with labels %v", task.ID, task.Spec.Labels)
			}
		}
		if _, err := h.store.RequestCancel(context.Background(), ids[0]); err != nil {
			t.Fatal(err)
		}
		cancelled := decode[listResponse](t, h.request("GET", "/api/v1/tasks?state=cancelled", nil), 200)
		if len(cancelled.Tasks) != 1 || cancelled.Tasks[0].ID != ids[0] {
			t.Errorf("state filter: %+v", cancelled.Tasks)
		}
		queued := decode[listResponse](t, h.request("GET", "/api/v1/tasks?state=queued&label=team=red", nil), 200)
		if len(queued.Tasks) != 14 { // 15 red, one of them cancelled
			t.Errorf("state and label: %d tasks, want 14", len(queued.Tasks))
		}
		def := decode[listResponse](t, h.request("GET", "/api/v1/tasks", nil), 200)
		if len(def.Tasks) != 23 || def.NextCursor != "" {
			t.Errorf("default page: %d tasks, next %q", len(def.Tasks), def.NextCursor)
		}
	})
}

func TestListTasksValidation(t *testing.T) {
	tests := []struct{ query, message string }{
		{"state=running", "use one of queued"},
		{"label=team", "must be key=value"},
		{"limit=0", "from 1 to 500"},
		{"limit=501", "from 1 to 500"},
		{"limit=ten", "from 1 to 500"},
		{"cursor=%00%01", "not one this server gave out"},
		{"sort=asc", `unknown query parameter "sort"`},
		{"state=queued&state=failed", "give it once"},
	}
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		for _, tc := range tests {
			t.Run(tc.query, func(t *testing.T) {
				e := decode[apiErr](t, h.request("GET", "/api/v1/tasks?"+tc.query, nil), 400)
				if e.Error.Code != "invalid_request" || !strings.Contains(e.Error.Message, tc.message) {
					t.Errorf("error = %+v, want a message containing %q", e.Error, tc.message)
				}
			})
		}
	})
}

func TestIdempotentCreate(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		body := `{"prompt": "deploy", "labels": {"a": "1", "b": "2"}}`
		first := h.request("POST", "/api/v1/tasks", body, "Idempotency-Key", "key-1")
		a := decode[taskView](t, first, http.StatusCreated)
		if first.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("first create is marked replayed")
		}

		// The same request, formatted differently: the same task.
		again := h.request("POST", "/api/v1/tasks", `{"labels": {"b": "2", "a": "1"},   "prompt": "deploy", "model": null, "profile": "default", "priority": 1}`, "Idempotency-Key", "key-1")
		b := decode[taskView](t, again, http.StatusOK)
		if b.ID != a.ID || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay gave task %s (replayed %q), want %s", b.ID, again.Header.Get("Idempotent-Replayed"), a.ID)
		}

		// A different request with the key: conflict.
		e := decode[apiErr](t, h.request("POST", "/api/v1/tasks", `{"prompt": "deploy to prod"}`, "Idempotency-Key", "key-1"), http.StatusConflict)
		if e.Error.Code != "conflict" || !strings.Contains(e.Error.Message, "key-1") {
			t.Errorf("conflict error: %+v", e)
		}

		// Another token's key space is its own.
		secret, hash := NewToken()
		if _, err := h.store.CreateToken(context.Background(), "test-admin", false, hash); err != nil {
			t.Fatal(err)
		}
		c := decode[taskView](t, h.request("POST", "/api/v1/tasks", body, "Idempotency-Key", "key-1", "Authorization", "Bearer "+secret), http.StatusCreated)
		if c.ID == a.ID {
			t.Errorf("another token's request with the same key replayed the first token's task")
		}

		list := decode[listResponse](t, h.request("GET", "/api/v1/tasks", nil), 200)
		if len(list.Tasks) != 2 {
			t.Errorf("%d tasks stored, want 2", len(list.Tasks))
		}

		bad := decode[apiErr](t, h.request("POST", "/api/v1/tasks", body, "Idempotency-Key", strings.Repeat("k", 256)), 400)
		if !strings.Contains(bad.Error.Message, "Idempotency-Key") {
			t.Errorf("long key: %+v", bad)
		}
	})
}

func TestConcurrentIdempotentCreate(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		const n = 8
		ids := make(chan string, n)
		for range n {
			go func() {
				resp := h.request("POST", "/api/v1/tasks", `{"prompt": "once"}`, "Idempotency-Key", "same")
				defer resp.Body.Close()
				if resp.StatusCode != 201 && resp.StatusCode != 200 {
					ids <- fmt.Sprintf("status %d", resp.StatusCode)
					return
				}
				ids <- resp.Header.Get("Location")
			}()
		}
		first := <-ids
		for range n - 1 {
			if id := <-ids; id != first {
				t.Errorf("concurrent creates with one key gave %s and %s", first, id)
			}
		}
	})
}

func TestCancelTask(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		task := h.createTask(`{"prompt": "x"}`)
		c := decode[taskView](t, h.request("POST", "/api/v1/tasks/"+task.ID+"/cancel", nil), http.StatusAccepted)
		if !c.CancelRequested || c.State != loop.Cancelled || c.FinishedAt == nil {
			t.Errorf("cancelled queued task: state %s, cancel_requested %v, finished_at %v", c.State, c.CancelRequested, c.FinishedAt)
		}
		got := decode[taskView](t, h.request("GET", "/api/v1/tasks/"+task.ID, nil), 200)
		if got.State != loop.Cancelled {
			t.Errorf("state after cancel = %s", got.State)
		}
		e := decode[apiErr](t, h.request("POST", "/api/v1/tasks/"+task.ID+"/cancel", nil), http.StatusConflict)
		if e.Error.Code != "conflict" || !strings.Contains(e.Error.Message, "already cancelled") {
			t.Errorf("second cancel: %+v", e)
		}
		decode[apiErr](t, h.request("POST", "/api/v1/tasks/nope/cancel", nil), http.StatusNotFound)

		done := h.createTask(`{"prompt": "y"}`)
		finish(t, h, done.ID, startRun(t, h, done.ID), 0)
		e = decode[apiErr](t, h.request("POST", "/api/v1/tasks/"+done.ID+"/cancel", nil), http.StatusConflict)
		if !strings.Contains(e.Error.Message, "already completed") {
			t.Errorf("cancel of a completed task: %+v", e)
		}
		if got := decode[taskView](t, h.request("GET", "/api/v1/tasks/"+done.ID, nil), 200); got.State != loop.Completed || got.CancelRequested {
			t.Errorf("a refused cancel changed the task: state %s, cancel_requested %v", got.State, got.CancelRequested)
		}

	})
}

// startRun plays a worker taking the task: an attempt and a worker_running checkpoint.
// It returns the attempt number for later checkpoints.
func startRun(t *testing.T, h *harness, id string) int {
	t.Helper()
	ctx := context.Background()
	task, err := h.store.StartAttempt(ctx, id, "worker-1")
	if err != nil {
		t.Fatal(err)
	}
	r := task.Run
	now := time.Now().UTC()
	r.State, r.StartedAt = loop.WorkerRunning, &now
	r.Iterations = []loop.Iteration{{N: 1, WorkerStartedAt: &now}}
	r.Agent = &loop.Agent{Role: "worker", Iteration: 1, PID: 4242, StartedAt: now}
	if err := h.store.SaveRun(ctx, id, task.Attempts, &r); err != nil {
		t.Fatal(err)
	}
	return task.Attempts
}

func TestTaskShowsRunProgress(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		task := h.createTask(`{"prompt": "x"}`)
		startRun(t, h, task.ID)
		got := decode[taskView](t, h.request("GET", "/api/v1/tasks/"+task.ID, nil), 200)
		if got.State != loop.WorkerRunning || got.Attempts != 1 || got.WorkerID != "worker-1" || got.StartedAt == nil ||
			got.Agent == nil || got.Agent.PID != 4242 || len(got.Iterations) != 1 || got.Iterations[0].N != 1 {
			t.Errorf("running task: %+v", got)
		}
	})
}

func TestStatus(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		h.createTask(`{"prompt": "x"}`)
		h.createTask(`{"prompt": "y"}`)
		st := decode[map[string]any](t, h.request("GET", "/api/v1/status", nil), 200)
		counts, _ := st["counts"].(map[string]any)
		if counts["queued"] != 2.0 || counts["completed"] != 0.0 || len(counts) != 10 {
			t.Errorf("counts = %v, want every state and 2 queued", counts)
		}
		for _, k := range []string{"queue_depth", "in_flight", "oldest_queued_age_seconds", "workers_alive", "workers"} {
			if _, ok := st[k]; !ok {
				t.Errorf("status has no %s: %v", k, st)
			}
		}
	})
}

func TestInvalidAllowlistAllowsNothing(t *testing.T) {
	eachBackend(t, func(o *Options) {
		o.Config.RepoAllowlist = []string{"github.com/example"} // no scheme: unusable
	}, func(t *testing.T, h *harness) {
		e := decode[apiErr](t, h.request("POST", "/api/v1/tasks", `{"prompt": "x", "repo": {"url": "https://github.com/example/a"}}`), 400)
		if !strings.Contains(e.Error.Message, "not allowed on this server") {
			t.Errorf("error = %+v", e)
		}
		if !strings.Contains(h.logs.String(), "ignoring a repo_allowlist entry") {
			t.Errorf("the unusable entry is not logged")
		}
	})
}
