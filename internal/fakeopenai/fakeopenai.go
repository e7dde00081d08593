// Package fakeopenai is a scripted stand-in for an OpenAI-compatible chat completions
// server (Ollama's /v1, OpenAI, vLLM), for tests and manual runs.
//
// It speaks the wire format the real servers speak: server-sent events with one
// chat.completion.chunk per data line, a usage chunk when the client asks for one,
// "data: [DONE]" at the end, and error bodies shaped like each server's own. Replies
// are scripted per request, and can misbehave on purpose: hang before the headers,
// stall mid-stream, send garbage, report an error mid-stream, reset the connection.
//
//	srv := fakeopenai.New(t)
//	srv.Script(fakeopenai.Reply{Status: 429, RetryAfter: "0"}, fakeopenai.Reply{Content: "42"})
//	// point the client at srv.URL (the base URL, ending in /v1)
package fakeopenai

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Flavor selects which real server the fake imitates where they differ: the reasoning
// field, error bodies and the answer to an unknown path.
type Flavor int

const (
	// Ollama imitates Ollama's OpenAI-compatible /v1 API (the default).
	Ollama Flavor = iota
	// OpenAI imitates api.openai.com.
	OpenAI
	// VLLM imitates vLLM's OpenAI-compatible server.
	VLLM
)

// String names the flavor as the fakeopenai command's -flavor flag spells it.
func (f Flavor) String() string {
	switch f {
	case OpenAI:
		return "openai"
	case VLLM:
		return "vllm"
	default:
		return "ollama"
	}
}

// ParseFlavor is the inverse of Flavor.String.
func ParseFlavor(s string) (Flavor, error) {
	for _, f := range []Flavor{Ollama, OpenAI, VLLM} {
		if strings.EqualFold(s, f.String()) {
			return f, nil
		}
	}
	return Ollama, fmt.Errorf("unknown flavor %q: use ollama, openai or vllm", s)
}

// Usage is the token count a reply reports.
type Usage struct {
	Prompt, Completion int
}

// ToolCall is a function call the model asks for.
type ToolCall struct {
	Name      string
	Arguments string // JSON text, streamed in pieces
}

// Reply scripts the answer to one request. The zero Reply streams an empty answer.
type Reply struct {
	Content   string // streamed as several chunks (about four)
	Reasoning string // streamed before the content, in the flavor's reasoning field
	ToolCalls []ToolCall

	// Status, when not 0 or 200, answers with that HTTP status and an error body
	// shaped like the flavor's (404 is "model not found" for the requested model).
	Status int
	// ErrorMessage overrides the error body's message.
	ErrorMessage string
	// RetryAfter is sent as the Retry-After header with a non-200 Status.
	RetryAfter string

	Hang                 bool // accept the request, never send headers (until the client goes away)
	StallAfterFirstChunk bool // send one chunk, then nothing (until the client goes away)
	Malformed            bool // send a chunk that is not valid JSON, then end
	CutAfterFirstChunk   bool // send one chunk, then drop the connection, as a crashing server does
	StreamError          string
	NoStream             bool // answer with a plain JSON completion even if asked to stream
	Reset                bool // close the TCP connection before sending anything

	// KeepAlive sends an SSE comment line (": keep-alive") before every chunk, as
	// some proxies do.
	KeepAlive bool
	// MultiLineData spreads each chunk's JSON over several data: lines.
	MultiLineData bool
	// NoDone ends the stream without "data: [DONE]" (and without finish_reason when
	// the stream is cut short by StallAfterFirstChunk or Malformed).
	NoDone bool
	// FinishReason defaults to "stop" ("tool_calls" when ToolCalls are set).
	FinishReason string
	// Usage overrides the counted tokens (by default about one per four bytes).
	Usage *Usage
	// ChunkDelay overrides the server's latency between chunks for this reply.
	ChunkDelay time.Duration
}

// Message is one chat message of a recorded request.
type Message struct {
	Role    string
	Content string
}

// Request is what the fake recorded about one call. It keeps whether an
// Authorization header came, never its value.
type Request struct {
	Method       string
	Path         string
	Model        string
	Messages     []Message
	Stream       bool
	IncludeUsage bool
	HasAuth      bool // "Authorization: Bearer …" with a non-empty token
	At           time.Time
}

// Prompt returns the content of the last user message.
func (r Request) Prompt() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content
		}
	}
	return ""
}

// VerdictDone is what DefaultReply answers to a prompt that asks for a verdict.
const VerdictDone = `{"verdict":"DONE","feedback":"ok"}`

// DefaultReply answers "fake answer", or VerdictDone when the prompt mentions a
// verdict, so a worker→auditor loop against the fake completes on the first try.
func DefaultReply(req Request) Reply {
	if strings.Contains(strings.ToLower(req.Prompt()), "verdict") {
		return Reply{Content: VerdictDone}
	}
	return Reply{Content: "fake answer"}
}

// Option configures a Handler or Server.
type Option func(*Handler)

// WithFlavor selects the server the fake imitates (default Ollama).
func WithFlavor(f Flavor) Option { return func(h *Handler) { h.flavor = f } }

// WithModels restricts the models the server has; others get the flavor's
// "model not found" 404. By default every model exists.
func WithModels(names ...string) Option {
	return func(h *Handler) { h.models = slices.Clone(names) }
}

// WithAPIKey makes the server require "Authorization: Bearer key" and answer 401
// like OpenAI otherwise.
func WithAPIKey(key string) Option { return func(h *Handler) { h.apiKey = key } }

// WithLatency waits d before the headers and before every chunk.
func WithLatency(d time.Duration) Option { return func(h *Handler) { h.latency = d } }

// WithFailureRate answers that fraction (0..1) of chat requests with 429 and
// Retry-After retryAfter, before any scripted reply is consumed.
func WithFailureRate(rate float64, retryAfter string) Option {
	return func(h *Handler) { h.failureRate, h.failureRetryAfter = rate, retryAfter }
}

// WithSeed makes the failure-rate draws reproducible.
func WithSeed(seed uint64) Option {
	return func(h *Handler) { h.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
}

// Handler is the fake as an http.Handler, for serving it outside tests
// (cmd/fakeopenai). Server wraps it in an httptest.Server.
type Handler struct {
	flavor            Flavor
	models            []string
	apiKey            string
	latency           time.Duration
	failureRate       float64
	failureRetryAfter string

	done chan struct{} // closed by Close: releases hung and stalled requests
	once sync.Once

	mu        sync.Mutex
	rng       *rand.Rand
	responder func(Request) Reply
	requests  []Request
	seq       int
}

// NewHandler returns a fake that answers with DefaultReply until scripted.
func NewHandler(opts ...Option) *Handler {
	h := &Handler{done: make(chan struct{}), responder: DefaultReply}
	for _, o := range opts {
		o(h)
	}
	if h.rng == nil {
		seed := uint64(time.Now().UnixNano())
		h.rng = rand.New(rand.NewPCG(seed, seed>>1))
	}
	return h
}

// Close releases requests that hang or stall, so a server can shut down.
func (h *Handler) Close() { h.once.Do(func() { close(h.done) }) }

// Script sets the replies to the next requests, in order; the last one repeats
// once they are used up.
func (h *Handler) Script(replies ...Reply) {
	replies = slices.Clone(replies)
	next := 0
	var mu sync.Mutex
	h.Respond(func(Request) Reply {
		mu.Lock()
		defer mu.Unlock()
		if len(replies) == 0 {
			return Reply{}
		}
		r := replies[min(next, len(replies)-1)]
		next++
		return r
	})
}

// Respond sets a function that computes each reply from the request.
func (h *Handler) Respond(f func(Request) Reply) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.responder = f
}

// Requests returns the chat requests received so far.
func (h *Handler) Requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.requests)
}

// Server is the fake listening on a loopback port for the length of a test.
type Server struct {
	// URL is the OpenAI-compatible base URL, e.g. http://127.0.0.1:PORT/v1; clients
	// POST {URL}/chat/completions.
	URL string
	*Handler
	ts *httptest.Server
}

// New starts a fake server that is closed when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	h := NewHandler(opts...)
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		ts.CloseClientConnections()
		ts.Close()
	})
	return &Server{URL: ts.URL + "/v1", Handler: h, ts: ts}
}

// Root is the server's address without the /v1 prefix: a base URL that is wrong
// for an OpenAI client, as users sometimes configure.
func (s *Server) Root() string { return s.ts.URL }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/chat/completions":
		h.chat(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		h.listModels(w)
	case r.Method == http.MethodGet && r.URL.Path == "/" && h.flavor == Ollama:
		io.WriteString(w, "Ollama is running")
	default:
		h.unknownPath(w, r)
	}
}

type wireRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Stream        bool `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func (h *Handler) chat(w http.ResponseWriter, r *http.Request) {
	var wire wireRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err == nil {
		err = json.Unmarshal(body, &wire)
	}
	req := Request{
		Method:  r.Method,
		Path:    r.URL.Path,
		Model:   wire.Model,
		Stream:  wire.Stream,
		HasAuth: bearer(r) != "",
		At:      time.Now(),
	}
	req.IncludeUsage = wire.StreamOptions != nil && wire.StreamOptions.IncludeUsage
	for _, m := range wire.Messages {
		req.Messages = append(req.Messages, Message{Role: m.Role, Content: contentText(m.Content)})
	}

	h.mu.Lock()
	h.requests = append(h.requests, req)
	h.seq++
	id := h.seq
	failing := h.failureRate > 0 && h.rng.Float64() < h.failureRate
	responder := h.responder
	h.mu.Unlock()

	if err != nil {
		h.writeError(w, http.StatusBadRequest, "", fmt.Sprintf("invalid request body: %v", err), "")
		return
	}
	if h.apiKey != "" && bearer(r) != h.apiKey {
		h.unauthorized(w, bearer(r))
		return
	}
	if wire.Model == "" {
		h.writeError(w, http.StatusBadRequest, "", "model is required", "")
		return
	}
	if len(h.models) > 0 && !slices.Contains(h.models, wire.Model) {
		h.modelNotFound(w, wire.Model)
		return
	}
	if failing {
		h.writeError(w, http.StatusTooManyRequests, h.failureRetryAfter, "", "")
		return
	}

	reply := responder(req)
	if !h.sleep(r, h.latency) {
		return
	}
	switch {
	case reply.Reset:
		resetConnection(w)
		return
	case reply.Hang:
		h.wait(r)
		return
	case reply.Status != 0 && reply.Status != http.StatusOK:
		if reply.Status == http.StatusNotFound && reply.ErrorMessage == "" {
			h.modelNotFound(w, wire.Model)
			return
		}
		h.writeError(w, reply.Status, reply.RetryAfter, reply.ErrorMessage, "")
		return
	}
	c := completion{h: h, id: fmt.Sprintf("chatcmpl-%d", id), model: wire.Model, reply: reply, prompt: req.Prompt()}
	if reply.NoStream || !wire.Stream {
		c.writeJSON(w)
		return
	}
	c.stream(w, r, req.IncludeUsage)
}

// sleep waits d, or less if the client goes away or the fake closes; it reports
// whether to go on.
func (h *Handler) sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-h.done:
	}
	return false
}

// wait blocks until the client goes away or the fake closes.
func (h *Handler) wait(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-h.done:
	}
}

func bearer(r *http.Request) string {
	v := r.Header.Get("Authorization")
	if len(v) < 7 || !strings.EqualFold(v[:7], "bearer ") {
		return ""
	}
	return strings.TrimSpace(v[7:])
}

// contentText flattens a message's content, a string or a list of parts.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

// resetConnection closes the connection with a TCP RST, as a crashing proxy does.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.SetLinger(0)
	}
	conn.Close()
}
