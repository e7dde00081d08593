package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/oneshot-run/oneshot/internal/activity"
)

// Claude Code runs in print mode with the NDJSON stream format:
//
//	claude -p --output-format stream-json --verbose --dangerously-skip-permissions [--model M] [extra args...]
//
// with the prompt on stdin. As root, Claude refuses --dangerously-skip-permissions unless
// IS_SANDBOX=1 is set, so the executor sets it when Oneshot itself runs as root.
//
// How its events map (see testdata/streams/claude-*.out for the real thing):
//
//	system/init             preamble (session id and model kept in Result.SessionID / text)
//	system/thinking_tokens  thought, text "thinking (~N tokens)": no words, but it tells a
//	                        watcher the agent is busy, and Data keeps the estimate
//	system/api_retry        error "model API retry n/N: <error> (HTTP s)": not fatal by itself
//	system/<other>          preamble
//	assistant blocks        thinking → thought, text → message (error when the CLI made the
//	                        message up to report a failed model call), tool_use → tool_use
//	user tool_result        tool_result
//	result                  usage, then result (or error when is_error)
//	anything else           message, Data kept
//
// Failure rules, all from the captures: a result with is_error true is a failure even with
// subtype "success" (that is how Claude reports a model API that kept failing); a non-zero
// exit status is a failure even after a result; no result at all is a failure that quotes
// the end of stderr.
type claudeStream struct {
	sessionID  string
	gotResult  bool
	isError    bool
	subtype    string
	apiStatus  int // 0: none reported
	resultText string
	errorsText string
	usage      Usage
	lastRetry  string            // last api_retry, quoted when the run fails without a result
	lastAPIErr string            // text of a made-up "API Error" message
	toolNames  map[string]string // tool_use id → tool name, to name results
	unparsed   int               // stdout lines that were not JSON
	scratch    claudeLine        // reused by every line
}

// claudeLine holds the fields Oneshot reads from any Claude stream-json line; everything
// else stays in the original bytes kept as Data.
type claudeLine struct {
	Type      string          `json:"type"`
	Subtype   string          `json:"subtype"`
	SessionID string          `json:"session_id"`
	Model     string          `json:"model"`
	Version   string          `json:"claude_code_version"`
	Message   *claudeMessage  `json:"message"`
	Error     json.RawMessage `json:"error"`

	// system/api_retry
	Attempt      int      `json:"attempt"`
	MaxRetries   int      `json:"max_retries"`
	RetryDelayMS float64  `json:"retry_delay_ms"`
	ErrorStatus  *float64 `json:"error_status"`

	// system/thinking_tokens
	EstimatedTokens int64 `json:"estimated_tokens"`

	// result
	IsError        bool            `json:"is_error"`
	APIErrorStatus *float64        `json:"api_error_status"`
	Result         string          `json:"result"`
	TotalCostUSD   float64         `json:"total_cost_usd"`
	Usage          *claudeUsage    `json:"usage"`
	Errors         json.RawMessage `json:"errors"`
}

type claudeMessage struct {
	Model   string        `json:"model"`
	Content []claudeBlock `json:"content"`
}

type claudeUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
}

type claudeBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

// maxTrackedTools bounds the tool-call bookkeeping a stream keeps, whatever it prints.
const maxTrackedTools = 1024

func (s *claudeStream) line(b []byte, emit Emit) {
	if isBlankLine(b) {
		return
	}
	v := &s.scratch
	*v = claudeLine{}
	if err := decodeStreamLine(b, v); err != nil {
		s.unparsed++
		emit(notJSONEvent("claude", b))
		return
	}
	data := cloneLine(b)
	if v.SessionID != "" {
		s.sessionID = v.SessionID
	}
	switch v.Type {
	case "system":
		s.system(v, data, emit)
	case "assistant":
		s.assistant(v, data, emit)
	case "user":
		s.user(v, data, emit)
	case "result":
		s.onResult(v, data, emit)
	default:
		emit(activity.Event{Type: activity.Message, Text: "claude " + quoteEventType(v.Type) + " event (not interpreted)", Data: data})
	}
}

func (s *claudeStream) system(v *claudeLine, data json.RawMessage, emit Emit) {
	switch v.Subtype {
	case "init":
		text := "claude session " + v.SessionID
		if v.Model != "" {
			text += ", model " + v.Model
		}
		if v.Version != "" {
			text += ", Claude Code " + v.Version
		}
		emit(activity.Event{Type: activity.Preamble, Text: text, Data: data})
	case "thinking_tokens":
		emit(activity.Event{Type: activity.Thought, Text: "thinking (~" + strconv.FormatInt(v.EstimatedTokens, 10) + " tokens)", Data: data})
	case "api_retry":
		text := fmt.Sprintf("model API retry %d/%d: %s", v.Attempt, v.MaxRetries, jsonText(v.Error))
		if v.ErrorStatus != nil {
			text += fmt.Sprintf(" (HTTP %d)", int(*v.ErrorStatus))
		} else {
			text += " (no HTTP status: timeout or connection failure)"
		}
		if v.RetryDelayMS > 0 {
			text += fmt.Sprintf(", next try in %.1fs", v.RetryDelayMS/1000)
		}
		s.lastRetry = text
		emit(activity.Event{Type: activity.Error, Text: text, Data: data})
	default:
		emit(activity.Event{Type: activity.Preamble, Text: "claude system event " + quoteEventType(v.Subtype), Data: data})
	}
}

func (s *claudeStream) assistant(v *claudeLine, data json.RawMessage, emit Emit) {
	if v.Message == nil || len(v.Message.Content) == 0 {
		emit(activity.Event{Type: activity.Message, Text: "claude assistant event without content", Data: data})
		return
	}
	// The CLI makes up an assistant message ("<synthetic>", with a top-level error) to
	// report a model call that failed; it is an error, not the agent talking.
	synthetic := v.Message.Model == "<synthetic>" || (len(v.Error) > 0 && !bytes.Equal(v.Error, []byte("null")))
	for i := range v.Message.Content {
		blk := &v.Message.Content[i]
		switch blk.Type {
		case "text":
			if synthetic {
				s.lastAPIErr = blk.Text
				emit(activity.Event{Type: activity.Error, Text: activity.Truncate(blk.Text), Data: data})
				continue
			}
			emit(activity.Event{Type: activity.Message, Text: activity.Truncate(blk.Text), Data: data})
		case "thinking", "redacted_thinking":
			text := blk.Thinking
			if text == "" {
				text = "(thinking not shown)"
			}
			emit(activity.Event{Type: activity.Thought, Text: activity.Truncate(text), Data: data})
		case "tool_use", "server_tool_use":
			if blk.ID != "" && len(s.toolNames) < maxTrackedTools {
				if s.toolNames == nil {
					s.toolNames = make(map[string]string)
				}
				s.toolNames[blk.ID] = blk.Name
			}
			emit(activity.Event{Type: activity.ToolUse, Text: toolCallSummary(blk.Name, blk.Input), Data: data})
		default:
			emit(activity.Event{Type: activity.Message, Text: "claude content block " + quoteEventType(blk.Type) + " (not interpreted)", Data: data})
		}
	}
}

func (s *claudeStream) user(v *claudeLine, data json.RawMessage, emit Emit) {
	if v.Message == nil || len(v.Message.Content) == 0 {
		// A user message's content may be a plain string instead of blocks; decoding
		// skipped it as a type mismatch, so read it here, in this rare case only.
		var plain struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		}
		text := "claude user event without content"
		if json.Unmarshal(data, &plain) == nil && plain.Message.Content != "" {
			text = activity.Truncate(plain.Message.Content)
		}
		emit(activity.Event{Type: activity.Preamble, Text: text, Data: data})
		return
	}
	for i := range v.Message.Content {
		blk := &v.Message.Content[i]
		switch blk.Type {
		case "tool_result":
			name := s.toolNames[blk.ToolUseID]
			delete(s.toolNames, blk.ToolUseID)
			emit(activity.Event{Type: activity.ToolResult, Text: toolResultSummary(name, blk.IsError, jsonText(blk.Content)), Data: data})
		case "text":
			// Text Claude adds on the user's side (expanded commands, reminders): context
			// for the model, not something the agent did.
			emit(activity.Event{Type: activity.Preamble, Text: activity.Truncate(blk.Text), Data: data})
		default:
			emit(activity.Event{Type: activity.Preamble, Text: "claude user content " + quoteEventType(blk.Type), Data: data})
		}
	}
}

func (s *claudeStream) onResult(v *claudeLine, data json.RawMessage, emit Emit) {
	s.gotResult = true
	s.isError = v.IsError
	s.subtype = v.Subtype
	s.resultText = v.Result
	s.errorsText = jsonText(v.Errors)
	s.apiStatus = 0
	if v.APIErrorStatus != nil {
		s.apiStatus = int(*v.APIErrorStatus)
	}
	var u Usage
	if v.Usage != nil {
		// Anthropic counts cache reads and writes apart from input_tokens; their sum is the
		// prompt size, which is what the other agents report as input.
		u.InputTokens = v.Usage.InputTokens + v.Usage.CacheCreationInputTokens + v.Usage.CacheReadInputTokens
		u.OutputTokens = v.Usage.OutputTokens
	}
	u.CostUSD = v.TotalCostUSD
	s.usage = s.usage.Add(u)
	emit(activity.Event{Type: activity.Usage, Text: usageSummary(u), Data: data})
	if v.IsError {
		emit(activity.Event{Type: activity.Error, Text: activity.Truncate(s.failureText()), Data: data})
		return
	}
	emit(activity.Event{Type: activity.Result, Text: activity.Truncate(v.Result), Data: data})
}

// failureText is what Claude said about a failed result.
func (s *claudeStream) failureText() string {
	switch {
	case s.resultText != "":
		return s.resultText
	case s.errorsText != "":
		return s.errorsText
	case s.lastAPIErr != "":
		return s.lastAPIErr
	}
	return "Claude reported an error (result subtype " + quoteEventType(s.subtype) + ")"
}

func (s *claudeStream) result(exitCode int, stderrLines []string) (Result, error) {
	res := Result{SessionID: s.sessionID, Usage: s.usage, ExitCode: exitCode}
	if !s.gotResult {
		if refusal := findStderrLine(stderrLines, "cannot be used with root/sudo privileges"); refusal != "" {
			return res, fmt.Errorf("%w: claude refused to start as root: %q. Oneshot sets IS_SANDBOX=1 for Claude when it runs as root; "+
				"make sure the agent's environment does not override it, or run Oneshot as a non-root user", ErrExit, refusal)
		}
		msg := "claude ended without a result"
		if s.lastRetry != "" {
			msg += " after retrying its model API (last: " + s.lastRetry + ")"
		}
		if s.unparsed > 0 {
			msg += fmt.Sprintf("; %d line(s) of its output were not stream-json (do the extra arguments change --output-format?)", s.unparsed)
		}
		if exitCode != 0 {
			return res, fmt.Errorf("%w: %s (exit status %d)%s", ErrExit, msg, exitCode, quoteStderr(stderrLines))
		}
		return res, fmt.Errorf("%w: %s although it exited with status 0%s", ErrAgent, msg, quoteStderr(stderrLines))
	}
	if s.isError {
		if s.subtype != "" && s.subtype != "success" {
			// error_max_turns, error_during_execution, error_max_budget_usd…: the agent
			// stopped itself; the model API answered.
			if exitCode != 0 {
				return res, withKinds(ErrExit, ErrAgent, "claude stopped with %s: %s (exit status %d)", s.subtype, flattenSpace(s.failureText()), exitCode)
			}
			return res, fmt.Errorf("%w: claude stopped with %s: %s", ErrAgent, s.subtype, flattenSpace(s.failureText()))
		}
		what := "claude's model API call failed"
		if s.apiStatus != 0 {
			what += fmt.Sprintf(" with HTTP %d", s.apiStatus)
		}
		hint := modelAPIHint(s.apiStatus)
		if s.apiStatus == 0 && strings.Contains(strings.ToLower(s.failureText()), "timed out") {
			hint = "the model API did not answer in time: check that the endpoint is reachable and not overloaded"
		}
		if exitCode != 0 {
			return res, withKinds(ErrModelAPI, ErrExit, "%s: %s (exit status %d); %s", what, flattenSpace(s.failureText()), exitCode, hint)
		}
		return res, fmt.Errorf("%w: %s: %s; %s", ErrModelAPI, what, flattenSpace(s.failureText()), hint)
	}
	if exitCode != 0 {
		return res, fmt.Errorf("%w: claude reported a result but exited with status %d, so the run counts as failed%s", ErrExit, exitCode, quoteStderr(stderrLines))
	}
	res.Text = s.resultText
	return res, nil
}

// claudeCommand returns the argv and the environment additions for one Claude run.
func claudeCommand(spec Spec, root bool) (argv, env []string) {
	argv = []string{"claude", "-p", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"}
	if spec.Model != "" {
		argv = append(argv, "--model", spec.Model)
	}
	argv = append(argv, spec.ExtraArgs...)
	if root {
		env = []string{"IS_SANDBOX=1"}
	}
	return argv, env
}

func newClaude(spec Spec) (Executor, error) {
	argv, env := claudeCommand(spec, os.Geteuid() == 0)
	return &cliAgent{
		name: "claude", argv: argv, env: env, spec: spec,
		newParser: func() streamParser { return &claudeStream{} },
	}, nil
}

// ---------------------------------------------------------------------------------------
// What the claude, codex and gemini executors share: a line-fed stream parser run over
// the process runner, the stderr tail kept for error messages, and text helpers.

// streamParser turns one CLI agent's stdout, line by line, into activity events and, once
// the program has exited, into the turn's outcome. Parsers know nothing of processes, so
// they are replayed from captures, fuzzed and benchmarked alone.
type streamParser interface {
	// line parses one stdout line (newline stripped; the caller may reuse b afterwards).
	line(b []byte, emit Emit)
	// result decides the outcome from what the stream said and how the program exited.
	result(exitCode int, stderrLines []string) (Result, error)
}

// streamEnder is implemented by parsers that hold output back (coalesced text deltas) and
// must emit it when stdout ends.
type streamEnder interface {
	end(emit Emit)
}

// cliAgent runs one agent CLI whose stdout a streamParser understands.
type cliAgent struct {
	name      string   // the CLI, for messages
	argv      []string // program and arguments
	env       []string // added to the process environment, before Request.Env
	spec      Spec
	newParser func() streamParser
}

func (a *cliAgent) Run(ctx context.Context, req Request, emit Emit) (Result, error) {
	parser := a.newParser()
	var tail streamStderrTail
	// The executor's own variables come before the request's, so a caller can still
	// override them.
	withEnv := req
	withEnv.Env = append(a.env[:len(a.env):len(a.env)], req.Env...)
	p := cliProcess(a.spec, withEnv, a.argv)
	p.Stdin = req.Prompt
	p.Stdout = func(b []byte) { parser.line(b, emit) }
	p.Stderr = func(b []byte) {
		if ev, ok := streamStderrEvent(b); ok {
			tail.add(ev.Text)
			emit(ev)
		}
	}
	code, err := p.run(ctx)
	if e, ok := parser.(streamEnder); ok {
		e.end(emit)
	}
	if err != nil {
		return Result{ExitCode: code}, fmt.Errorf("%s: %w%s", a.name, err, quoteStderr(tail.lines()))
	}
	return parser.result(code, tail.lines())
}

// kindsError is a failure of two kinds at once (a model API error that also made the
// agent exit non-zero): errors.Is matches both, the message names only the first.
type kindsError struct {
	msg   string
	kinds []error
}

func (e *kindsError) Error() string   { return e.msg }
func (e *kindsError) Unwrap() []error { return e.kinds }

func withKinds(primary, secondary error, format string, args ...any) error {
	return &kindsError{msg: primary.Error() + ": " + fmt.Sprintf(format, args...), kinds: []error{primary, secondary}}
}

// streamTailLines is how many stderr lines a failure message can quote.
const streamTailLines = 20

// streamStderrTail keeps the last stderr lines worth quoting: blank lines and JavaScript stack
// frames (Gemini prints dozens per retry) are skipped, long lines cut.
type streamStderrTail struct {
	ring [streamTailLines]string
	n    int
}

func (t *streamStderrTail) add(line string) {
	trimmed := strings.TrimSpace(line)
	if trimmed == "" || strings.HasPrefix(trimmed, "at ") && strings.HasPrefix(line, " ") {
		return
	}
	t.ring[t.n%streamTailLines] = clipText(trimmed, 500)
	t.n++
}

func (t *streamStderrTail) lines() []string {
	if t.n == 0 {
		return nil
	}
	k := min(t.n, streamTailLines)
	out := make([]string, 0, k)
	for i := t.n - k; i < t.n; i++ {
		out = append(out, t.ring[i%streamTailLines])
	}
	return out
}

// streamStderrEvent turns a stderr line into an event, colours removed; blank lines are none.
func streamStderrEvent(b []byte) (activity.Event, bool) {
	if isBlankLine(b) {
		return activity.Event{}, false
	}
	return activity.Event{Type: activity.Stderr, Text: activity.Truncate(stripTermEscapes(string(b)))}, true
}

// quoteStderr quotes the stderr tail for an error message.
func quoteStderr(tail []string) string {
	if len(tail) == 0 {
		return ""
	}
	return "; its last stderr lines:\n  " + strings.Join(tail, "\n  ")
}

// findStderrLine returns the first line containing substr, or "".
func findStderrLine(lines []string, substr string) string {
	for _, l := range lines {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return ""
}

// decodeStreamLine decodes one JSON line into v. A field of an unexpected type is not an error:
// encoding/json skips it and fills the rest, and a stream whose schema drifted a little is
// better read in part than not at all (the original stays in Data).
func decodeStreamLine(b []byte, v any) error {
	err := json.Unmarshal(b, v)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return nil
	}
	return err
}

// notJSONEvent reports a stdout line that is not JSON. It is kept as text (Data must
// stay valid JSON) rather than crashing the run or vanishing.
func notJSONEvent(cli string, b []byte) activity.Event {
	return activity.Event{Type: activity.Message, Text: activity.Truncate("(" + cli + " printed a line that is not JSON) " + stripTermEscapes(string(b)))}
}

// toolCallSummary renders a tool call as "name: the argument that says what it does".
func toolCallSummary(name string, input json.RawMessage) string {
	if name == "" {
		name = "tool"
	}
	var args struct {
		Command      json.RawMessage `json:"command"`
		FilePath     string          `json:"file_path"`
		AbsolutePath string          `json:"absolute_path"`
		Path         string          `json:"path"`
		Pattern      string          `json:"pattern"`
		URL          string          `json:"url"`
		Query        string          `json:"query"`
		Description  string          `json:"description"`
		Prompt       string          `json:"prompt"`
	}
	input = bytes.TrimSpace(input)
	if len(input) == 0 || bytes.Equal(input, []byte("null")) || bytes.Equal(input, []byte("{}")) {
		return name
	}
	if input[0] == '{' && json.Unmarshal(input, &args) == nil {
		for _, s := range []string{jsonText(args.Command), args.FilePath, args.AbsolutePath, args.Path, args.Pattern, args.URL, args.Query, args.Description, args.Prompt} {
			if s != "" {
				return name + ": " + clipText(flattenSpace(s), 200)
			}
		}
	}
	return name + " " + clipText(flattenSpace(jsonText(input)), 200)
}

// toolResultSummary renders what a tool returned.
func toolResultSummary(name string, failed bool, output string) string {
	var b strings.Builder
	if name != "" {
		b.WriteString(name)
		b.WriteString(" ")
	}
	if failed {
		b.WriteString("failed")
	} else {
		b.WriteString("returned")
	}
	if output != "" {
		b.WriteString(": ")
		b.WriteString(output)
	}
	return activity.Truncate(b.String())
}

// usageSummary renders token counts and cost for a usage event.
func usageSummary(u Usage) string {
	s := fmt.Sprintf("tokens: %d in, %d out", u.InputTokens, u.OutputTokens)
	if u.CostUSD > 0 {
		s += fmt.Sprintf(", cost $%.4f", u.CostUSD)
	}
	return s
}

// modelAPIHint says what to do about a model API's HTTP status.
func modelAPIHint(status int) string {
	switch {
	case status == 400:
		return "the model API rejected the request: check the model name and the agent's extra arguments"
	case status == 401 || status == 403:
		return "the model API refused the credentials: check the agent's API key variable (ANTHROPIC_API_KEY, OPENAI_API_KEY, GEMINI_API_KEY…)"
	case status == 404:
		return "the model API does not know the model or the endpoint: check --worker-model/--auditor-model and the agent's base URL"
	case status == 408:
		return "the model API timed out: try again, or check that the endpoint is reachable"
	case status == 429:
		return "the model API is rate limiting or the quota is used up: wait and retry, or raise the quota"
	case status >= 500 && status <= 599:
		return "the model API failed on its side: retry later, or check the inference endpoint"
	}
	return "check the model API endpoint, the model name and the API key"
}

// jsonText renders a JSON value as text: strings unquoted, arrays of strings or of text
// blocks joined, anything else compact JSON.
func jsonText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case '[':
		var parts []json.RawMessage
		if json.Unmarshal(raw, &parts) == nil {
			texts := make([]string, 0, len(parts))
			for _, p := range parts {
				p = bytes.TrimSpace(p)
				if len(p) > 0 && p[0] == '{' {
					var blk struct {
						Text *string `json:"text"`
					}
					if json.Unmarshal(p, &blk) == nil && blk.Text != nil {
						texts = append(texts, *blk.Text)
						continue
					}
				}
				texts = append(texts, jsonText(p))
			}
			return strings.Join(texts, " ")
		}
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		return b.String()
	}
	return string(raw)
}

// jsonErrorText renders an error object ({"message": …}, as Gemini and Codex print them) or
// any other JSON value.
func jsonErrorText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		var e struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Message != "" {
			return e.Message
		}
	}
	return jsonText(raw)
}

// quoteEventType names an event type in a message, even an empty or odd one.
func quoteEventType(t string) string {
	if t == "" {
		return `""`
	}
	return strconv.Quote(clipText(t, 64))
}

// flattenSpace collapses whitespace runs (newlines included) to single spaces.
func flattenSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// clipText shortens s to at most n bytes on a rune boundary, marking the cut.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func isBlankLine(b []byte) bool {
	return len(bytes.TrimSpace(b)) == 0
}

// stripTermEscapes removes terminal escape sequences (Gemini colours its errors red even when
// stderr is a pipe).
func stripTermEscapes(s string) string {
	if strings.IndexByte(s, 0x1b) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != 0x1b {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			break
		}
		switch s[i+1] {
		case '[': // CSI: parameters, then one final byte in 0x40–0x7E
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j
		case ']': // OSC: up to BEL or ESC \
			j := i + 2
			for j < len(s) && s[j] != 0x07 && !(s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\') {
				j++
			}
			if j < len(s) && s[j] == 0x1b {
				j++
			}
			i = j
		default: // two-byte sequence
			i++
		}
	}
	return b.String()
}
