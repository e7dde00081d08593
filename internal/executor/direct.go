package executor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/oneshot-run/oneshot/internal/activity"
)

// The direct executor talks to an OpenAI-compatible chat completions endpoint
// (Ollama's /v1, OpenAI, vLLM, LiteLLM, …) itself: one streamed request per turn,
// no agent program in between. The model gets the prompt as one user message and
// its streamed answer becomes message, thought, tool_use, usage and result events.

// DefaultDirectEndpoint is a local Ollama's OpenAI-compatible base URL.
const DefaultDirectEndpoint = "http://localhost:11434/v1"

// Bounds that keep memory flat however long or broken a stream is.
const (
	directMaxAnswer    = 4 << 20  // bytes of answer kept for the result
	directMaxJSONBody  = 16 << 20 // a non-streamed completion
	directMaxErrorBody = 64 << 10 // an error response
	directMaxSSEEvent  = 4 << 20  // one server-sent event (line or joined data)
	directMaxToolBytes = 1 << 20  // all tool call names and arguments of a turn
	directMaxToolCalls = 128
)

// directRetryPolicy says how rate limits (429), server errors (5xx) and connections
// reset before any byte are retried. Tests shrink the durations to milliseconds.
type directRetryPolicy struct {
	BaseDelay     time.Duration // first backoff; doubles per retry
	MaxDelay      time.Duration // cap of one backoff
	MaxAttempts   int           // requests in all, the first included
	MaxRetryAfter time.Duration // cap on a server's Retry-After
}

// directOptions tune the executor; defaultDirectOptions is what New uses.
type directOptions struct {
	Retry directRetryPolicy
	// Streamed text is coalesced into one message (or thought) event per line, or
	// per FlushBytes, or whatever arrived within FlushInterval, whichever comes
	// first: models stream a token at a time, and an event per token would flood
	// the log, the database and every watcher with fragments nobody can read.
	FlushInterval time.Duration
	FlushBytes    int
}

func defaultDirectOptions() directOptions {
	return directOptions{
		Retry: directRetryPolicy{
			BaseDelay:     time.Second,
			MaxDelay:      30 * time.Second,
			MaxAttempts:   5,
			MaxRetryAfter: 2 * time.Minute,
		},
		FlushInterval: 200 * time.Millisecond,
		FlushBytes:    4 << 10,
	}
}

type directExecutor struct {
	spec     Spec
	endpoint string // base URL as the user gave it, credentials removed, for messages
	url      string // …/chat/completions
	client   *http.Client
	opts     directOptions
}

func newDirect(spec Spec) (Executor, error) {
	return newDirectWithOptions(spec, defaultDirectOptions())
}

func newDirectWithOptions(spec Spec, opts directOptions) (*directExecutor, error) {
	if strings.TrimSpace(spec.Model) == "" {
		return nil, errors.New("the direct executor needs a model: set --worker-model / --auditor-model " +
			"(for a local Ollama, one that `ollama list` shows, e.g. llama3.2)")
	}
	if spec.Endpoint == "" {
		spec.Endpoint = DefaultDirectEndpoint
	}
	u, err := url.Parse(spec.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid model endpoint %q: it must be an http(s) base URL such as %s "+
			"(set --worker-endpoint / --auditor-endpoint)", spec.Endpoint, DefaultDirectEndpoint)
	}
	if spec.InactivityTimeout <= 0 {
		spec.InactivityTimeout = DefaultInactivityTimeout
	}
	if spec.MaxTimeout <= 0 {
		spec.MaxTimeout = DefaultMaxTimeout
	}
	if opts.Retry.MaxAttempts < 1 {
		opts.Retry.MaxAttempts = 1
	}
	base := strings.TrimRight(spec.Endpoint, "/")
	full := base
	// Tolerate the full path too: users paste it from API docs.
	if !strings.HasSuffix(full, "/chat/completions") {
		full += "/chat/completions"
	}
	shown := *u
	shown.User = nil
	return &directExecutor{
		spec:     spec,
		endpoint: strings.TrimRight(shown.String(), "/"),
		url:      full,
		client:   newDirectHTTPClient(),
		opts:     opts,
	}, nil
}

// newDirectHTTPClient has no overall timeout: a turn can stream for its whole
// MaxTimeout, and the inactivity watchdog bounds every wait, headers included.
func newDirectHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          8,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}

type directChatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type directStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type directChatRequest struct {
	Model         string               `json:"model"`
	Messages      []directChatMessage  `json:"messages"`
	Stream        bool                 `json:"stream"`
	StreamOptions *directStreamOptions `json:"stream_options,omitempty"`
}

// directFailure is why one attempt failed, and whether another may succeed.
type directFailure struct {
	err        error
	retry      bool
	what       string          // for the retry notice: "429", "503", "connection reset"
	retryAfter time.Duration   // the server's wish, when hasAfter
	hasAfter   bool            //
	data       json.RawMessage // the server's error body, when it is JSON
	// noStreamOptions: the server rejected stream_options (older Azure/vLLM); resend without
	noStreamOptions bool
}

func (f *directFailure) Error() string { return f.err.Error() }
func (f *directFailure) Unwrap() error { return f.err }

// Run sends the prompt and streams the answer. A failure after the answer began
// is not retried (the model would start again from scratch and the events so far
// would be duplicated); the partial Result is returned with the error. Workdir,
// Env and OnStart do not apply: there is no process, and the model touches no files.
func (d *directExecutor) Run(ctx context.Context, req Request, emit Emit) (Result, error) {
	if emit == nil {
		emit = func(activity.Event) {}
	}
	ctx, cancel := context.WithTimeoutCause(ctx, d.spec.MaxTimeout, ErrMaxTimeout)
	defer cancel()

	chat := directChatRequest{
		Model:         d.spec.Model,
		Messages:      []directChatMessage{{Role: "user", Content: req.Prompt}},
		Stream:        true,
		StreamOptions: &directStreamOptions{IncludeUsage: true},
	}
	body, err := json.Marshal(chat)
	if err != nil {
		return Result{}, fmt.Errorf("encoding the chat request: %w", err)
	}
	pre, _ := json.Marshal(map[string]string{"endpoint": d.endpoint, "model": d.spec.Model})
	emit(activity.Event{Type: activity.Preamble, Text: fmt.Sprintf("model %s at %s", d.spec.Model, d.endpoint), Data: pre})

	policy := d.opts.Retry
	for attempt := 1; ; attempt++ {
		res, fail := d.attempt(ctx, body, emit)
		if fail == nil {
			return res, nil
		}
		if fail.noStreamOptions && chat.StreamOptions != nil {
			chat.StreamOptions = nil
			body, _ = json.Marshal(chat)
			emit(activity.Event{Type: activity.Error, Text: "model API does not accept stream_options, retrying without (token usage will not be reported)", Data: fail.data})
			attempt--
			continue
		}
		if !fail.retry || attempt >= policy.MaxAttempts {
			if !errors.Is(fail.err, context.Canceled) {
				emit(activity.Event{Type: activity.Error, Text: activity.Truncate(fail.err.Error()), Data: fail.data})
			}
			return res, fail.err
		}
		wait := policy.delay(attempt, fail.retryAfter, fail.hasAfter)
		emit(activity.Event{
			Type: activity.Error,
			Text: fmt.Sprintf("model API %s, retrying in %s (attempt %d/%d)", fail.what, directRound(wait), attempt+1, policy.MaxAttempts),
			Data: fail.data,
		})
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return Result{}, d.interrupted(ctx, nil)
		}
	}
}

// delay is the wait before retry number n (1-based): the server's Retry-After when
// it sent one (capped), else exponential backoff with jitter. Half of the backoff
// is random so that clients that failed together do not come back together.
func (p directRetryPolicy) delay(n int, after time.Duration, hasAfter bool) time.Duration {
	if hasAfter {
		return max(0, min(after, p.MaxRetryAfter))
	}
	d := p.BaseDelay
	for i := 1; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

func directRound(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// directRetryAfter reads Retry-After (seconds or an HTTP date) or the
// retry-after-ms some OpenAI-compatible servers send.
func directRetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s < 0 || s > 1e9 {
			return 0, false
		}
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}

// attempt makes one request and consumes its answer.
func (d *directExecutor) attempt(ctx context.Context, body []byte, emit Emit) (Result, *directFailure) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The watchdog covers the wait for the headers and every read after them.
	watchdog := time.AfterFunc(d.spec.InactivityTimeout, func() { cancel(ErrInactivity) })
	defer watchdog.Stop()

	hreq, err := http.NewRequestWithContext(actx, http.MethodPost, d.url, bytes.NewReader(body))
	if err != nil {
		return Result{}, &directFailure{err: fmt.Errorf("building the request to %s: %w", d.endpoint, err)}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream, application/json")
	hreq.Header.Set("User-Agent", "oneshot")
	if d.spec.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+d.spec.APIKey)
	}
	resp, err := d.client.Do(hreq)
	if err != nil {
		if stop := d.interrupted(ctx, actx); stop != nil {
			return Result{}, &directFailure{err: stop}
		}
		return Result{}, d.transportFailure(err)
	}
	defer resp.Body.Close()
	watchdog.Reset(d.spec.InactivityTimeout)
	rd := &directWatchdogReader{r: resp.Body, t: watchdog, d: d.spec.InactivityTimeout}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		errBody, err := io.ReadAll(io.LimitReader(rd, directMaxErrorBody))
		if err != nil {
			if stop := d.interrupted(ctx, actx); stop != nil {
				return Result{}, &directFailure{err: stop}
			}
		}
		return Result{}, d.statusFailure(resp, errBody)
	}

	turn := newDirectTurn(emit, d.opts, d.redact)
	defer turn.close()
	var consumeErr error
	switch kind, br := directSniff(resp.Header.Get("Content-Type"), rd); kind {
	case "json":
		consumeErr = turn.consumeJSON(br)
	case "sse":
		consumeErr = turn.consumeSSE(br)
	default:
		consumeErr = fmt.Errorf("%w: %s answered with %q instead of an event stream: the endpoint must be the "+
			"OpenAI-compatible base URL, e.g. http://host:11434/v1", ErrModelAPI, d.endpoint, resp.Header.Get("Content-Type"))
	}
	if consumeErr != nil {
		partial := turn.partial()
		if stop := d.interrupted(ctx, actx); stop != nil {
			return partial, &directFailure{err: stop}
		}
		var fail *directFailure
		if errors.As(consumeErr, &fail) {
			return partial, fail
		}
		if !errors.Is(consumeErr, ErrModelAPI) {
			consumeErr = fmt.Errorf("%w: the connection to %s broke mid-answer (%v): the answer is incomplete; "+
				"check the server's logs and run again", ErrModelAPI, d.endpoint, d.redact(consumeErr.Error()))
		}
		return partial, &directFailure{err: consumeErr}
	}
	return turn.finish(), nil
}

// interrupted explains a turn that stopped because of a context: the inactivity
// watchdog (actx may be nil between attempts), the maximum time, or the caller's
// cancellation. It returns nil when no context ended.
func (d *directExecutor) interrupted(ctx, actx context.Context) error {
	if ctx.Err() == nil && actx != nil && errors.Is(context.Cause(actx), ErrInactivity) {
		return fmt.Errorf("%w: %s sent nothing for %s; check that the server is healthy (loading a large model "+
			"can take a while: raise --inactivity-timeout)", ErrInactivity, d.endpoint, d.spec.InactivityTimeout)
	}
	if ctx.Err() == nil {
		return nil
	}
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, ErrMaxTimeout):
		return fmt.Errorf("%w: the model's turn took longer than %s; raise --max-timeout if it needs longer",
			ErrMaxTimeout, d.spec.MaxTimeout)
	case errors.Is(cause, ctx.Err()):
		return fmt.Errorf("model request stopped: %w", cause)
	}
	return fmt.Errorf("model request stopped: %w: %w", ctx.Err(), cause)
}

func (d *directExecutor) redact(s string) string {
	if len(d.spec.APIKey) < 4 {
		return s
	}
	return strings.ReplaceAll(s, d.spec.APIKey, "[redacted]")
}

func (d *directExecutor) redactJSON(b []byte) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	if len(d.spec.APIKey) >= 4 {
		b = bytes.ReplaceAll(b, []byte(d.spec.APIKey), []byte("[redacted]"))
		if !json.Valid(b) {
			return nil
		}
	}
	return json.RawMessage(b)
}

// transportFailure explains a request that got no response at all.
func (d *directExecutor) transportFailure(err error) *directFailure {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &directFailure{err: fmt.Errorf("%w: cannot reach the model endpoint %s: connection refused: is the server "+
			"running? For a local Ollama: `ollama serve`; or set --worker-endpoint / --auditor-endpoint", ErrModelAPI, d.endpoint)}
	case errors.As(err, &dnsErr):
		return &directFailure{err: fmt.Errorf("%w: cannot reach the model endpoint %s: unknown host %q: check the URL in "+
			"--worker-endpoint / --auditor-endpoint", ErrModelAPI, d.endpoint, dnsErr.Name)}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &directFailure{retry: true, what: "connection reset",
			err: fmt.Errorf("%w: the model endpoint %s closed the connection before answering: check the server's logs; "+
				"a proxy in between may be dropping long requests", ErrModelAPI, d.endpoint)}
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err // its text repeats the method and URL
	}
	return &directFailure{err: fmt.Errorf("%w: cannot reach the model endpoint %s: %s: check the URL and that the server "+
		"is running", ErrModelAPI, d.endpoint, d.redact(err.Error()))}
}

// directAPIError is what an OpenAI-compatible server says went wrong, from any of
// the shapes they use: {"error":{"message","type","code"}} (OpenAI, Ollama, LiteLLM,
// vLLM ≥0.9), {"error":"text"}, {"object":"error","message",…} (older vLLM) or
// {"detail":…} (FastAPI).
type directAPIError struct {
	Message string
	Type    string
	Code    string
}

func directParseAPIError(body []byte) (directAPIError, bool) {
	var top struct {
		Error   json.RawMessage `json:"error"`
		Object  string          `json:"object"`
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &top) != nil {
		return directAPIError{}, false
	}
	if e := bytes.TrimSpace(top.Error); len(e) > 0 && !bytes.Equal(e, []byte("null")) {
		var inner struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Code    json.RawMessage `json:"code"`
		}
		if e[0] == '"' {
			var s string
			json.Unmarshal(e, &s)
			return directAPIError{Message: s}, true
		}
		if json.Unmarshal(e, &inner) == nil {
			return directAPIError{Message: inner.Message, Type: inner.Type, Code: directCode(inner.Code)}, true
		}
		return directAPIError{Message: string(e)}, true
	}
	if top.Object == "error" || (top.Message != "" && top.Type != "") {
		return directAPIError{Message: top.Message, Type: top.Type, Code: directCode(top.Code)}, true
	}
	if len(top.Detail) > 0 {
		var s string
		if json.Unmarshal(top.Detail, &s) != nil {
			s = string(top.Detail)
		}
		return directAPIError{Message: s}, true
	}
	return directAPIError{}, false
}

func directCode(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// directSnippet shows at most a few hundred bytes of something a server sent.
func directSnippet(b []byte) string {
	return clipText(strings.TrimSpace(strings.ToValidUTF8(string(b), "�")), 300)
}

// statusFailure explains an HTTP error status and decides whether to retry.
func (d *directExecutor) statusFailure(resp *http.Response, body []byte) *directFailure {
	status := resp.StatusCode
	apiErr, structured := directParseAPIError(body)
	msg := apiErr.Message
	if !structured {
		msg = directSnippet(body)
	}
	msg = d.redact(msg)
	detail := fmt.Sprintf("HTTP %d", status)
	if msg != "" {
		detail += ": " + msg
	}
	fail := &directFailure{data: d.redactJSON(body), what: strconv.Itoa(status)}
	lower := strings.ToLower(msg)
	switch {
	case status == http.StatusTooManyRequests:
		fail.retry = true
		fail.retryAfter, fail.hasAfter = directRetryAfter(resp.Header, time.Now())
		fail.err = fmt.Errorf("%w: %s is rate limiting requests (%s) and still was after %d attempts: wait and run "+
			"again, or raise the account's limits", ErrModelAPI, d.endpoint, detail, d.opts.Retry.MaxAttempts)
	case status >= 500 && status != http.StatusNotImplemented && status != http.StatusHTTPVersionNotSupported:
		fail.retry = true
		fail.retryAfter, fail.hasAfter = directRetryAfter(resp.Header, time.Now())
		fail.err = fmt.Errorf("%w: %s failed (%s) on all %d attempts: the server may be overloaded or down; "+
			"check it and run again", ErrModelAPI, d.endpoint, detail, d.opts.Retry.MaxAttempts)
	case status == http.StatusUnauthorized && d.spec.APIKey == "":
		fail.err = fmt.Errorf("%w: %s needs an API key (HTTP 401) and none was set: set ONESHOT_WORKER_API_KEY / "+
			"ONESHOT_AUDITOR_API_KEY or OPENAI_API_KEY", ErrModelAPI, d.endpoint)
	case status == http.StatusUnauthorized:
		// The server's text may quote part of the key, so only its code is kept.
		fail.data = nil
		code := ""
		if apiErr.Code != "" {
			code = " " + apiErr.Code
		}
		fail.err = fmt.Errorf("%w: %s rejected the API key (HTTP 401%s): set ONESHOT_WORKER_API_KEY / "+
			"ONESHOT_AUDITOR_API_KEY or OPENAI_API_KEY to a valid key", ErrModelAPI, d.endpoint, code)
	case status == http.StatusForbidden:
		fail.err = fmt.Errorf("%w: %s refused the request (%s): check that the API key may use model %q; set "+
			"ONESHOT_WORKER_API_KEY / ONESHOT_AUDITOR_API_KEY or OPENAI_API_KEY", ErrModelAPI, d.endpoint, detail, d.spec.Model)
	case status == http.StatusNotFound && (apiErr.Code == "model_not_found" ||
		strings.Contains(lower, "model") && (strings.Contains(lower, "not found") || strings.Contains(lower, "does not exist"))):
		fail.err = &directModelNotFound{fmt.Errorf("%w: model %q not found at %s (%s): pull it (`ollama pull %s`) or "+
			"choose another with --worker-model / --auditor-model", ErrModelAPI, d.spec.Model, d.endpoint, msg, d.spec.Model)}
	case status == http.StatusNotFound:
		fail.err = fmt.Errorf("%w: %s has no /chat/completions (%s): the endpoint must be the OpenAI-compatible base "+
			"URL, e.g. http://host:11434/v1", ErrModelAPI, d.endpoint, detail)
	case status == http.StatusBadRequest && strings.Contains(lower, "stream_options"):
		fail.noStreamOptions = true
		fail.err = fmt.Errorf("%w: %s rejected the request (%s)", ErrModelAPI, d.endpoint, detail)
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		fail.err = fmt.Errorf("%w: %s rejected the request (%s): check the model name, and whether the prompt fits "+
			"the model's context", ErrModelAPI, d.endpoint, detail)
	default:
		fail.err = fmt.Errorf("%w: %s answered %s: check the endpoint URL and the server's logs", ErrModelAPI, d.endpoint, detail)
	}
	return fail
}

// directModelNotFound is a model API error that is also ErrNotFound: the model is
// what the direct executor runs, and it is missing.
type directModelNotFound struct{ err error }

func (e *directModelNotFound) Error() string   { return e.err.Error() }
func (e *directModelNotFound) Unwrap() []error { return []error{e.err, ErrNotFound} }

// directSniff decides how to read a 2xx body: "sse", "json" or "" (neither). The
// Content-Type decides when it is one of the two; otherwise the first bytes do,
// since some servers and proxies label streams text/plain or not at all.
func directSniff(contentType string, r io.Reader) (string, io.Reader) {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "text/event-stream":
		return "sse", r
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return "json", r
	}
	fields := [][]byte{[]byte("data:"), []byte("event:"), []byte("id:"), []byte("retry:")}
	br := bufio.NewReaderSize(r, 512)
	for n := 1; n <= 512; n++ {
		peek, _ := br.Peek(n)
		if len(peek) < n {
			break
		}
		t := bytes.TrimLeft(peek, " \t\r\n")
		if len(t) == 0 {
			continue
		}
		if t[0] == '{' {
			return "json", br
		}
		if t[0] == ':' {
			return "sse", br
		}
		maybe := false
		for _, f := range fields {
			if bytes.HasPrefix(t, f) {
				return "sse", br
			}
			maybe = maybe || bytes.HasPrefix(f, t)
		}
		if !maybe {
			return "", br
		}
	}
	if peek, _ := br.Peek(1); len(bytes.TrimSpace(peek)) == 0 {
		return "sse", br // empty: reported as a stream that ended too early
	}
	return "", br
}

// directWatchdogReader resets the inactivity watchdog on every byte received.
type directWatchdogReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (w *directWatchdogReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if n > 0 {
		w.t.Reset(w.d)
	}
	return n, err
}

// Wire shapes of what comes back: a chat.completion.chunk (streamed) or a
// chat.completion (not), which differ only in delta vs message.

type directToolDelta struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type directDelta struct {
	Content          directText        `json:"content"`
	ReasoningContent string            `json:"reasoning_content"` // vLLM, DeepSeek, LiteLLM
	Reasoning        string            `json:"reasoning"`         // Ollama, OpenRouter
	Refusal          string            `json:"refusal"`           // OpenAI
	ToolCalls        []directToolDelta `json:"tool_calls"`
}

type directChoice struct {
	Delta        directDelta  `json:"delta"`
	Message      *directDelta `json:"message"`
	FinishReason *string      `json:"finish_reason"`
}

type directChunk struct {
	ID      string          `json:"id"`
	Model   string          `json:"model"`
	Object  string          `json:"object"`
	Choices []directChoice  `json:"choices"`
	Usage   json.RawMessage `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

// directText is message content: a string, null, or a list of {"type":"text"} parts.
type directText string

func (t *directText) UnmarshalJSON(b []byte) error {
	// Most deltas are short strings without escapes: take those as they are (the
	// decoder has already checked the syntax) instead of decoding them twice.
	if n := len(b); n >= 2 && b[0] == '"' && b[n-1] == '"' {
		if inner := b[1 : n-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			*t = directText(inner)
			return nil
		}
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		err := json.Unmarshal(b, &s)
		*t = directText(s)
		return err
	}
	if len(b) > 0 && b[0] == '[' {
		var parts []struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(b, &parts); err != nil {
			return err
		}
		var sb strings.Builder
		for _, p := range parts {
			sb.WriteString(p.Text)
		}
		*t = directText(sb.String())
		return nil
	}
	*t = ""
	return nil
}

type directUsage struct {
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	Cost             float64 `json:"cost"` // OpenRouter reports the price
}

type directToolCall struct {
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
	args strings.Builder
}

// directTurn turns one answer into events. Text is buffered and flushed by line,
// size or timer (see directOptions); the timer fires on its own goroutine, so every
// emit goes through mu and the caller never sees two at once.
type directTurn struct {
	mu      sync.Mutex
	emit    Emit
	opts    directOptions
	redact  func(string) string
	closed  bool
	timer   *time.Timer
	armed   bool
	pending []byte
	kind    activity.Type // of pending

	answer       []byte
	answerCut    bool
	tools        []*directToolCall
	toolBytes    int
	usage        json.RawMessage
	id, model    string
	finishReason string
	finished     bool // a finish_reason (or a whole completion) arrived
	sawChoice    bool
}

func newDirectTurn(emit Emit, opts directOptions, redact func(string) string) *directTurn {
	if opts.FlushBytes <= 0 {
		opts.FlushBytes = 4 << 10
	}
	if redact == nil {
		redact = func(s string) string { return s }
	}
	return &directTurn{emit: emit, opts: opts, redact: redact}
}

// consumeSSE reads a stream of chat.completion.chunk events up to [DONE].
func (t *directTurn) consumeSSE(r io.Reader) error {
	sr := newDirectSSEReader(r, directMaxSSEEvent)
	for {
		ev, err := sr.next()
		if err == io.EOF {
			if t.finished {
				return nil
			}
			return fmt.Errorf("%w: the model stream ended without a finish_reason or [DONE]: the connection was "+
				"probably cut, so the answer may be incomplete; run again", ErrModelAPI)
		}
		if err != nil {
			return err
		}
		if ev.name != "" && ev.name != "message" && ev.name != "error" {
			continue // pings and other events some proxies add
		}
		data := bytes.TrimSpace(ev.data)
		if len(data) == 0 {
			continue
		}
		if bytes.Equal(data, []byte("[DONE]")) {
			return nil
		}
		if err := t.handle(data, ev.name == "error"); err != nil {
			return err
		}
	}
}

// consumeJSON reads a whole chat.completion, from a server that ignored stream:true.
func (t *directTurn) consumeJSON(r io.Reader) error {
	body, err := io.ReadAll(io.LimitReader(r, directMaxJSONBody+1))
	if err != nil {
		return err
	}
	if len(body) > directMaxJSONBody {
		return fmt.Errorf("%w: the model's answer is larger than %d MiB; ask for a shorter one", ErrModelAPI, directMaxJSONBody>>20)
	}
	if err := t.handle(body, false); err != nil {
		return err
	}
	if !t.sawChoice {
		return fmt.Errorf("%w: the model endpoint answered with JSON that is not a chat completion: %s: the endpoint "+
			"must be the OpenAI-compatible base URL, e.g. http://host:11434/v1", ErrModelAPI, t.redact(directSnippet(body)))
	}
	t.finished = true
	return nil
}

// handle applies one chunk (or a whole completion).
func (t *directTurn) handle(data []byte, errorEvent bool) error {
	var c directChunk
	if err := json.Unmarshal(data, &c); err != nil {
		if errorEvent {
			return t.apiError(data)
		}
		return fmt.Errorf("%w: the model endpoint sent an unreadable stream chunk (%v); is it an OpenAI-compatible "+
			"server? The chunk: %s", ErrModelAPI, err, t.redact(directSnippet(data)))
	}
	if errorEvent || c.Object == "error" || (len(c.Error) > 0 && !bytes.Equal(c.Error, []byte("null"))) {
		return t.apiError(data)
	}
	if t.id == "" {
		t.id = c.ID
	}
	if t.model == "" {
		t.model = c.Model
	}
	if len(c.Usage) > 0 && !bytes.Equal(c.Usage, []byte("null")) {
		t.usage = c.Usage
	}
	if len(c.Choices) == 0 {
		return nil
	}
	t.sawChoice = true
	ch := &c.Choices[0]
	delta := &ch.Delta
	if ch.Message != nil {
		delta = ch.Message
	}
	reasoning := delta.ReasoningContent
	if reasoning == "" {
		reasoning = delta.Reasoning
	}
	if reasoning != "" {
		t.addText(activity.Thought, reasoning)
	}
	for _, s := range []string{string(delta.Content), delta.Refusal} {
		if s != "" {
			t.addText(activity.Message, s)
			t.addAnswer(s)
		}
	}
	for i := range delta.ToolCalls {
		t.addToolDelta(&delta.ToolCalls[i])
	}
	if ch.FinishReason != nil && *ch.FinishReason != "" {
		t.finishReason = *ch.FinishReason
		t.finished = true
	}
	return nil
}

// apiError turns an error the server put into the stream (vLLM and LiteLLM send
// {"error":{…}} as a data line) into a failure.
func (t *directTurn) apiError(data []byte) error {
	e, ok := directParseAPIError(data)
	msg := e.Message
	if !ok || msg == "" {
		msg = directSnippet(data)
	}
	var raw json.RawMessage
	if json.Valid(data) {
		raw = json.RawMessage(t.redact(string(data)))
		if !json.Valid(raw) {
			raw = nil
		}
	}
	return &directFailure{data: raw, err: fmt.Errorf("%w: the model failed mid-answer: %s: the answer is incomplete; "+
		"run again, and check the server's logs if it keeps happening", ErrModelAPI, t.redact(msg))}
}

func (t *directTurn) addAnswer(s string) {
	if t.answerCut {
		return
	}
	if len(t.answer)+len(s) > directMaxAnswer {
		cut := directMaxAnswer - len(t.answer)
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		t.answer = append(t.answer, s[:cut]...)
		t.answerCut = true
		return
	}
	t.answer = append(t.answer, s...)
}

func (t *directTurn) addToolDelta(td *directToolDelta) {
	var call *directToolCall
	switch {
	case td.Index != nil:
		for len(t.tools) <= *td.Index && len(t.tools) < directMaxToolCalls {
			t.tools = append(t.tools, &directToolCall{})
		}
		if *td.Index < 0 || *td.Index >= len(t.tools) {
			return
		}
		call = t.tools[*td.Index]
	case td.ID != "" || len(t.tools) == 0:
		if len(t.tools) >= directMaxToolCalls {
			return
		}
		call = &directToolCall{}
		t.tools = append(t.tools, call)
	default:
		call = t.tools[len(t.tools)-1]
	}
	if t.toolBytes+len(td.ID)+len(td.Function.Name)+len(td.Function.Arguments) > directMaxToolBytes {
		return
	}
	t.toolBytes += len(td.ID) + len(td.Function.Name) + len(td.Function.Arguments)
	if td.ID != "" {
		call.ID = td.ID
	}
	if td.Type != "" {
		call.Type = td.Type
	}
	call.Function.Name += td.Function.Name
	call.args.WriteString(td.Function.Arguments)
}

// addText buffers streamed text and emits what is ready.
func (t *directTurn) addText(kind activity.Type, s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if kind != t.kind && len(t.pending) > 0 {
		t.flushLocked()
	}
	t.kind = kind
	t.pending = append(t.pending, s...)
	if i := bytes.LastIndexByte(t.pending, '\n'); i >= 0 {
		for line := range bytes.SplitSeq(t.pending[:i], []byte("\n")) {
			t.emitTextLocked(line)
		}
		t.pending = append(t.pending[:0], t.pending[i+1:]...)
	}
	if len(t.pending) >= t.opts.FlushBytes {
		t.flushLocked()
	}
	if len(t.pending) > 0 && !t.armed && t.opts.FlushInterval > 0 {
		t.armed = true
		if t.timer == nil {
			t.timer = time.AfterFunc(t.opts.FlushInterval, t.onTimer)
		} else {
			t.timer.Reset(t.opts.FlushInterval)
		}
	}
}

func (t *directTurn) onTimer() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.armed = false
	if !t.closed {
		t.flushLocked()
	}
}

// flushLocked emits all pending text.
func (t *directTurn) flushLocked() {
	t.emitTextLocked(t.pending)
	t.pending = t.pending[:0]
}

// emitTextLocked emits b as events of at most FlushBytes, cut between characters;
// blank text is dropped.
func (t *directTurn) emitTextLocked(b []byte) {
	b = bytes.TrimRight(b, "\r")
	if isBlankLine(b) {
		return
	}
	for len(b) > 0 {
		cut := min(len(b), t.opts.FlushBytes)
		for cut < len(b) && cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		if cut == 0 {
			cut = min(len(b), t.opts.FlushBytes)
		}
		t.emit(activity.Event{Type: t.kind, Text: string(b[:cut])})
		b = b[cut:]
	}
}

// emitLocked sends a non-text event after any text still pending, keeping order.
func (t *directTurn) emitLocked(e activity.Event) {
	if len(t.pending) > 0 {
		t.flushLocked()
	}
	t.emit(e)
}

// close stops the flush timer and emits what text is left; no event follows it.
func (t *directTurn) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if t.timer != nil {
		t.timer.Stop()
	}
	t.flushLocked()
	t.closed = true
}

func (t *directTurn) answerText() string {
	if t.answerCut {
		return string(t.answer) + fmt.Sprintf("\n…[answer truncated at %d MiB]", directMaxAnswer>>20)
	}
	return string(t.answer)
}

func (t *directTurn) resultUsage() Usage {
	var u directUsage
	if len(t.usage) == 0 || json.Unmarshal(t.usage, &u) != nil {
		return Usage{}
	}
	return Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, CostUSD: u.Cost}
}

// partial is what the turn got before it failed; its text is flushed as events.
func (t *directTurn) partial() Result {
	t.close()
	return Result{Text: t.answerText(), Usage: t.resultUsage()}
}

// finish emits the tool calls, a note on an unusual stop, the usage and the result.
func (t *directTurn) finish() Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
	}
	defer func() { t.closed = true }()
	for _, call := range t.tools {
		call.Function.Arguments = call.args.String()
		data, _ := json.Marshal(call)
		t.emitLocked(activity.Event{Type: activity.ToolUse, Text: activity.Truncate(strings.TrimSpace(call.Function.Name + " " + call.Function.Arguments)), Data: data})
	}
	switch t.finishReason {
	case "length":
		t.emitLocked(activity.Event{Type: activity.Error, Text: "the model stopped at its output token limit (finish_reason length): the answer may be cut short"})
	case "content_filter":
		t.emitLocked(activity.Event{Type: activity.Error, Text: "the model's answer was cut by a content filter (finish_reason content_filter)"})
	}
	res := Result{Text: t.answerText(), Usage: t.resultUsage()}
	if len(t.usage) > 0 {
		text := fmt.Sprintf("%d input tokens, %d output tokens", res.Usage.InputTokens, res.Usage.OutputTokens)
		if res.Usage.CostUSD > 0 {
			text += fmt.Sprintf(", $%.4f", res.Usage.CostUSD)
		}
		t.emitLocked(activity.Event{Type: activity.Usage, Text: text, Data: t.usage})
	}
	meta, _ := json.Marshal(map[string]any{"id": t.id, "model": t.model, "finish_reason": t.finishReason, "truncated": t.answerCut})
	t.emitLocked(activity.Event{Type: activity.Result, Text: res.Text, Data: meta})
	return res
}

// directSSEReader parses server-sent events as the HTML standard defines them:
// lines end in LF, CRLF or CR; "data:" lines of one event are joined with LF; a
// blank line ends an event; lines starting with ":" are comments; one space after
// the colon is dropped. Memory is bounded by max per line and per event.
type directSSEReader struct {
	r          io.Reader
	buf        []byte
	start, end int
	err        error // from r, returned once buf is drained
	skipLF     bool  // the last line ended in CR: a following LF belongs to it
	line       []byte
	data       []byte
	name       []byte
	max        int
}

type directSSEEvent struct {
	name string // "" when the event had no event: field
	data []byte // valid until the next call of next
}

func newDirectSSEReader(r io.Reader, max int) *directSSEReader {
	return &directSSEReader{r: r, buf: make([]byte, 32<<10), max: max}
}

func (s *directSSEReader) tooLarge() error {
	return fmt.Errorf("%w: the model endpoint sent a stream event larger than %d KiB; is it an OpenAI-compatible server?",
		ErrModelAPI, s.max>>10)
}

// next returns the next event with data, or io.EOF. An event cut off by the end
// of the stream is still returned: servers that close right after their last
// data line mean it.
func (s *directSSEReader) next() (directSSEEvent, error) {
	s.data = s.data[:0]
	s.name = s.name[:0]
	hasData := false
	for {
		line, err := s.readLine()
		if err != nil {
			if err == io.EOF && hasData {
				return s.event(), nil
			}
			return directSSEEvent{}, err
		}
		if len(line) == 0 {
			if hasData {
				return s.event(), nil
			}
			s.name = s.name[:0]
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if hasData {
				s.data = append(s.data, '\n')
			}
			s.data = append(s.data, value...)
			hasData = true
			if len(s.data) > s.max {
				return directSSEEvent{}, s.tooLarge()
			}
		case "event":
			s.name = append(s.name[:0], value...)
		}
	}
}

func (s *directSSEReader) event() directSSEEvent {
	ev := directSSEEvent{data: s.data}
	switch string(s.name) { // no allocation for the names servers use
	case "":
	case "message":
		ev.name = "message"
	case "error":
		ev.name = "error"
	default:
		ev.name = string(s.name)
	}
	return ev
}

// readLine returns the next line without its terminator. The slice is valid until
// the next call.
func (s *directSSEReader) readLine() ([]byte, error) {
	s.line = s.line[:0]
	spanning := false
	for {
		if s.skipLF && s.start < s.end {
			if s.buf[s.start] == '\n' {
				s.start++
			}
			s.skipLF = false
		}
		chunk := s.buf[s.start:s.end]
		if i := directLineEnd(chunk); i >= 0 {
			line := chunk[:i]
			s.start += i + 1
			if chunk[i] == '\r' {
				if i+1 < len(chunk) {
					if chunk[i+1] == '\n' {
						s.start++
					}
				} else {
					s.skipLF = true
				}
			}
			if spanning {
				s.line = append(s.line, line...)
				if len(s.line) > s.max {
					return nil, s.tooLarge()
				}
				return s.line, nil
			}
			return line, nil
		}
		s.line = append(s.line, chunk...)
		spanning = true
		if len(s.line) > s.max {
			return nil, s.tooLarge()
		}
		s.start, s.end = 0, 0
		if s.err != nil {
			if len(s.line) > 0 && s.err == io.EOF {
				return s.line, nil // last line, without terminator
			}
			return nil, s.err
		}
		n, err := s.r.Read(s.buf)
		s.end = n
		if err != nil {
			s.err = err
		}
	}
}

// directLineEnd finds the first CR or LF.
func directLineEnd(b []byte) int {
	lf := bytes.IndexByte(b, '\n')
	if lf < 0 {
		return bytes.IndexByte(b, '\r')
	}
	if cr := bytes.IndexByte(b[:lf], '\r'); cr >= 0 {
		return cr
	}
	return lf
}
