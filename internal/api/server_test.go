package api

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oneshot-run/oneshot/internal/store"
)

func TestHealthAndReadiness(t *testing.T) {
	var notReady error
	eachBackend(t, func(o *Options) {
		o.Ready = func(ctx context.Context) error { return notReady }
	}, func(t *testing.T, h *harness) {
		notReady = nil
		if got := decode[healthView](t, h.request("GET", "/healthz", nil, "Authorization", ""), 200); got.Status != "ok" {
			t.Errorf("healthz = %+v", got)
		}
		if got := decode[healthView](t, h.request("GET", "/readyz", nil, "Authorization", ""), 200); got.Status != "ready" {
			t.Errorf("readyz = %+v", got)
		}
		notReady = errors.New("draining: shutting down")
		got := decode[healthView](t, h.request("GET", "/readyz", nil, "Authorization", ""), http.StatusServiceUnavailable)
		if got.Status != "not_ready" || got.Reason != "draining: shutting down" {
			t.Errorf("readyz while draining = %+v", got)
		}
		// Liveness does not depend on readiness.
		decode[healthView](t, h.request("GET", "/healthz", nil, "Authorization", ""), 200)
	})
}

func TestReadyDefaultsToStorePing(t *testing.T) {
	eachBackend(t, func(o *Options) {
		o.Store = pingFails{o.Store}
	}, func(t *testing.T, h *harness) {
		got := decode[healthView](t, h.request("GET", "/readyz", nil), http.StatusServiceUnavailable)
		if !strings.Contains(got.Reason, "schema") {
			t.Errorf("readyz = %+v, want the store's reason", got)
		}
	})
}

type pingFails struct{ store.Store }

func (pingFails) Ping(context.Context) error {
	return errors.New("database schema is at version 1, this binary needs 2: run oneshot migrate")
}

func TestMetricsMounted(t *testing.T) {
	eachBackend(t, func(o *Options) {
		o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "oneshot_tasks{state=\"queued\"} 0\n")
		})
	}, func(t *testing.T, h *harness) {
		resp := h.request("GET", "/metrics", nil, "Authorization", "")
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(b), "oneshot_tasks") {
			t.Errorf("metrics: %d %s", resp.StatusCode, b)
		}
	})
}

func TestRouting(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		tests := []struct {
			method, path string
			want         int
			code, allow  string
		}{
			{"DELETE", "/api/v1/tasks", 405, "method_not_allowed", "POST, GET, HEAD"},
			{"PUT", "/api/v1/tasks/abc", 405, "method_not_allowed", "GET, HEAD"},
			{"GET", "/api/v1/tasks/abc/cancel", 405, "method_not_allowed", "POST"},
			{"POST", "/healthz", 405, "method_not_allowed", "GET, HEAD"},
			{"GET", "/api/v2/tasks", 404, "not_found", ""},
			{"GET", "/nothing-here", 404, "not_found", ""},
		}
		for _, tc := range tests {
			t.Run(tc.method+" "+tc.path, func(t *testing.T) {
				resp := h.request(tc.method, tc.path, nil)
				e := decode[apiErr](t, resp, tc.want)
				if e.Error.Code != tc.code || e.Error.Message == "" {
					t.Errorf("error = %+v", e)
				}
				if got := resp.Header.Get("Allow"); got != tc.allow {
					t.Errorf("Allow = %q, want %q", got, tc.allow)
				}
			})
		}
	})
}

func TestDashboardMount(t *testing.T) {
	eachBackend(t, func(o *Options) {
		o.Dashboard = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "dashboard") })
	}, func(t *testing.T, h *harness) {
		resp := h.request("GET", "/", nil, "Authorization", "")
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "dashboard" {
			t.Errorf("/ = %q", b)
		}
		// The API's namespace stays the API's.
		decode[apiErr](t, h.request("GET", "/api/v1/nothing", nil), 404)
	})
}

// panicky panics on GetTask and fails token lookups for one hash, as a broken store would.
type panicky struct {
	store.Store
	failHash string
}

func (p panicky) GetTask(context.Context, string) (*store.Task, error) { panic("boom") }

func (p panicky) TokenByHash(ctx context.Context, hash []byte) (*store.Token, error) {
	if string(hash) == p.failHash {
		return nil, errors.New("dial tcp 10.0.0.5:5432: connection refused")
	}
	return p.Store.TokenByHash(ctx, hash)
}

func TestInternalErrors(t *testing.T) {
	failing, failingHash := NewToken()
	eachBackend(t, func(o *Options) {
		o.Store = panicky{Store: o.Store, failHash: string(failingHash)}
	}, func(t *testing.T, h *harness) {
		resp := h.request("GET", "/api/v1/tasks/abc", nil)
		e := decode[apiErr](t, resp, 500)
		id := resp.Header.Get("X-Request-Id")
		if e.Error.Code != "internal" || id == "" || !strings.Contains(e.Error.Message, id) {
			t.Errorf("panic: %+v, request id %q", e, id)
		}
		if !strings.Contains(h.logs.String(), "panic: boom") {
			t.Errorf("the panic is not logged:\n%s", h.logs)
		}

		e = decode[apiErr](t, h.request("GET", "/api/v1/tasks", nil, "Authorization", "Bearer "+failing), 500)
		if strings.Contains(e.Error.Message, "10.0.0.5") {
			t.Errorf("the client sees internal details: %q", e.Error.Message)
		}
		if !strings.Contains(h.logs.String(), "10.0.0.5") {
			t.Errorf("the cause is not logged")
		}
	})
}

func TestLogsKeepSecretsOut(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		const prompt = "PROMPT-SECRET-7f3a: deploy with password hunter2"
		task := h.createTask(map[string]string{"prompt": prompt})
		decode[taskView](t, h.request("GET", "/api/v1/tasks/"+task.ID+"?x=1", nil), 200)
		decode[apiErr](t, h.request("GET", "/api/v1/tasks", nil, "Authorization", "Bearer os_not-a-real-token"), 401)
		logs := h.logs.String()
		for _, secret := range []string{h.token, "hunter2", "PROMPT-SECRET", "os_not-a-real-token"} {
			if strings.Contains(logs, secret) {
				t.Errorf("the log contains %q:\n%s", secret, logs)
			}
		}
		for _, want := range []string{`"path":"POST /api/v1/tasks"`, `"path":"GET /api/v1/tasks/{id}"`, `"status":201`, `"status":401`, `"task_id":"` + task.ID + `"`, `"token_name":"test-admin"`, `"duration_ms":`} {
			if !strings.Contains(logs, want) {
				t.Errorf("the log lacks %s:\n%s", want, logs)
			}
		}
	})
}

func TestStreamOutlivesWriteTimeout(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		srv := httptest.NewUnstartedServer(New(h.opts))
		srv.Config.WriteTimeout = 300 * time.Millisecond
		srv.Start()
		t.Cleanup(srv.Close) // after the stream's cleanup closes it
		h.srv = srv
		task := h.createTask(`{"prompt": "x"}`)
		startRun(t, h, task.ID)
		frames, _ := openStream(t, h, task.ID)
		nextFrame(t, frames, 5*time.Second) // retry
		time.Sleep(600 * time.Millisecond)
		appendEvents(t, h, task.ID, 1, 1)
		expectEvents(t, frames, task.ID, 1, 1)
	})
}

func TestStreamsEndWhenServerDrains(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		draining, drain := context.WithCancel(context.Background())
		defer drain()
		srv := httptest.NewUnstartedServer(New(h.opts))
		srv.Config.BaseContext = func(net.Listener) context.Context { return draining }
		srv.Start()
		t.Cleanup(srv.Close)
		h.srv = srv
		task := h.createTask(`{"prompt": "x"}`)
		startRun(t, h, task.ID)
		frames, _ := openStream(t, h, task.ID)
		nextFrame(t, frames, 5*time.Second) // retry
		drain()
		if f, ok := nextFrame(t, frames, 5*time.Second); ok {
			t.Fatalf("the stream goes on after the server's base context ended: %+v", f)
		}
	})
}
