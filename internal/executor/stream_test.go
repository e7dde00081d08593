package executor

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/oneshot-run/oneshot/internal/activity"
)

// The fixtures in testdata/streams are what Claude Code 2.1.197, Codex CLI 0.171.0 and
// Gemini CLI 0.61.0 really printed (NAME.out stdout, NAME.err stderr, NAME.rc exit status,
// NAME.meta.json argv and stdin); see testdata/streams/README.md.

type fixture struct {
	stdout [][]byte
	stderr [][]byte
	rc     int
}

func loadFixture(t testing.TB, name string) fixture {
	t.Helper()
	dir := filepath.Join("testdata", "streams")
	var f fixture
	f.stdout = readLines(t, filepath.Join(dir, name+".out"))
	f.stderr = readLines(t, filepath.Join(dir, name+".err"))
	rc, err := os.ReadFile(filepath.Join(dir, name+".rc"))
	if err != nil {
		t.Fatal(err)
	}
	if f.rc, err = strconv.Atoi(strings.TrimSpace(string(rc))); err != nil {
		t.Fatalf("%s.rc: %v", name, err)
	}
	return f
}

func readLines(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// replay feeds a fixture through a parser the way cliAgent.Run does, with one difference
// that makes the assertions simpler: stdout events and stderr events are collected apart.
// Every line is handed over in a buffer that is overwritten afterwards, as the process
// runner reuses its buffers, so events that kept a reference instead of a copy show up
// as corrupted Data.
func replay(p streamParser, f fixture, rc int) (events, stderr []activity.Event, res Result, err error) {
	emit := func(e activity.Event) { events = append(events, e) }
	buf := make([]byte, 0, 4096)
	for _, l := range f.stdout {
		buf = append(buf[:0], l...)
		p.line(buf, emit)
		for i := range buf {
			buf[i] = 'X'
		}
	}
	if e, ok := p.(streamEnder); ok {
		e.end(emit)
	}
	var tail streamStderrTail
	for _, l := range f.stderr {
		if ev, ok := streamStderrEvent(l); ok {
			tail.add(ev.Text)
			stderr = append(stderr, ev)
		}
	}
	res, err = p.result(rc, tail.lines())
	return events, stderr, res, err
}

// typeSeq renders event types with runs collapsed: "preamble thought*3 message".
func typeSeq(events []activity.Event) string {
	var parts []string
	for i := 0; i < len(events); {
		j := i
		for j < len(events) && events[j].Type == events[i].Type {
			j++
		}
		if j-i == 1 {
			parts = append(parts, string(events[i].Type))
		} else {
			parts = append(parts, fmt.Sprintf("%s*%d", events[i].Type, j-i))
		}
		i = j
	}
	return strings.Join(parts, " ")
}

var validTypes = map[activity.Type]bool{
	activity.State: true, activity.Preamble: true, activity.Message: true, activity.Thought: true,
	activity.ToolUse: true, activity.ToolResult: true, activity.Usage: true, activity.Result: true,
	activity.Stderr: true, activity.Error: true,
}

// checkEvents asserts what holds for any event a parser emits: a known type, Data that is
// valid JSON, and an event that serialises.
func checkEvents(t testing.TB, events []activity.Event) {
	t.Helper()
	for i, e := range events {
		if !validTypes[e.Type] {
			t.Fatalf("event %d has invalid type %q", i, e.Type)
		}
		if e.Data != nil && !json.Valid(e.Data) {
			t.Fatalf("event %d (%s) has invalid JSON data: %q", i, e.Type, e.Data)
		}
		if len(e.Text) > activity.MaxText+len("…[truncated]") {
			t.Fatalf("event %d text is %d bytes, over the limit", i, len(e.Text))
		}
		if _, err := json.Marshal(e); err != nil {
			t.Fatalf("event %d does not serialise: %v", i, err)
		}
	}
}

// streamCase is one fixture replayed through a parser, with what a user would notice.
type streamCase struct {
	fixture string
	rc      *int // overrides the fixture's exit status

	seq       string // event types; "" skips the check
	answer    string
	usage     Usage
	session   string
	kind      string   // Kind of the error; "" means success
	alsoExit  bool     // the error also wraps ErrExit
	errSubstr []string // the error message names these
}

func runStreamCases(t *testing.T, newParser func() streamParser, cases []streamCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			f := loadFixture(t, tc.fixture)
			rc := f.rc
			if tc.rc != nil {
				rc = *tc.rc
			}
			events, _, res, err := replay(newParser(), f, rc)
			checkEvents(t, events)
			if tc.seq != "" {
				if got := typeSeq(events); got != tc.seq {
					t.Errorf("event types:\n got %s\nwant %s", got, tc.seq)
				}
			}
			if got := Kind(err); got != tc.kind {
				t.Fatalf("error kind %q, want %q (err: %v)", got, tc.kind, err)
			}
			if res.ExitCode != rc {
				t.Errorf("exit code %d, want %d", res.ExitCode, rc)
			}
			if tc.session != "" && res.SessionID != tc.session {
				t.Errorf("session %q, want %q", res.SessionID, tc.session)
			}
			if res.Usage != tc.usage {
				t.Errorf("usage %+v, want %+v", res.Usage, tc.usage)
			}
			if err != nil {
				if tc.alsoExit && !errors.Is(err, ErrExit) {
					t.Errorf("error does not also wrap ErrExit: %v", err)
				}
				for _, s := range tc.errSubstr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error does not mention %q:\n%v", s, err)
					}
				}
				if res.Text != "" {
					t.Errorf("failed run has answer %q", res.Text)
				}
				return
			}
			if res.Text != tc.answer {
				t.Errorf("answer %q, want %q", res.Text, tc.answer)
			}
			if n := countType(events, activity.Result); n != 1 {
				t.Errorf("%d result events, want 1", n)
			} else if r := lastOfType(events, activity.Result); r.Text != tc.answer {
				t.Errorf("result event text %q, want the answer %q", r.Text, tc.answer)
			}
		})
	}
}

func countType(events []activity.Event, typ activity.Type) int {
	n := 0
	for _, e := range events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func lastOfType(events []activity.Event, typ activity.Type) activity.Event {
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Type == typ {
			return events[i]
		}
	}
	return activity.Event{}
}

func intp(n int) *int { return &n }

// fuzzStream feeds arbitrary bytes, line by line, to a parser and checks that whatever it
// emits and returns is well formed.
func fuzzStream(t *testing.T, p streamParser, data []byte, rc int) {
	var events []activity.Event
	emit := func(e activity.Event) { events = append(events, e) }
	for _, l := range bytes.Split(data, []byte("\n")) {
		p.line(l, emit)
	}
	if e, ok := p.(streamEnder); ok {
		e.end(emit)
	}
	res, err := p.result(rc, []string{string(data[:min(len(data), 100)])})
	checkEvents(t, events)
	if err != nil && Kind(err) == "other" {
		t.Fatalf("error of no known kind: %v", err)
	}
	if err == nil && rc != 0 {
		t.Fatalf("exit status %d accepted as success", rc)
	}
	if res.ExitCode != rc {
		t.Fatalf("exit code %d, want %d", res.ExitCode, rc)
	}
}

// seedFuzz adds every fixture of a CLI as a seed, whole and line by line.
func seedFuzz(f *testing.F, prefix string) {
	paths, err := filepath.Glob(filepath.Join("testdata", "streams", prefix+"-*.out"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no %s fixtures: %v", prefix, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, 0)
		f.Add(b, 1)
		for _, l := range bytes.Split(b, []byte("\n")) {
			f.Add(l, 0)
		}
	}
}

// benchStream replays a fixture through fresh parsers and reports throughput per event.
func benchStream(b *testing.B, fixtureName string, newParser func() streamParser) {
	f := loadFixture(b, fixtureName)
	var bytesPerRun int64
	for _, l := range f.stdout {
		bytesPerRun += int64(len(l) + 1)
	}
	events := 0
	emit := func(activity.Event) { events++ }
	b.SetBytes(bytesPerRun)
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		p := newParser()
		for _, l := range f.stdout {
			p.line(l, emit)
		}
		if e, ok := p.(streamEnder); ok {
			e.end(emit)
		}
		_, _ = p.result(0, nil)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if events == 0 {
		b.Fatal("no events")
	}
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(events), "allocs/event")
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}

func TestStderrTailKeepsTheLastMeaningfulLines(t *testing.T) {
	var tail streamStderrTail
	for i := range 30 {
		tail.add(fmt.Sprintf("line %d", i))
		tail.add("    at throwErrorIfNotOK (file://$CACHE/bundle.js:1:2)")
		tail.add("   ")
	}
	got := tail.lines()
	if len(got) != streamTailLines || got[0] != "line 10" || got[len(got)-1] != "line 29" {
		t.Fatalf("tail = %q", got)
	}
}

func TestStderrEventStripsColoursAndSkipsBlankLines(t *testing.T) {
	ev, ok := streamStderrEvent([]byte("\x1b[31mGemini CLI is not running in a trusted directory.\x1b[0m"))
	if !ok || ev.Type != activity.Stderr || ev.Text != "Gemini CLI is not running in a trusted directory." {
		t.Fatalf("got %+v %v", ev, ok)
	}
	if _, ok := streamStderrEvent([]byte("  \t")); ok {
		t.Fatal("blank line became an event")
	}
}

func TestToolSummary(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		want  string
	}{
		{"Bash", `{"command":"ls -la\n  | wc","description":"List"}`, "Bash: ls -la | wc"},
		{"Read", `{"file_path":"/src/main.go"}`, "Read: /src/main.go"},
		{"read_file", `{"absolute_path":"a.go"}`, "read_file: a.go"},
		{"exec", `{"command":["bash","-lc","ls"]}`, "exec: bash -lc ls"},
		{"odd", `{"x":1}`, `odd {"x":1}`},
		{"empty", `{}`, "empty"},
		{"", ``, "tool"},
		{"list", `[1,2]`, "list 1 2"},
	} {
		if got := toolCallSummary(tc.name, json.RawMessage(tc.input)); got != tc.want {
			t.Errorf("toolCallSummary(%q, %s) = %q, want %q", tc.name, tc.input, got, tc.want)
		}
	}
}

func TestNonJSONLineIsKeptAsText(t *testing.T) {
	for name, p := range map[string]streamParser{"claude": &claudeStream{}, "codex": &codexStream{}, "gemini": &geminiStream{}} {
		var got []activity.Event
		p.line([]byte("\x1b[1mAPI Error: 400 messages: fake invalid request"), func(e activity.Event) { got = append(got, e) })
		if e, ok := p.(streamEnder); ok {
			e.end(func(e activity.Event) { got = append(got, e) })
		}
		if len(got) != 1 || got[0].Type != activity.Message || got[0].Data != nil ||
			!strings.Contains(got[0].Text, "not JSON") || !strings.HasSuffix(got[0].Text, "API Error: 400 messages: fake invalid request") {
			t.Errorf("%s: %+v", name, got)
		}
	}
}

func TestWrongFieldTypesKeepTheEvent(t *testing.T) {
	line := []byte(`{"type":"result","is_error":"yes","usage":[1]}`)
	for name, p := range map[string]streamParser{"claude": &claudeStream{}, "codex": &codexStream{}, "gemini": &geminiStream{}} {
		var got []activity.Event
		p.line(line, func(e activity.Event) { got = append(got, e) })
		if len(got) == 0 || !bytes.Equal(got[len(got)-1].Data, line) {
			t.Errorf("%s: original event not kept: %+v", name, got)
		}
	}
}
