package fakeopenai

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The error bodies below follow what each server really sends: OpenAI and Ollama's
// /v1 nest {"message","type","param","code"} under "error" (Ollama with code null
// and a type derived from the status), vLLM does too but with the status as an
// integer code. Unknown paths get each server's router answer.

type wireError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Param   any    `json:"param"`
	Code    any    `json:"code"`
}

type wireErrorBody struct {
	Error wireError `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError answers status with the flavor's error body; message "" picks the
// server's usual text for that status.
func (h *Handler) writeError(w http.ResponseWriter, status int, retryAfter, message, code string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	if message == "" {
		message = h.defaultMessage(status)
	}
	e := wireError{Message: message, Type: h.errorType(status)}
	switch {
	case code != "":
		e.Code = code
	case h.flavor == VLLM:
		e.Code = status
	case h.flavor == OpenAI && status == http.StatusTooManyRequests:
		e.Code = "rate_limit_exceeded"
	}
	writeJSON(w, status, wireErrorBody{e})
}

func (h *Handler) errorType(status int) string {
	switch h.flavor {
	case VLLM:
		switch {
		case status == http.StatusBadRequest:
			return "BadRequestError"
		case status == http.StatusNotFound:
			return "NotFoundError"
		case status >= 500:
			return "InternalServerError"
		}
		return strings.ReplaceAll(http.StatusText(status), " ", "") + "Error"
	case OpenAI:
		switch {
		case status == http.StatusTooManyRequests:
			return "requests"
		case status >= 500:
			return "server_error"
		}
		return "invalid_request_error"
	default: // Ollama
		switch status {
		case http.StatusBadRequest:
			return "invalid_request_error"
		case http.StatusNotFound:
			return "not_found_error"
		}
		return "api_error"
	}
}

func (h *Handler) defaultMessage(status int) string {
	switch {
	case status == http.StatusTooManyRequests && h.flavor == OpenAI:
		return "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s."
	case status == http.StatusTooManyRequests:
		return "too many requests, please retry later"
	case status == http.StatusServiceUnavailable && h.flavor == Ollama:
		return "server busy, please try again.  maximum pending requests exceeded"
	case status >= 500 && h.flavor == OpenAI:
		return "The server had an error while processing your request. Sorry about that!"
	case status == http.StatusForbidden:
		return "You are not allowed to sample from this model"
	}
	return strings.ToLower(http.StatusText(status))
}

func (h *Handler) modelNotFound(w http.ResponseWriter, model string) {
	switch h.flavor {
	case OpenAI:
		h.writeError(w, http.StatusNotFound, "",
			fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model), "model_not_found")
	case VLLM:
		h.writeError(w, http.StatusNotFound, "", fmt.Sprintf("The model `%s` does not exist.", model), "")
	default:
		h.writeError(w, http.StatusNotFound, "", fmt.Sprintf("model %q not found, try pulling it first", model), "")
	}
}

// unauthorized answers like OpenAI: 401 with code invalid_api_key and the key
// masked, or a different message when no key came at all.
func (h *Handler) unauthorized(w http.ResponseWriter, got string) {
	if got == "" {
		writeJSON(w, http.StatusUnauthorized, wireErrorBody{wireError{
			Message: "You didn't provide an API key. Send it in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY).",
			Type:    "invalid_request_error",
		}})
		return
	}
	writeJSON(w, http.StatusUnauthorized, wireErrorBody{wireError{
		Message: fmt.Sprintf("Incorrect API key provided: %s. You can find your API key at https://platform.openai.com/account/api-keys.", maskKey(got)),
		Type:    "invalid_request_error",
		Code:    "invalid_api_key",
	}})
}

// maskKey shows as little of a key as OpenAI does: a few characters at each end,
// and nothing of a short one.
func maskKey(k string) string {
	if len(k) < 12 {
		return strings.Repeat("*", len(k))
	}
	return k[:3] + strings.Repeat("*", len(k)-7) + k[len(k)-4:]
}

func (h *Handler) unknownPath(w http.ResponseWriter, r *http.Request) {
	switch h.flavor {
	case OpenAI:
		writeJSON(w, http.StatusNotFound, wireErrorBody{wireError{
			Message: fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path),
			Type:    "invalid_request_error",
		}})
	case VLLM:
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Not Found"})
	default: // Ollama's router: plain text
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "404 page not found")
	}
}

func (h *Handler) listModels(w http.ResponseWriter) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, m := range h.models {
		list.Data = append(list.Data, model{ID: m, Object: "model", Created: 1700000000, OwnedBy: "library"})
	}
	writeJSON(w, http.StatusOK, list)
}
