package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

type ctxKey int

const (
	infoKey ctxKey = iota
	principalKey
)

// requestInfo collects what the request log line reports. Handlers fill it in as they
// learn things (the route, the task, the token's name); the logging middleware owns it.
type requestInfo struct {
	id      string
	pattern string
	taskID  string
	token   string // the token's name, never the secret
	err     error  // the cause of a 500, for the log only
}

func requestInfoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey).(*requestInfo)
	return info
}

// noteTask records the task a request is about, for the log.
func noteTask(r *http.Request, id string) {
	if info := requestInfoFrom(r.Context()); info != nil {
		info.taskID = id
	}
}

// recorder remembers the status and size of a response. Unwrap lets
// http.ResponseController reach the connection (flushing, write deadlines).
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 && code >= 200 {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(b)
	rec.bytes += int64(n)
	return n, err
}

func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// logRequests gives every request an id, recovers panics into a JSON 500 and logs one
// line per request: method, route pattern, status, duration and, when known, the task
// and the token's name. It never logs headers, bodies or query strings, so tokens and
// prompts stay out of the logs.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{id: newRequestID()}
		rec := &recorder{ResponseWriter: w}
		rec.Header().Set("X-Request-Id", info.id)
		r = r.WithContext(context.WithValue(r.Context(), infoKey, info))
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				info.err = fmt.Errorf("panic: %v\n%s", v, debug.Stack())
				if rec.status == 0 {
					writeJSON(rec, http.StatusInternalServerError, errorBody{errorDetail{codeInternal,
						"the server failed to handle the request; retry later, and if it persists give the operator the request id " + info.id}})
				}
			}
			s.logRequest(r, info, rec, time.Since(start))
		}()
		next.ServeHTTP(rec, r)
	})
}

func (s *server) logRequest(r *http.Request, info *requestInfo, rec *recorder, d time.Duration) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK // nothing written: net/http answers 200
	}
	pattern := info.pattern
	if pattern == "" {
		pattern = r.Pattern
	}
	if pattern == "" {
		pattern = "unmatched"
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", pattern),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.Int64("bytes", rec.bytes),
		slog.String("request_id", info.id),
	}
	if info.taskID != "" {
		attrs = append(attrs, slog.String("task_id", info.taskID))
	}
	if info.token != "" {
		attrs = append(attrs, slog.String("token_name", info.token))
	}
	level := slog.LevelInfo
	switch {
	case pattern == "GET /healthz" || pattern == "GET /readyz" || pattern == "GET /metrics":
		level = slog.LevelDebug // probed every few seconds; a failing /readyz is expected while draining
	case status >= 500:
		level = slog.LevelError
	}
	if info.err != nil {
		attrs = append(attrs, slog.String("error", info.err.Error()))
	}
	s.log.LogAttrs(r.Context(), level, "http request", attrs...)
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newTaskID makes a task id that sorts by creation time and is unique across processes:
// the UTC time to the second and 48 random bits, e.g. 20250102-150405-3f9a0c1d2e4b.
func newTaskID(now time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}
