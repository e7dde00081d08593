package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/oneshot-run/oneshot/internal/activity"
)

// clineExecutor runs the Cline CLI headless: `cline -y --json [-m MODEL] [extra…]`
// with the prompt on stdin (Cline takes piped stdin as the task when no prompt
// argument is given, which keeps the prompt out of argv and ps). -y approves every
// action and exits when the task completes; --json prints the task's messages.
type clineExecutor struct {
	spec Spec
}

func newCline(spec Spec) (Executor, error) {
	return &clineExecutor{spec: spec}, nil
}

func (c *clineExecutor) argv() []string {
	argv := []string{"cline", "-y", "--json"}
	if c.spec.Model != "" {
		argv = append(argv, "-m", c.spec.Model)
	}
	return append(argv, c.spec.ExtraArgs...)
}

// Run runs Cline once; see clineStream.result for what counts as a failure.
func (c *clineExecutor) Run(ctx context.Context, req Request, emit Emit) (Result, error) {
	if strings.TrimSpace(req.Prompt) == "" {
		// Without a prompt Cline opens its interactive view, which nobody would answer.
		return Result{ExitCode: -1}, fmt.Errorf("%w: the prompt for cline is empty", ErrAgent)
	}
	p := cliProcess(c.spec, req, c.argv())
	p.Stdin = req.Prompt
	return runRawStderr(ctx, p, newClineStream(), emit)
}

// maxClineObject bounds one JSON value from Cline. A bigger one is reported as an
// error event and skipped, so a runaway object cannot exhaust memory.
const maxClineObject = 8 << 20

// clineStream reads Cline's JSON output.
//
// Cline 2.x prints one compact object per line, but other releases pretty-print them
// over several lines, and a line over 1 MiB reaches the parser in pieces. So lines
// are accumulated until a complete JSON value has arrived: a small scanner tracks
// nesting and strings byte by byte (linear time however many lines an object spans),
// and the value is decoded once complete. Text outside any JSON value becomes a
// message event.
//
// The messages are ClineMessages, {"ts","type":"say"|"ask","say"|"ask":KIND,"text"},
// plus the CLI's own {"type":"task_started","taskId"} and {"type":"error","message"}.
// KIND maps to an event type: text → message, reasoning → thought, tool, command and
// other actions → tool_use, their outputs → tool_result, api_req_started with token
// counts → usage, errors and failed API requests → error. The answer is the text of
// the last completion_result.
type clineStream struct {
	max  int
	acc  []byte // the value being accumulated
	scan jsonScanner
	skip bool // inside a value that outgrew max: scan it to its end, keep nothing

	answer     string
	haveAnswer bool
	sessionID  string
	usage      Usage
	errors     *lineTail // what Cline reported as errors, for the failure message
	apiFailed  bool      // a model API request failed
	lastText   string    // the last message, for a failure message
}

func newClineStream() *clineStream {
	return &clineStream{max: maxClineObject, errors: newLineTail(3)}
}

// line feeds one line (or a piece of a long line) of stdout.
func (s *clineStream) line(b []byte, emit Emit) {
	for len(b) > 0 {
		if len(s.acc) == 0 && !s.skip {
			trimmed := bytes.TrimLeft(b, " \t\r")
			if len(trimmed) == 0 {
				return
			}
			if c := trimmed[0]; c != '{' && c != '[' {
				// Not JSON: a warning or banner some release printed on stdout.
				emit(activity.Event{Type: activity.Message, Text: activity.Truncate(string(bytes.TrimSpace(trimmed)))})
				return
			}
			b = trimmed
			s.scan = jsonScanner{}
		}
		end := s.scan.feed(b) // index just past the value's end, or -1
		part := b
		if end >= 0 {
			part = b[:end]
		}
		if !s.skip {
			if len(s.acc)+len(part) > s.max {
				emit(activity.Event{Type: activity.Error, Text: fmt.Sprintf(
					"cline printed a JSON value larger than %d MiB; it was skipped", s.max>>20)})
				s.acc, s.skip = s.acc[:0], true
			} else {
				s.acc = append(s.acc, part...)
			}
		}
		if end < 0 {
			return
		}
		if !s.skip {
			s.message(s.acc, emit)
		}
		s.acc, s.skip = s.acc[:0], false
		if cap(s.acc) > 64<<10 {
			s.acc = nil // do not keep a large buffer for the small messages that follow
		}
		b = b[end:]
	}
}

// end is called when the output ended: an unfinished value is reported.
func (s *clineStream) end(emit Emit) {
	if len(s.acc) > 0 || s.skip {
		emit(activity.Event{Type: activity.Error, Text: "cline's output ended inside a JSON value: " +
			activity.Truncate(string(s.acc[:min(len(s.acc), 200)]))})
		s.acc, s.skip = nil, false
	}
}

// clineMessage is the part of Cline's messages the executor reads.
type clineMessage struct {
	Type      string `json:"type"`
	Say       string `json:"say"`
	Ask       string `json:"ask"`
	Text      string `json:"text"`
	Reasoning string `json:"reasoning"`
	Partial   bool   `json:"partial"`
	TaskID    string `json:"taskId"`
	Message   string `json:"message"`
}

// message turns one complete JSON value into events.
func (s *clineStream) message(raw []byte, emit Emit) {
	data := cloneLine(raw)
	var m clineMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		if json.Valid(raw) {
			emit(activity.Event{Type: activity.Message, Text: "unrecognised output from cline", Data: data})
		} else {
			emit(activity.Event{Type: activity.Error, Text: "cline printed malformed JSON: " +
				activity.Truncate(string(raw[:min(len(raw), 200)]))})
		}
		return
	}
	ev := activity.Event{Data: data}
	switch m.Type {
	case "say":
		ev.Type, ev.Text = s.say(m)
	case "ask":
		ev.Type, ev.Text = s.ask(m)
	case "task_started":
		s.sessionID = m.TaskID
		ev.Type, ev.Text = activity.Preamble, "task "+m.TaskID+" started"
	case "error":
		s.errors.add(m.Message)
		ev.Type, ev.Text = activity.Error, m.Message
	case "run_result": // later releases report the final answer this way
		s.setAnswer(m.Text)
		ev.Type, ev.Text = activity.Message, m.Text
	default:
		ev.Type, ev.Text = activity.Message, firstNonEmpty(m.Text, m.Message, "cline: "+m.Type)
	}
	if ev.Type == "" {
		return
	}
	ev.Text = activity.Truncate(ev.Text)
	if ev.Type == activity.Message {
		s.lastText = ev.Text
	}
	emit(ev)
}

func (s *clineStream) say(m clineMessage) (activity.Type, string) {
	if m.Partial {
		return "", "" // a streaming update; the complete message follows
	}
	switch m.Say {
	case "text":
		return activity.Message, m.Text
	case "reasoning":
		return activity.Thought, firstNonEmpty(m.Reasoning, m.Text)
	case "completion_result":
		s.setAnswer(m.Text)
		return activity.Message, s.answer
	case "task":
		return activity.Preamble, fmt.Sprintf("task received (%d bytes)", len(m.Text))
	case "api_req_started", "api_req_finished":
		if u, ok := parseClineUsage(m.Text); ok {
			s.usage = s.usage.Add(u)
			return activity.Usage, fmt.Sprintf("%d tokens in, %d out, $%.4f", u.InputTokens, u.OutputTokens, u.CostUSD)
		}
		return activity.Preamble, "API request started"
	case "api_req_retried", "error_retry":
		return activity.Error, firstNonEmpty(m.Text, "retrying the API request")
	case "error", "diff_error", "clineignore_error", "command_permission_denied":
		s.errors.add(m.Text)
		return activity.Error, m.Text
	case "command", "browser_action_launch", "browser_action", "use_mcp_server",
		"mcp_server_request_started", "use_subagents", "subagent", "load_mcp_documentation":
		return activity.ToolUse, m.Say + ": " + m.Text
	case "tool":
		return activity.ToolUse, clineToolSummary(m.Text)
	case "command_output", "browser_action_result", "mcp_server_response":
		return activity.ToolResult, m.Text
	case "user_feedback", "user_feedback_diff", "info", "task_progress", "checkpoint_created",
		"shell_integration_warning", "shell_integration_warning_with_suggestion", "hook_status",
		"hook_output_stream", "subagent_usage", "conditional_rules_applied", "mcp_notification",
		"generate_explanation", "deleted_api_reqs":
		return activity.Message, firstNonEmpty(m.Text, m.Say)
	}
	return activity.Message, firstNonEmpty(m.Text, m.Say)
}

func (s *clineStream) ask(m clineMessage) (activity.Type, string) {
	if m.Partial {
		return "", ""
	}
	switch m.Ask {
	case "completion_result":
		if strings.TrimSpace(m.Text) != "" {
			s.setAnswer(m.Text)
		}
		return activity.Message, firstNonEmpty(s.answer, "cline marked the task complete")
	case "api_req_failed":
		s.apiFailed = true
		s.errors.add(m.Text)
		return activity.Error, "model API request failed: " + m.Text
	case "mistake_limit_reached":
		s.errors.add(m.Text)
		return activity.Error, firstNonEmpty(m.Text, "cline reached its limit of consecutive mistakes")
	case "command", "browser_action_launch", "use_mcp_server", "use_subagents":
		return activity.ToolUse, m.Ask + ": " + m.Text
	case "tool":
		return activity.ToolUse, clineToolSummary(m.Text)
	case "command_output":
		return activity.ToolResult, m.Text
	case "resume_task", "resume_completed_task":
		return activity.Preamble, m.Ask
	}
	// followup, plan_mode_respond, act_mode_respond, …: cline asks something. Headless,
	// nobody answers: the inactivity timeout ends a run that waits for it.
	return activity.Message, firstNonEmpty(m.Text, "cline asks: "+m.Ask)
}

// setAnswer records a completion result. Cline may append "HAS_CHANGES" to it as a
// marker for its own UI.
func (s *clineStream) setAnswer(text string) {
	s.answer = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(text), "HAS_CHANGES"))
	s.haveAnswer = true
}

// result decides the outcome once Cline exited: the answer when there is a
// completion_result and the exit status is 0; ErrExit for a non-zero status (plus
// ErrModelAPI when a model API request failed); ErrAgent for a clean exit without a
// completion_result (Cline also exits 0 when stopped by a signal).
func (s *clineStream) result(exitCode int, stderrLines []string) (Result, error) {
	res := Result{Usage: s.usage, SessionID: s.sessionID, ExitCode: exitCode}
	reported := ""
	if e := s.errors.String(); e != "" {
		reported = "; it reported: " + e
	}
	switch {
	case exitCode != 0 && s.apiFailed:
		return res, withKinds(ErrExit, ErrModelAPI, "cline exited with status %d after a failed model API request%s; check the model and the provider's API key in `cline auth`%s",
			exitCode, reported, stderrNote(stderrLines))
	case exitCode != 0:
		return res, fmt.Errorf("%w: cline exited with status %d%s%s", ErrExit, exitCode, reported, stderrNote(stderrLines))
	case !s.haveAnswer:
		last := ""
		if s.lastText != "" {
			last = "; its last message: " + clipText(s.lastText, 300)
		}
		return res, fmt.Errorf("%w: cline exited without a completion_result, so the task did not finish (it may have been stopped, or be waiting for an answer)%s%s%s",
			ErrAgent, reported, last, stderrNote(stderrLines))
	}
	res.Text = s.answer
	return res, nil
}

// parseClineUsage reads the JSON inside an api_req_started message's text.
func parseClineUsage(text string) (Usage, bool) {
	var info struct {
		TokensIn    *int64   `json:"tokensIn"`
		TokensOut   *int64   `json:"tokensOut"`
		CacheWrites int64    `json:"cacheWrites"`
		CacheReads  int64    `json:"cacheReads"`
		Cost        *float64 `json:"cost"`
	}
	if !strings.HasPrefix(strings.TrimSpace(text), "{") || json.Unmarshal([]byte(text), &info) != nil {
		return Usage{}, false
	}
	if info.TokensIn == nil && info.TokensOut == nil && info.Cost == nil {
		return Usage{}, false
	}
	var u Usage
	if info.TokensIn != nil {
		u.InputTokens = *info.TokensIn + info.CacheWrites + info.CacheReads
	}
	if info.TokensOut != nil {
		u.OutputTokens = *info.TokensOut
	}
	if info.Cost != nil {
		u.CostUSD = *info.Cost
	}
	return u, true
}

// clineToolSummary shortens a tool message ({"tool":"readFile","path":"a.go",…}).
func clineToolSummary(text string) string {
	var t struct {
		Tool  string `json:"tool"`
		Path  string `json:"path"`
		Regex string `json:"regex"`
	}
	if json.Unmarshal([]byte(text), &t) != nil || t.Tool == "" {
		return "tool: " + text
	}
	return strings.TrimSpace(strings.Join([]string{t.Tool, t.Path, t.Regex}, " "))
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// jsonScanner finds where a JSON value ends in a stream of bytes, tracking nesting
// and strings only (validation is left to the decoder). The zero value expects the
// start of a value.
type jsonScanner struct {
	depth   int
	started bool
	inStr   bool
	escaped bool
}

// feed scans b and returns the index just past the end of the value, or -1 when the
// value continues beyond b.
func (j *jsonScanner) feed(b []byte) int {
	for i, c := range b {
		if j.inStr {
			switch {
			case j.escaped:
				j.escaped = false
			case c == '\\':
				j.escaped = true
			case c == '"':
				j.inStr = false
			}
			continue
		}
		switch c {
		case '"':
			j.inStr = true
		case '{', '[':
			j.depth++
			j.started = true
		case '}', ']':
			j.depth--
			if j.started && j.depth <= 0 {
				return i + 1
			}
		}
	}
	return -1
}
