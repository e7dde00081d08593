package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The deployment smoke test reads the version from /healthz to check which release
// answered through the test listener.
func TestHealthzReportsVersion(t *testing.T) {
	eachBackend(t, func(o *Options) { o.Version = "v1.4.0" }, func(t *testing.T, h *harness) {
		if got := decode[healthView](t, h.request("GET", "/healthz", nil, "Authorization", ""), 200); got.Version != "v1.4.0" {
			t.Errorf("healthz version = %q, want v1.4.0", got.Version)
		}
	})
}

func TestHealthOnlyServesPublicEndpoints(t *testing.T) {
	notReady := errors.New("draining: this process is shutting down")
	var ready error
	h := Health(func(context.Context) error { return ready }, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("oneshot_up 1\n"))
	}), "v9.9.9", nil)
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get("/healthz"); code != 200 || !strings.Contains(body, `"version":"v9.9.9"`) {
		t.Fatalf("/healthz = %d %s", code, body)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"ready"`) {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	ready = notReady
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, `"not_ready"`) || !strings.Contains(body, "draining") {
		t.Fatalf("/readyz while draining = %d %s", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "oneshot_up") {
		t.Fatalf("/metrics = %d %s", code, body)
	}
	if code, _ := get("/api/v1/tasks"); code != 404 {
		t.Fatalf("a worker must not serve the API, got %d", code)
	}
}
