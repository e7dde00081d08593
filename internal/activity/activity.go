// Package activity defines the normalised event that records what an agent did.
//
// The same Event is written to a run's NDJSON log, stored in the database, streamed
// over SSE and rendered in the terminal, so every consumer sees one shape whatever
// agent produced it. Data keeps the agent's original event for anyone who needs more.
package activity

import (
	"encoding/json"
	"time"
)

// Type classifies an event.
type Type string

const (
	State      Type = "state"       // the run changed state (text names the new state)
	Preamble   Type = "preamble"    // agent start-up information: session id, model, tools
	Message    Type = "message"     // text the agent wrote for the user
	Thought    Type = "thought"     // reasoning the agent exposed
	ToolUse    Type = "tool_use"    // the agent called a tool
	ToolResult Type = "tool_result" // what a tool call returned
	Usage      Type = "usage"       // token counts or cost
	Result     Type = "result"      // the agent's final answer
	Stderr     Type = "stderr"      // a line the agent printed on stderr
	Error      Type = "error"       // the agent or its model API reported an error
)

// Roles of the two agents in a run.
const (
	RoleWorker  = "worker"
	RoleAuditor = "auditor"
	RoleLoop    = "loop" // events the loop itself emits (state changes, verdicts)
)

// Event is one normalised activity record.
type Event struct {
	Seq       int64           `json:"seq"`
	TS        time.Time       `json:"ts"`
	Task      string          `json:"task"`
	Iteration int             `json:"iteration"`
	Role      string          `json:"role"`
	Executor  string          `json:"executor,omitempty"`
	Type      Type            `json:"type"`
	Text      string          `json:"text,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
}

// Sink receives events. Implementations must be safe for use by one goroutine at a time;
// the loop serialises calls.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event)

// Emit calls f.
func (f SinkFunc) Emit(e Event) { f(e) }

// MaxText bounds the text kept in one event, so a single enormous line from an agent
// cannot blow up logs, rows or SSE frames. The full original remains in the agent's
// own output, which Oneshot never buffers whole.
const MaxText = 64 << 10

// Truncate shortens s to at most MaxText bytes on a rune boundary, marking the cut.
func Truncate(s string) string {
	if len(s) <= MaxText {
		return s
	}
	cut := MaxText
	for cut > 0 && !runeStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…[truncated]"
}

func runeStart(b byte) bool { return b&0xC0 != 0x80 }
