package api

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// readyTimeout bounds a readiness check, so a hung database makes /readyz fail rather
// than hang the load balancer's probe.
const readyTimeout = 3 * time.Second

//go:embed openapi.json
var openAPIDoc []byte

type healthView struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Version is the running binary's version, so a deployment can check what it reached.
	Version string `json:"version,omitempty"`
}

// healthz handles GET /healthz: the process is alive and serving HTTP.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, healthView{Status: "ok", Version: s.version})
	return nil
}

// readyz handles GET /readyz: 200 when the process should receive traffic, 503 with the
// reason when not (store unreachable, schema not current, draining).
func (s *server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		if info := requestInfoFrom(r.Context()); info != nil {
			info.err = err
		}
		writeJSON(w, http.StatusServiceUnavailable, healthView{Status: "not_ready", Reason: err.Error()})
		return nil
	}
	writeJSON(w, http.StatusOK, healthView{Status: "ready"})
	return nil
}

// serveMetrics handles GET /metrics with the Prometheus handler it was given.
func (s *server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	if s.metrics == nil {
		return errNotFound("metrics are not enabled on this server")
	}
	s.metrics.ServeHTTP(w, r)
	return nil
}

// status handles GET /api/v1/status.
func (s *server) status(w http.ResponseWriter, r *http.Request) error {
	st, err := s.store.Status(r.Context())
	if err != nil {
		return fmt.Errorf("read status: %w", err)
	}
	workers, err := s.store.Workers(r.Context())
	if err != nil {
		return fmt.Errorf("list workers: %w", err)
	}
	writeJSON(w, http.StatusOK, viewStatus(st, workers))
	return nil
}

// openAPI handles GET /api/v1/openapi.json.
func (s *server) openAPI(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	_, err := w.Write(openAPIDoc)
	return err
}

// Health serves only the API's unauthenticated endpoints (/healthz, /readyz and
// /metrics), with the same answers: it is what a worker process exposes.
func Health(ready func(context.Context) error, metrics http.Handler, version string, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &server{ready: ready, metrics: metrics, version: version, log: log, now: time.Now}
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		if rt.public {
			mux.Handle(rt.method+" "+rt.path, s.endpoint(rt))
		}
	}
	return s.logRequests(mux)
}
