package termui

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/oneshot-run/oneshot/internal/activity"
)

func TestPlainOutputForPipes(t *testing.T) {
	var b bytes.Buffer
	u := New(&b, false)
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	u.Event(activity.Event{TS: ts, Role: "worker", Iteration: 1, Type: activity.ToolUse, Text: "Bash ls -la"}, 3)
	u.Event(activity.Event{TS: ts, Role: "worker", Iteration: 1, Type: activity.Message, Text: "first line\nsecond line"}, 3)
	u.Event(activity.Event{TS: ts, Role: "worker", Iteration: 1, Type: activity.Message, Text: "   "}, 3)
	u.Event(activity.Event{TS: ts, Role: "auditor", Iteration: 1, Type: activity.Error, Text: strings.Repeat("x", 500)}, 3)
	u.Close()
	out := b.String()
	if strings.Contains(out, "\033[") {
		t.Fatalf("escape codes in non-terminal output: %q", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want one line per non-empty event, got %d:\n%s", len(lines), out)
	}
	if !strings.Contains(lines[0], "⚙ Bash ls -la") || !strings.Contains(lines[1], "first line …") || strings.Contains(out, "second line") {
		t.Fatalf("unexpected rendering:\n%s", out)
	}
	if len(lines[2]) > maxLine+100 || !strings.HasSuffix(lines[2], "…") {
		t.Fatalf("a long line must be cut and marked: %d bytes", len(lines[2]))
	}
}

func TestTerminalGetsColoursAndStatusLine(t *testing.T) {
	var b bytes.Buffer
	u := New(&b, true)
	u.Event(activity.Event{TS: time.Now(), Role: activity.RoleLoop, Iteration: 2, Type: activity.State, Text: "auditor_running"}, 3)
	u.Close()
	out := b.String()
	if !strings.Contains(out, "\033[") || !strings.Contains(out, "auditor_running · iteration 2/3") {
		t.Fatalf("terminal output lacks colours or the status line: %q", out)
	}
}
