package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// Error codes of the JSON error body. Clients branch on the code; the message is for
// the person reading it.
const (
	codeInvalidRequest       = "invalid_request"
	codeUnauthorized         = "unauthorized"
	codeForbidden            = "forbidden"
	codeNotFound             = "not_found"
	codeConflict             = "conflict"
	codePayloadTooLarge      = "payload_too_large"
	codeUnsupportedMediaType = "unsupported_media_type"
	codeMethodNotAllowed     = "method_not_allowed"
	codeInternal             = "internal"
)

// apiError is an error a handler returns to answer with a specific status and code.
type apiError struct {
	status  int
	code    string
	message string
	header  http.Header // extra response headers (WWW-Authenticate, Allow)
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func errInvalid(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, codeInvalidRequest, format, args...)
}

func errNotFound(format string, args ...any) *apiError {
	return newError(http.StatusNotFound, codeNotFound, format, args...)
}

func errConflict(format string, args ...any) *apiError {
	return newError(http.StatusConflict, codeConflict, format, args...)
}

func errMethodNotAllowed(method string, allowed []string) *apiError {
	e := newError(http.StatusMethodNotAllowed, codeMethodNotAllowed,
		"%s is not allowed here: use %s", method, strings.Join(allowed, " or "))
	e.header = http.Header{"Allow": {strings.Join(allowed, ", ")}}
	return e
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers with err: an *apiError as it says, anything else as a 500 whose
// details go to the log only (they may name hosts or queries).
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		if r.Context().Err() != nil && errors.Is(err, context.Cause(r.Context())) {
			return // the client went away; nobody reads the answer
		}
		info := requestInfoFrom(r.Context())
		id := ""
		if info != nil {
			id = info.id
			info.err = err
		}
		ae = newError(http.StatusInternalServerError, codeInternal,
			"the server failed to handle the request; retry later, and if it persists give the operator the request id %s", id)
	}
	if rec, ok := w.(*recorder); ok && rec.status != 0 {
		// The response is under way (a stream): it cannot become an error any more.
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "error after the response started", slog.String("error", err.Error()))
		return
	}
	h := w.Header()
	for k, v := range ae.header {
		h[k] = v
	}
	writeJSON(w, ae.status, errorBody{errorDetail{ae.code, ae.message}})
}

// writeJSON writes v with status. Encoding errors cannot be reported to the client any
// more; they only happen for values this package builds, so they would be bugs.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
