package executor

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/oneshot-run/oneshot/internal/activity"
)

// Gemini CLI runs headless with NDJSON events on stdout:
//
//	gemini --output-format stream-json --yolo [-m M] [extra args...]
//
// with the prompt on stdin (headless because stdin is not a terminal; no --prompt, so the
// prompt is neither limited by argv nor visible in ps) and GEMINI_CLI_TRUST_WORKSPACE=true
// (a fresh per-task workspace is never trusted: Gemini would exit 55).
//
// How its events map (see testdata/streams/gemini-*.out):
//
//	init                 preamble (session id, model)
//	message, user        preamble "prompt received (N bytes)": the prompt echoed, not stored again
//	message, assistant   message: deltas are joined and emitted per line of text (and before
//	                     any other event), so a log has readable lines instead of word
//	                     fragments; Data is the JSON array of the joined original events
//	tool_use             tool_use
//	tool_result          tool_result
//	error                error (the CLI's non-fatal warnings and errors)
//	result               usage, then result (error when status is "error")
//	anything else        message, Data kept
//
// The answer is the assistant text of the final model turn: the text after the last tool
// call or result, which is what Gemini's own json format reports as "response" ("I'll list
// the files first." before a tool call is not part of the answer). When the final turn has
// no text, the answer is the latest turn that had some.
//
// Failure rules: result status "error" or any non-zero exit fails the run. Gemini exits
// with the model API's HTTP status & 255 (500→244, 429→173, 400→144), so the error names
// the likely status; exit 55 means the folder was not trusted.
type geminiStream struct {
	sessionID string

	gotResult   bool
	status      string
	failure     string
	usage       Usage
	unparsed    int
	toolNames   map[string]string
	turn        boundedText // assistant text since the last tool event
	lastTurn    boundedText // the latest finished turn that had text
	pending     []byte      // joined deltas not yet emitted
	pendingData []byte      // their original events, as a JSON array being built
	scratch     geminiLine
}

type geminiLine struct {
	Type       string          `json:"type"`
	SessionID  string          `json:"session_id"`
	Model      string          `json:"model"`
	Role       string          `json:"role"`
	Content    string          `json:"content"`
	Delta      bool            `json:"delta"`
	ToolName   string          `json:"tool_name"`
	ToolID     string          `json:"tool_id"`
	Parameters json.RawMessage `json:"parameters"`
	Status     string          `json:"status"`
	Output     json.RawMessage `json:"output"`
	Severity   string          `json:"severity"`
	Message    string          `json:"message"`
	Error      json.RawMessage `json:"error"`
	Stats      *struct {
		InputTokens  int64 `json:"input_tokens"`
		OutputTokens int64 `json:"output_tokens"`
	} `json:"stats"`
}

// geminiFlushBytes is how much delta text is held back at most before it is emitted.
const geminiFlushBytes = 4 << 10

func (s *geminiStream) line(b []byte, emit Emit) {
	if isBlankLine(b) {
		return
	}
	v := &s.scratch
	*v = geminiLine{}
	if err := decodeStreamLine(b, v); err != nil {
		s.flush(emit)
		s.unparsed++
		emit(notJSONEvent("gemini", b))
		return
	}
	if v.Type == "message" && v.Role == "assistant" {
		s.assistant(v, b, emit)
		return
	}
	s.flush(emit)
	if v.SessionID != "" {
		s.sessionID = v.SessionID
	}
	switch v.Type {
	case "init":
		text := "gemini session " + v.SessionID
		if v.Model != "" {
			text += ", model " + v.Model
		}
		emit(activity.Event{Type: activity.Preamble, Text: text, Data: cloneLine(b)})
	case "message":
		// The user's message is the prompt echoed back: the run already records it, so
		// neither the text nor Data repeats it.
		emit(activity.Event{Type: activity.Preamble, Text: "gemini " + quoteEventType(v.Role) + " message received (" + strconv.Itoa(len(v.Content)) + " bytes)"})
	case "tool_use":
		s.endTurn()
		if v.ToolID != "" && len(s.toolNames) < maxTrackedTools {
			if s.toolNames == nil {
				s.toolNames = make(map[string]string)
			}
			s.toolNames[v.ToolID] = v.ToolName
		}
		emit(activity.Event{Type: activity.ToolUse, Text: toolCallSummary(v.ToolName, v.Parameters), Data: cloneLine(b)})
	case "tool_result":
		s.endTurn()
		name := s.toolNames[v.ToolID]
		delete(s.toolNames, v.ToolID)
		out := jsonText(v.Output)
		failed := v.Status != "" && v.Status != "success"
		if e := jsonErrorText(v.Error); e != "" {
			out, failed = strings.TrimSpace(out+" "+e), true
		}
		emit(activity.Event{Type: activity.ToolResult, Text: toolResultSummary(name, failed, out), Data: cloneLine(b)})
	case "error":
		text := v.Message
		if v.Severity != "" {
			text = v.Severity + ": " + text
		}
		emit(activity.Event{Type: activity.Error, Text: activity.Truncate(text), Data: cloneLine(b)})
	case "result":
		s.gotResult = true
		s.status = v.Status
		var u Usage
		if v.Stats != nil {
			u.InputTokens, u.OutputTokens = v.Stats.InputTokens, v.Stats.OutputTokens
		}
		s.usage = s.usage.Add(u)
		data := cloneLine(b)
		emit(activity.Event{Type: activity.Usage, Text: usageSummary(u), Data: data})
		if v.Status == "error" {
			s.failure = jsonErrorText(v.Error)
			if s.failure == "" {
				s.failure = "Gemini reported an error without details"
			}
			emit(activity.Event{Type: activity.Error, Text: activity.Truncate(s.failure), Data: data})
			return
		}
		emit(activity.Event{Type: activity.Result, Text: activity.Truncate(s.answer()), Data: data})
	default:
		emit(activity.Event{Type: activity.Message, Text: "gemini " + quoteEventType(v.Type) + " event (not interpreted)", Data: cloneLine(b)})
	}
}

func (s *geminiStream) assistant(v *geminiLine, b []byte, emit Emit) {
	s.turn.write(v.Content)
	if !v.Delta {
		s.flush(emit)
		emit(activity.Event{Type: activity.Message, Text: activity.Truncate(v.Content), Data: cloneLine(b)})
		return
	}
	if len(s.pendingData) == 0 {
		s.pendingData = append(s.pendingData, '[')
	} else {
		s.pendingData = append(s.pendingData, ',')
	}
	s.pendingData = append(s.pendingData, b...)
	s.pending = append(s.pending, v.Content...)
	if strings.Contains(v.Content, "\n") || len(s.pending) >= geminiFlushBytes || len(s.pendingData) >= 4*geminiFlushBytes {
		s.flush(emit)
	}
}

// flush emits the joined deltas held back, if any.
func (s *geminiStream) flush(emit Emit) {
	if len(s.pendingData) == 0 {
		return
	}
	data := make(json.RawMessage, 0, len(s.pendingData)+1)
	data = append(append(data, s.pendingData...), ']')
	text := strings.TrimRight(string(s.pending), "\n")
	s.pending, s.pendingData = s.pending[:0], s.pendingData[:0]
	emit(activity.Event{Type: activity.Message, Text: activity.Truncate(text), Data: data})
}

func (s *geminiStream) end(emit Emit) { s.flush(emit) }

// endTurn closes the current model turn at a tool event.
func (s *geminiStream) endTurn() {
	if s.turn.len() > 0 {
		s.lastTurn, s.turn = s.turn, boundedText{}
	}
}

func (s *geminiStream) answer() string {
	if s.turn.len() > 0 {
		return strings.TrimSpace(s.turn.String())
	}
	return strings.TrimSpace(s.lastTurn.String())
}

func (s *geminiStream) result(exitCode int, stderrLines []string) (Result, error) {
	res := Result{SessionID: s.sessionID, Usage: s.usage, ExitCode: exitCode}
	status := geminiHTTPStatus(exitCode, s.failure)
	if s.gotResult && s.status == "error" {
		what := "gemini's model API call failed"
		if status != 0 {
			what += fmt.Sprintf(" (likely HTTP %d)", status)
		}
		if exitCode != 0 {
			return res, withKinds(ErrModelAPI, ErrExit, "%s: %s (exit status %d); %s", what, flattenSpace(s.failure), exitCode, modelAPIHint(status))
		}
		return res, fmt.Errorf("%w: %s: %s; %s", ErrModelAPI, what, flattenSpace(s.failure), modelAPIHint(status))
	}
	if exitCode != 0 {
		switch {
		case exitCode == 55:
			return res, fmt.Errorf("%w: gemini refused to run because the working directory is not a trusted folder (exit status 55); "+
				"Oneshot sets GEMINI_CLI_TRUST_WORKSPACE=true, so check that the agent's environment does not override it, "+
				"or add --skip-trust to the executor's extra arguments%s", ErrExit, quoteStderr(stderrLines))
		case exitCode == 42:
			return res, fmt.Errorf("%w: gemini rejected its input or arguments (exit status 42): check the prompt and the executor's extra arguments%s", ErrExit, quoteStderr(stderrLines))
		case exitCode == 53:
			return res, fmt.Errorf("%w: gemini hit its turn limit (exit status 53): raise maxSessionTurns in its settings or split the task%s", ErrExit, quoteStderr(stderrLines))
		case status != 0:
			return res, withKinds(ErrModelAPI, ErrExit, "gemini exited with status %d, which is how it reports HTTP %d from the model API; %s%s",
				exitCode, status, modelAPIHint(status), quoteStderr(stderrLines))
		}
		msg := fmt.Sprintf("gemini exited with status %d", exitCode)
		if s.gotResult {
			msg += " after reporting a result, so the run counts as failed"
		}
		if s.unparsed > 0 {
			msg += fmt.Sprintf("; %d line(s) of its output were not JSON (do the extra arguments change --output-format?)", s.unparsed)
		}
		return res, fmt.Errorf("%w: %s%s", ErrExit, msg, quoteStderr(stderrLines))
	}
	if !s.gotResult {
		return res, fmt.Errorf("%w: gemini exited with status 0 but without a result event (it does that when it is stopped by a signal)%s",
			ErrAgent, quoteStderr(stderrLines))
	}
	res.Text = s.answer()
	return res, nil
}

// geminiHTTPStatus guesses the model API's HTTP status from Gemini's exit status (the
// status & 255, for 400–511) or, failing that, from the error body it quoted.
func geminiHTTPStatus(exitCode int, message string) int {
	if exitCode >= 144 && exitCode <= 255 {
		return exitCode + 256
	}
	if i := strings.Index(message, `"code":`); i >= 0 {
		rest := strings.TrimLeft(message[i+len(`"code":`):], " ")
		j := 0
		for j < len(rest) && j < 3 && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if n, err := strconv.Atoi(rest[:j]); err == nil && n >= 400 && n <= 599 {
			return n
		}
	}
	return 0
}

// geminiCommand returns the argv and the environment additions for one Gemini run.
func geminiCommand(spec Spec) (argv, env []string) {
	argv = []string{"gemini", "--output-format", "stream-json", "--yolo"}
	if spec.Model != "" {
		argv = append(argv, "-m", spec.Model)
	}
	argv = append(argv, spec.ExtraArgs...)
	return argv, []string{"GEMINI_CLI_TRUST_WORKSPACE=true"}
}

func newGemini(spec Spec) (Executor, error) {
	argv, env := geminiCommand(spec)
	return &cliAgent{
		name: "gemini", argv: argv, env: env, spec: spec,
		newParser: func() streamParser { return &geminiStream{} },
	}, nil
}

// boundedText accumulates text, keeping only the last streamAnswerLimit bytes: an agent that
// streams without end must not grow memory without end.
type boundedText struct {
	b       []byte
	dropped bool
}

// streamAnswerLimit bounds the answer text a stream keeps.
const streamAnswerLimit = 1 << 20

func (t *boundedText) write(s string) {
	t.b = append(t.b, s...)
	if len(t.b) > streamAnswerLimit {
		keep := t.b[len(t.b)-streamAnswerLimit/2:]
		for len(keep) > 0 && keep[0]&0xC0 == 0x80 {
			keep = keep[1:]
		}
		t.b = append(t.b[:0], keep...)
		t.dropped = true
	}
}

func (t *boundedText) len() int { return len(t.b) }

func (t *boundedText) String() string {
	if t.dropped {
		return "…[earlier text dropped] " + string(t.b)
	}
	return string(t.b)
}
