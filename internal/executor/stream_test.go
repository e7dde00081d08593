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
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

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

// feed hands lines to a parser as the process runner does, then ends the stream. Every
// line is handed over in a buffer that is overwritten afterwards, as the runner reuses
// its buffers, so events that kept a reference instead of a copy show up as corrupted
// Data.
func feed(p streamParser, lines [][]byte) eventLog {
	var events eventLog
	buf := make([]byte, 0, 4096)
	for _, l := range lines {
		buf = append(buf[:0], l...)
		p.line(buf, events.emit)
		for i := range buf {
			buf[i] = 'X'
		}
	}
	if e, ok := p.(streamEnder); ok {
		e.end(events.emit)
	}
	return events
}

// lines splits s into lines.
func lines(s string) [][]byte {
	var out [][]byte
	for _, l := range strings.Split(s, "\n") {
		out = append(out, []byte(l))
	}
	return out
}

// replay feeds a fixture through a parser the way cliAgent.Run does, with one difference
// that makes the assertions simpler: stdout events and stderr events are collected apart.
func replay(p streamParser, f fixture, rc int) (events, stderr eventLog, res Result, err error) {
	events = feed(p, f.stdout)
	tail := newLineTail(streamTailLines)
	toTail := cleanStderr(tail, stderr.emit)
	for _, l := range f.stderr {
		toTail(l)
	}
	res, err = p.result(rc, tail.Lines())
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
			events.validate(t)
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
			if got := events.texts(activity.Result); len(got) != 1 || got[0] != tc.answer {
				t.Errorf("result events %q, want one with the answer %q", got, tc.answer)
			}
		})
	}
}

func intp(n int) *int { return &n }

// fuzzParser seeds f with every fixture of a CLI, whole and line by line, and checks that
// whatever a parser emits and returns for arbitrary bytes is well formed.
func fuzzParser(f *testing.F, prefix string, newParser func() streamParser) {
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
	f.Fuzz(func(t *testing.T, data []byte, rc int) {
		p := newParser()
		events := feed(p, bytes.Split(data, []byte("\n")))
		res, err := p.result(rc, []string{string(data[:min(len(data), 100)])})
		events.validate(t)
		if err != nil && Kind(err) == "other" {
			t.Fatalf("error of no known kind: %v", err)
		}
		if err == nil && rc != 0 {
			t.Fatalf("exit status %d accepted as success", rc)
		}
		if res.ExitCode != rc {
			t.Fatalf("exit code %d, want %d", res.ExitCode, rc)
		}
	})
}

// benchParser feeds stdout lines through fresh parsers and reports throughput per event.
func benchParser(b *testing.B, newParser func() streamParser, stdout [][]byte) {
	var bytesPerRun int64
	for _, l := range stdout {
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
		for _, l := range stdout {
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

func TestTailBufferKeepsTheEnd(t *testing.T) {
	b := tailBuffer{max: 10}
	for i := range 20 {
		b.writeLine([]byte(strconv.Itoa(i)))
	}
	got := b.String()
	if !strings.HasPrefix(got, "[output truncated") || !strings.HasSuffix(got, "\n17\n18\n19") {
		t.Errorf("got %q", got)
	}
	small := tailBuffer{max: 100}
	small.writeLine([]byte("short"))
	if small.String() != "short" {
		t.Errorf("got %q", small.String())
	}
}

func TestLineTail(t *testing.T) {
	tail := newLineTail(3)
	for _, l := range []string{"a", "b", "", "c", "d"} {
		tail.add(l)
	}
	if got := strings.Join(tail.Lines(), ","); got != ",c,d" {
		t.Errorf("Lines() = %q", got)
	}
	if got := tail.String(); got != "c | d" {
		t.Errorf("String() = %q", got)
	}
	long := newLineTail(1)
	long.add("x" + strings.Repeat("é", maxTailLine)) // byte maxTailLine is inside an é
	if got := long.String(); len(got) > maxTailLine+len("…") || !strings.HasSuffix(got, "é…") || !utf8.ValidString(got) {
		t.Errorf("a long line is kept as %d bytes ending %q", len(got), got[len(got)-8:])
	}
}

func TestCleanStderrKeepsTheLastMeaningfulLines(t *testing.T) {
	tail := newLineTail(streamTailLines)
	var events eventLog
	stderr := cleanStderr(tail, events.emit)
	for i := range 30 {
		stderr([]byte(fmt.Sprintf("line %d", i)))
		stderr([]byte("    at throwErrorIfNotOK (file://$CACHE/bundle.js:1:2)"))
		stderr([]byte("   "))
	}
	got := tail.Lines()
	if len(got) != streamTailLines || got[0] != "line 10" || got[len(got)-1] != "line 29" {
		t.Fatalf("tail = %q", got)
	}
	if len(events) != 60 {
		t.Errorf("%d events, want one per line that is not blank", len(events))
	}
}

func TestCleanStderrStripsColoursAndSkipsBlankLines(t *testing.T) {
	var events eventLog
	stderr := cleanStderr(newLineTail(streamTailLines), events.emit)
	stderr([]byte("\x1b[31mGemini CLI is not running in a trusted directory.\x1b[0m"))
	stderr([]byte("  \t"))
	if want := []string{"stderr: Gemini CLI is not running in a trusted directory."}; !slices.Equal(events.typeTexts(), want) {
		t.Fatalf("events %q, want %q", events.typeTexts(), want)
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
		got := feed(p, lines("\x1b[1mAPI Error: 400 messages: fake invalid request"))
		if len(got) != 1 || got[0].Type != activity.Message || got[0].Data != nil ||
			!strings.Contains(got[0].Text, "not JSON") || !strings.HasSuffix(got[0].Text, "API Error: 400 messages: fake invalid request") {
			t.Errorf("%s: %+v", name, got)
		}
	}
}

func TestWrongFieldTypesKeepTheEvent(t *testing.T) {
	line := []byte(`{"type":"result","is_error":"yes","usage":[1]}`)
	for name, p := range map[string]streamParser{"claude": &claudeStream{}, "codex": &codexStream{}, "gemini": &geminiStream{}} {
		got := feed(p, [][]byte{line})
		if len(got) == 0 || !bytes.Equal(got[len(got)-1].Data, line) {
			t.Errorf("%s: original event not kept: %+v", name, got)
		}
	}
}
