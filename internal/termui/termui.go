// Package termui renders activity events for people: one readable line per event and,
// on a terminal, a status line with the phase, iteration and elapsed time. Colours and
// the status line are used only on a terminal, so logs and pipes get plain text.
package termui

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/oneshot-run/oneshot/internal/activity"
)

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

const (
	reset  = "\033[0m"
	dim    = "\033[2m"
	bold   = "\033[1m"
	red    = "\033[31m"
	green  = "\033[32m"
	yellow = "\033[33m"
	cyan   = "\033[36m"
	clear  = "\r\033[K"
)

// maxLine bounds one rendered line; the full text is in the activity log.
const maxLine = 200

// UI writes rendered events to w. It is safe for concurrent use.
type UI struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	start    time.Time
	phase    string
	iter     int
	maxIter  int
	status   bool // a status line is on screen
	stop     chan struct{}
	stopOnce sync.Once
}

// New returns a UI writing to w; tty enables colours and the status line.
func New(w io.Writer, tty bool) *UI {
	u := &UI{w: w, tty: tty, start: time.Now(), stop: make(chan struct{})}
	if tty {
		go u.tick()
	}
	return u
}

func (u *UI) tick() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case <-t.C:
			u.mu.Lock()
			u.drawStatus()
			u.mu.Unlock()
		}
	}
}

// Close removes the status line and stops updating it.
func (u *UI) Close() {
	u.stopOnce.Do(func() { close(u.stop) })
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.status {
		fmt.Fprint(u.w, clear)
		u.status = false
	}
}

// Header announces a run.
func (u *UI) Header(id, stateFile string) {
	u.line(u.paint(bold, "oneshot run "+id) + u.paint(dim, "  (state: "+stateFile+")"))
}

// Note prints a message from Oneshot itself.
func (u *UI) Note(msg string) { u.line(u.paint(yellow, msg)) }

// Event renders one activity event.
func (u *UI) Event(e activity.Event, maxIterations int) {
	u.mu.Lock()
	if e.Iteration > 0 {
		u.iter = e.Iteration
	}
	u.maxIter = maxIterations
	if e.Type == activity.State && e.Role == activity.RoleLoop {
		u.phase = strings.SplitN(e.Text, ":", 2)[0]
	}
	u.mu.Unlock()

	text := firstLine(e.Text)
	who := fmt.Sprintf("%-7s", e.Role)
	if e.Iteration > 0 {
		who = fmt.Sprintf("%-7s %d", e.Role, e.Iteration)
	}
	prefix := e.TS.Local().Format("15:04:05") + " " + who + "  "
	var body string
	switch e.Type {
	case activity.State:
		if e.Role == activity.RoleAuditor {
			body = u.paint(bold+cyan, "⚖ "+text)
		} else {
			body = u.paint(bold, "── "+text)
		}
	case activity.ToolUse:
		body = u.paint(cyan, "⚙ "+text)
	case activity.ToolResult:
		body = u.paint(dim, "↳ "+text)
	case activity.Thought:
		body = u.paint(dim, "… "+text)
	case activity.Result:
		body = u.paint(green, "✓ "+text)
	case activity.Usage:
		body = u.paint(dim, "usage: "+text)
	case activity.Stderr:
		body = u.paint(dim, "stderr: "+text)
	case activity.Error:
		body = u.paint(red, "✗ "+text)
	case activity.Preamble:
		body = u.paint(dim, text)
	default:
		body = text
	}
	if strings.TrimSpace(text) == "" && e.Type == activity.Message {
		return
	}
	u.line(u.paint(dim, prefix) + body)
}

func (u *UI) line(s string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.status {
		fmt.Fprint(u.w, clear)
		u.status = false
	}
	fmt.Fprintln(u.w, s)
	u.drawStatus()
}

// drawStatus draws the status line; u.mu must be held.
func (u *UI) drawStatus() {
	if !u.tty || u.phase == "" {
		return
	}
	elapsed := time.Since(u.start).Round(time.Second)
	fmt.Fprintf(u.w, "%s%s%s · iteration %d/%d · %s%s", clear, bold, u.phase, u.iter, u.maxIter, elapsed, reset)
	u.status = true
}

func (u *UI) paint(color, s string) string {
	if !u.tty {
		return s
	}
	return color + s + reset
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	extra := ""
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s, extra = s[:i], " …"
	}
	if len(s) > maxLine {
		cut := maxLine
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s, extra = s[:cut], " …"
	}
	return s + extra
}
