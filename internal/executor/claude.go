package executor

import (
	"bytes"
	"encoding/json"
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
