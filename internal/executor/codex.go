package executor

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/oneshot-run/oneshot/internal/activity"
)

// Codex CLI runs non-interactively with JSONL events on stdout:
//
//	codex exec --json --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox [-m M] [extra args...] -
//
// with the prompt on stdin ("-"). --skip-git-repo-check because a task's workdir need not
// be a git repository; never --full-auto, which current releases reject.
//
// How its events map (see testdata/streams/codex-*.out):
//
//	thread.started           preamble; thread_id is Result.SessionID
//	turn.started             preamble
//	item.* reasoning         thought
//	item.* agent_message     message; the last completed one is the answer
//	item.* command_execution started: tool_use; completed: tool_result (exit code, output)
//	item.* file_change, mcp_tool_call, web_search, todo_list: the same tool_use/tool_result pair
//	item.* error             error, not fatal (an unknown model's metadata warning exits 0)
//	error                    error ("Reconnecting... n/N (…)" while it retries the model API)
//	turn.completed           usage (cached and reasoning token counts stay in Data), then
//	                         result with the last agent message
//	turn.failed              error; the run fails with the model API's message
//	anything else            message, Data kept
type codexStream struct {
	threadID    string
	answer      string
	gotAnswer   bool
	turnFailed  bool
	failure     string
	lastError   string
	usage       Usage
	turns       int
	unparsed    int
	toolStarted map[string]bool
	scratch     codexLine
}

type codexLine struct {
	Type     string      `json:"type"`
	ThreadID string      `json:"thread_id"`
	Message  string      `json:"message"`
	Item     *codexItem  `json:"item"`
	Usage    *codexUsage `json:"usage"`
	Error    *struct {
		Message string `json:"message"`
	} `json:"error"`
}

type codexItem struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Text    string `json:"text"`
	Message string `json:"message"`
	Status  string `json:"status"`

	// command_execution
	Command          json.RawMessage `json:"command"`
	AggregatedOutput string          `json:"aggregated_output"`
	ExitCode         *float64        `json:"exit_code"`

	// file_change
	Changes []struct {
		Path string `json:"path"`
		Kind string `json:"kind"`
	} `json:"changes"`

	// mcp_tool_call
	Server    string          `json:"server"`
	Tool      string          `json:"tool"`
	Arguments json.RawMessage `json:"arguments"`
	Result    json.RawMessage `json:"result"`
	Error     json.RawMessage `json:"error"`

	// web_search
	Query string `json:"query"`

	// todo_list
	Items []struct {
		Text      string `json:"text"`
		Completed bool   `json:"completed"`
	} `json:"items"`
}

type codexUsage struct {
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
}

func (s *codexStream) line(b []byte, emit Emit) {
	if isBlankLine(b) {
		return
	}
	v := &s.scratch
	*v = codexLine{}
	if err := decodeStreamLine(b, v); err != nil {
		s.unparsed++
		emit(notJSONEvent("codex", b))
		return
	}
	data := cloneLine(b)
	switch v.Type {
	case "thread.started":
		s.threadID = v.ThreadID
		emit(activity.Event{Type: activity.Preamble, Text: "codex thread " + v.ThreadID, Data: data})
	case "turn.started":
		emit(activity.Event{Type: activity.Preamble, Text: "codex turn started", Data: data})
	case "item.started", "item.updated", "item.completed":
		if v.Item == nil {
			emit(activity.Event{Type: activity.Message, Text: "codex " + v.Type + " without an item", Data: data})
			return
		}
		s.item(v.Type, v.Item, data, emit)
	case "error":
		s.lastError = v.Message
		emit(activity.Event{Type: activity.Error, Text: activity.Truncate(v.Message), Data: data})
	case "turn.completed":
		s.turns++
		var u Usage
		if v.Usage != nil {
			u.InputTokens, u.OutputTokens = v.Usage.InputTokens, v.Usage.OutputTokens
		}
		s.usage = s.usage.Add(u)
		emit(activity.Event{Type: activity.Usage, Text: usageSummary(u), Data: data})
		if s.gotAnswer {
			emit(activity.Event{Type: activity.Result, Text: activity.Truncate(s.answer), Data: data})
		}
	case "turn.failed":
		s.turnFailed = true
		s.failure = ""
		if v.Error != nil {
			s.failure = v.Error.Message
		}
		if s.failure == "" {
			s.failure = s.lastError
		}
		emit(activity.Event{Type: activity.Error, Text: activity.Truncate("turn failed: " + s.failure), Data: data})
	default:
		emit(activity.Event{Type: activity.Message, Text: "codex " + quoteEventType(v.Type) + " event (not interpreted)", Data: data})
	}
}

func (s *codexStream) item(phase string, it *codexItem, data json.RawMessage, emit Emit) {
	completed := phase == "item.completed"
	switch it.Type {
	case "agent_message":
		if completed {
			s.answer, s.gotAnswer = it.Text, true
		}
		emit(activity.Event{Type: activity.Message, Text: activity.Truncate(it.Text), Data: data})
	case "reasoning":
		emit(activity.Event{Type: activity.Thought, Text: activity.Truncate(it.Text), Data: data})
	case "error":
		emit(activity.Event{Type: activity.Error, Text: activity.Truncate(it.Message), Data: data})
	case "command_execution", "file_change", "mcp_tool_call", "web_search", "todo_list":
		s.tool(completed, it, data, emit)
	default:
		emit(activity.Event{Type: activity.Message, Text: "codex item " + quoteEventType(it.Type) + " (not interpreted)", Data: data})
	}
}

// tool maps the items that are actions: started (and updated) ones are calls, completed
// ones their results. An item that only ever completes gets its call emitted first, so
// every result has a call before it.
func (s *codexStream) tool(completed bool, it *codexItem, data json.RawMessage, emit Emit) {
	if !completed {
		if it.ID != "" && !s.toolStarted[it.ID] && len(s.toolStarted) < maxTrackedTools {
			if s.toolStarted == nil {
				s.toolStarted = make(map[string]bool)
			}
			s.toolStarted[it.ID] = true
		}
		emit(activity.Event{Type: activity.ToolUse, Text: codexToolCall(it), Data: data})
		return
	}
	if it.ID == "" || !s.toolStarted[it.ID] {
		emit(activity.Event{Type: activity.ToolUse, Text: codexToolCall(it), Data: data})
	}
	delete(s.toolStarted, it.ID)
	emit(activity.Event{Type: activity.ToolResult, Text: codexToolResult(it), Data: data})
}

func codexToolCall(it *codexItem) string {
	switch it.Type {
	case "command_execution":
		return "shell: " + clipText(flattenSpace(jsonText(it.Command)), 200)
	case "file_change":
		return "edit: " + codexChanges(it)
	case "mcp_tool_call":
		return toolCallSummary(it.Server+"."+it.Tool, it.Arguments)
	case "web_search":
		return "web search: " + clipText(flattenSpace(it.Query), 200)
	case "todo_list":
		done := 0
		for _, t := range it.Items {
			if t.Completed {
				done++
			}
		}
		return fmt.Sprintf("plan: %d of %d steps done", done, len(it.Items))
	}
	return it.Type
}

func codexToolResult(it *codexItem) string {
	failed := it.Status == "failed" || it.Status == "declined"
	switch it.Type {
	case "command_execution":
		name := "shell"
		if it.ExitCode != nil {
			name += " exit " + strconv.Itoa(int(*it.ExitCode))
			failed = failed || *it.ExitCode != 0
		}
		return toolResultSummary(name, failed, it.AggregatedOutput)
	case "file_change":
		return toolResultSummary("edit", failed, codexChanges(it))
	case "mcp_tool_call":
		out := jsonText(it.Result)
		if e := jsonErrorText(it.Error); e != "" {
			out, failed = e, true
		}
		return toolResultSummary(it.Server+"."+it.Tool, failed, out)
	case "web_search":
		return toolResultSummary("web search", failed, it.Query)
	case "todo_list":
		var b strings.Builder
		for i, t := range it.Items {
			if i > 0 {
				b.WriteString("; ")
			}
			if t.Completed {
				b.WriteString("[x] ")
			} else {
				b.WriteString("[ ] ")
			}
			b.WriteString(t.Text)
		}
		return toolResultSummary("plan", failed, b.String())
	}
	return toolResultSummary(it.Type, failed, "")
}

func codexChanges(it *codexItem) string {
	parts := make([]string, 0, len(it.Changes))
	for _, c := range it.Changes {
		parts = append(parts, strings.TrimSpace(c.Kind+" "+c.Path))
	}
	return clipText(strings.Join(parts, ", "), 500)
}

func (s *codexStream) result(exitCode int, stderrLines []string) (Result, error) {
	res := Result{SessionID: s.threadID, Usage: s.usage, ExitCode: exitCode}
	if s.turnFailed {
		msg := flattenSpace(s.failure)
		if exitCode != 0 {
			return res, withKinds(ErrModelAPI, ErrExit, "codex's turn failed: %s (exit status %d); %s", msg, exitCode, codexHint(msg))
		}
		return res, fmt.Errorf("%w: codex's turn failed: %s; %s", ErrModelAPI, msg, codexHint(msg))
	}
	if exitCode != 0 {
		switch {
		case findStderrLine(stderrLines, "unexpected argument") != "":
			bad := findStderrLine(stderrLines, "unexpected argument")
			return res, fmt.Errorf("%w: codex rejected its arguments (exit status %d): %s; check the executor's extra arguments "+
				"(--full-auto no longer exists: Oneshot already runs codex with --dangerously-bypass-approvals-and-sandbox)%s",
				ErrExit, exitCode, bad, quoteStderr(stderrLines))
		case findStderrLine(stderrLines, "skip-git-repo-check") != "":
			return res, fmt.Errorf("%w: codex refused to run outside a git repository (exit status %d); "+
				"Oneshot passes --skip-git-repo-check, so check the extra arguments%s", ErrExit, exitCode, quoteStderr(stderrLines))
		}
		msg := fmt.Sprintf("codex exited with status %d", exitCode)
		if s.lastError != "" {
			msg += " after reporting: " + flattenSpace(s.lastError)
		}
		if s.unparsed > 0 {
			msg += fmt.Sprintf("; %d line(s) of its output were not JSON (do the extra arguments drop --json?)", s.unparsed)
		}
		return res, fmt.Errorf("%w: %s%s", ErrExit, msg, quoteStderr(stderrLines))
	}
	if !s.gotAnswer {
		msg := "codex finished without a final message"
		if s.turns == 0 {
			msg += " (its turn never completed)"
		}
		if s.lastError != "" {
			msg += "; it last reported: " + flattenSpace(s.lastError)
		}
		return res, fmt.Errorf("%w: %s%s", ErrAgent, msg, quoteStderr(stderrLines))
	}
	res.Text = s.answer
	return res, nil
}

// codexHint says what to do about a failed turn, from the HTTP status in its message.
func codexHint(msg string) string {
	if i := strings.Index(msg, "last status: "); i >= 0 {
		if n, err := strconv.Atoi(strings.Fields(msg[i+len("last status: "):] + " x")[0]); err == nil {
			return modelAPIHint(n)
		}
	}
	if strings.Contains(msg, "invalid_request_error") {
		return modelAPIHint(400)
	}
	if strings.Contains(msg, "high demand") {
		return modelAPIHint(500)
	}
	if strings.Contains(msg, "idle timeout") || strings.Contains(msg, "stream disconnected") {
		return "the model API stopped sending: check that the endpoint is reachable and not overloaded"
	}
	return modelAPIHint(0)
}

// codexCommand returns the argv for one Codex run.
func codexCommand(spec Spec) []string {
	argv := []string{"codex", "exec", "--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"}
	if spec.Model != "" {
		argv = append(argv, "-m", spec.Model)
	}
	argv = append(argv, spec.ExtraArgs...)
	return append(argv, "-")
}

func newCodex(spec Spec) (Executor, error) {
	if slices.Contains(spec.ExtraArgs, "--full-auto") {
		return nil, fmt.Errorf("codex extra argument --full-auto: current Codex releases removed it and exit with a usage error; " +
			"remove it (Oneshot already runs codex with --dangerously-bypass-approvals-and-sandbox)")
	}
	return &cliAgent{
		name: "codex", argv: codexCommand(spec), spec: spec,
		newParser: func() streamParser { return &codexStream{} },
	}, nil
}
