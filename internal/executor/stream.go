package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/oneshot-run/oneshot/internal/activity"
)

// What every CLI executor shares: a line-fed parser of the agent's stdout, the two ways of
// running one over the process runner (cliAgent for the stream-json CLIs, runRawStderr for
// the others), the stderr tail kept for error messages and the bounded answer buffers.

// streamParser turns one CLI agent's stdout, line by line, into activity events and, once
// the program has exited, into the turn's outcome. Parsers know nothing of processes, so
// they are replayed from captures, fuzzed and benchmarked alone.
type streamParser interface {
	// line parses one stdout line (newline stripped; the caller may reuse b afterwards).
	line(b []byte, emit Emit)
	// result decides the outcome from what the stream said and how the program exited;
	// stderrLines are its last stderr lines, oldest first.
	result(exitCode int, stderrLines []string) (Result, error)
}

// streamEnder is implemented by parsers that hold output back (coalesced text deltas, an
// unfinished JSON value) and must emit it when stdout ends.
type streamEnder interface {
	end(emit Emit)
}

// cliAgent runs one agent CLI whose stdout a streamParser understands and which reports
// the turn's result itself (claude, codex, gemini). Its stderr is cleaned up (see
// cleanStderr), and every failure quotes it.
type cliAgent struct {
	name      string   // the CLI, for messages
	argv      []string // program and arguments
	env       []string // added to the process environment, before Request.Env
	spec      Spec
	newParser func() streamParser
}

func (a *cliAgent) Run(ctx context.Context, req Request, emit Emit) (Result, error) {
	parser := a.newParser()
	tail := newLineTail(streamTailLines)
	// The executor's own variables come before the request's, so a caller can still
	// override them.
	withEnv := req
	withEnv.Env = append(a.env[:len(a.env):len(a.env)], req.Env...)
	p := cliProcess(a.spec, withEnv, a.argv)
	p.Stdin = req.Prompt
	p.Stdout = func(b []byte) { parser.line(b, emit) }
	p.Stderr = cleanStderr(tail, emit)
	code, err := p.run(ctx)
	if e, ok := parser.(streamEnder); ok {
		e.end(emit)
	}
	if err != nil {
		return Result{ExitCode: code}, fmt.Errorf("%s: %w%s", a.name, err, quoteStderr(tail.Lines()))
	}
	return parser.result(code, tail.Lines())
}

// runRawStderr runs p with parser reading its stdout, for the agents whose stderr is kept
// as printed (aider, cline, command): every stderr line is an event, the last
// quotedStderrLines are quoted when the run times out (and by the parser's errors), and
// a successful turn ends with a result event.
func runRawStderr(ctx context.Context, p process, parser streamParser, emit Emit) (Result, error) {
	tail := newLineTail(quotedStderrLines)
	p.Stdout = func(b []byte) { parser.line(b, emit) }
	p.Stderr = rawStderr(tail, emit)
	code, err := p.run(ctx)
	if err != nil {
		return Result{ExitCode: code}, withStderr(err, tail.Lines())
	}
	if e, ok := parser.(streamEnder); ok {
		e.end(emit)
	}
	res, err := parser.result(code, tail.Lines())
	if err == nil {
		emit(activity.Event{Type: activity.Result, Text: activity.Truncate(res.Text)})
	}
	return res, err
}

const (
	// streamTailLines is how many stderr lines a stream-json CLI's failure quotes.
	streamTailLines = 20
	// quotedStderrLines is how many stderr lines the other agents' errors quote.
	quotedStderrLines = 10
	// maxAnswer bounds the answer kept from a plain-text agent: the last 1 MiB.
	maxAnswer = 1 << 20
)

// cleanStderr turns stderr lines into stderr events with colours removed, skipping blank
// lines, and keeps the last ones worth quoting in tail: trimmed, cut to 500 bytes, without
// JavaScript stack frames (Gemini prints dozens per retry).
func cleanStderr(tail *lineTail, emit Emit) func([]byte) {
	return func(b []byte) {
		if isBlankLine(b) {
			return
		}
		text := activity.Truncate(stripTermEscapes(string(b)))
		if trimmed := strings.TrimSpace(text); trimmed != "" && !(strings.HasPrefix(trimmed, "at ") && strings.HasPrefix(text, " ")) {
			tail.add(clipText(trimmed, 500))
		}
		emit(activity.Event{Type: activity.Stderr, Text: text})
	}
}

// rawStderr turns every stderr line into a stderr event and keeps it in tail.
func rawStderr(tail *lineTail, emit Emit) func([]byte) {
	return func(b []byte) {
		line := string(b)
		tail.add(line)
		emit(activity.Event{Type: activity.Stderr, Text: activity.Truncate(line)})
	}
}

// quoteStderr quotes the stderr tail, a line each, for an error message.
func quoteStderr(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return "; its last stderr lines:\n  " + strings.Join(lines, "\n  ")
}

// stderrNote quotes the stderr tail on one line for an error message, or says there was none.
func stderrNote(lines []string) string {
	if s := oneLine(lines); s != "" {
		return "; its last stderr lines: " + s
	}
	return " and printed nothing on stderr"
}

// withStderr adds the stderr tail to a timeout, which it often explains (a retrying model
// API, a prompt for input).
func withStderr(err error, lines []string) error {
	if !errors.Is(err, ErrInactivity) && !errors.Is(err, ErrMaxTimeout) {
		return err
	}
	if s := oneLine(lines); s != "" {
		return fmt.Errorf("%w (last stderr lines: %s)", err, s)
	}
	return err
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

// oneLine joins the non-blank lines, trimmed, with " | " for a one-line message.
func oneLine(lines []string) string {
	var parts []string
	for _, l := range lines {
		if s := strings.TrimSpace(l); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " | ")
}

// lineTail keeps the last n lines an agent printed (its stderr, the errors it reported)
// for error messages. Each kept line is cut to maxTailLine bytes.
type lineTail struct {
	n     int
	lines []string
	next  int
}

const maxTailLine = 512

func newLineTail(n int) *lineTail { return &lineTail{n: n} }

func (t *lineTail) add(line string) {
	if t.n <= 0 {
		return
	}
	line = clipText(line, maxTailLine)
	if len(t.lines) < t.n {
		t.lines = append(t.lines, line)
		return
	}
	t.lines[t.next] = line
	t.next = (t.next + 1) % t.n
}

// Lines returns the kept lines, oldest first.
func (t *lineTail) Lines() []string {
	out := make([]string, 0, len(t.lines))
	out = append(out, t.lines[t.next:]...)
	return append(out, t.lines[:t.next]...)
}

// String joins the kept non-blank lines with " | " for a one-line error message.
func (t *lineTail) String() string { return oneLine(t.Lines()) }

// tailBuffer keeps the last max bytes of a text, so an agent's answer stays bounded
// however much it prints. Appends are amortised O(1).
type tailBuffer struct {
	max       int
	buf       []byte
	truncated bool
}

func (b *tailBuffer) writeLine(line []byte) {
	b.buf = append(b.buf, line...)
	b.buf = append(b.buf, '\n')
	if len(b.buf) > 2*b.max {
		b.shrink()
	}
}

func (b *tailBuffer) shrink() {
	if len(b.buf) <= b.max {
		return
	}
	cut := len(b.buf) - b.max
	for cut < len(b.buf) && b.buf[cut]&0xC0 == 0x80 { // keep whole runes
		cut++
	}
	b.buf = append(b.buf[:0], b.buf[cut:]...)
	b.truncated = true
}

// String is the kept text without its final newline, with a note when the start
// was dropped.
func (b *tailBuffer) String() string {
	b.shrink()
	s := strings.TrimRight(string(b.buf), "\n")
	if b.truncated {
		return fmt.Sprintf("[output truncated: only the last %d KiB are kept]\n%s", b.max>>10, s)
	}
	return s
}

// maxTrackedTools bounds the tool-call bookkeeping a stream keeps, whatever it prints.
const maxTrackedTools = 1024

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

// cloneLine keeps a copy of a line the runner will reuse, as an event's Data.
func cloneLine(b []byte) json.RawMessage { return json.RawMessage(bytes.Clone(b)) }

func isBlankLine(b []byte) bool {
	return len(bytes.TrimSpace(b)) == 0
}
