package executor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the child program of these tests: with
// ONESHOT_TEST_PROCESS set it behaves as that mode says and exits before any test
// machinery (or another file's TestMain) runs.
const helperEnv = "ONESHOT_TEST_PROCESS"

func init() {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(processHelper(mode, os.Args[1:]))
	}
}

func processHelper(mode string, args []string) int {
	out := bufio.NewWriterSize(os.Stdout, 256<<10)
	defer out.Flush()
	arg := func(i int, def int) int {
		if i < len(args) {
			if n, err := strconv.Atoi(args[i]); err == nil {
				return n
			}
		}
		return def
	}
	sleepForever := func() {
		out.Flush()
		for {
			time.Sleep(time.Hour)
		}
	}
	startGrandchild := func() int {
		exe, _ := os.Executable()
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), helperEnv+"=sleep")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr // it holds the pipes, like a real agent's child
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "grandchild:", err)
			os.Exit(99)
		}
		return cmd.Process.Pid
	}
	switch mode {
	case "exit":
		fmt.Fprintln(out, "out 1")
		out.Flush()
		fmt.Fprintln(os.Stderr, "err 1")
		return arg(0, 0)
	case "cat":
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return 2
		}
		fmt.Fprintf(out, "got %d bytes\n", len(b))
		out.Write(b)
		return 0
	case "sleep":
		sleepForever()
	case "silent-grandchild":
		fmt.Fprintf(out, "grandchild %d\n", startGrandchild())
		sleepForever()
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Fprintf(out, "grandchild %d\n", startGrandchild())
		sleepForever()
	case "orphan":
		fmt.Fprintf(out, "grandchild %d\n", startGrandchild())
		return 0
	case "trickle":
		for range arg(0, 10) {
			out.WriteString(".")
			out.Flush()
			time.Sleep(time.Duration(arg(1, 100)) * time.Millisecond)
		}
		out.WriteString("\n")
		return 0
	case "chatty":
		for i := 0; ; i++ {
			fmt.Fprintf(out, "tick %d\n", i)
			out.Flush()
			time.Sleep(50 * time.Millisecond)
		}
	case "long-line":
		out.Write(bytes.Repeat([]byte("x"), arg(0, 0)))
		out.WriteString("\ntail\n")
		return 0
	case "flood":
		line := append(bytes.Repeat([]byte("y"), 99), '\n')
		for n := arg(0, 0); n > 0; n -= len(line) {
			out.Write(line)
		}
		return 0
	case "interleave":
		for i := range arg(0, 100) {
			fmt.Fprintf(out, "out %d\n", i)
			out.Flush()
			fmt.Fprintf(os.Stderr, "err %d\n", i)
		}
		return 0
	case "env":
		wd, _ := os.Getwd()
		fmt.Fprintf(out, "cwd=%s\n", wd)
		for _, k := range args {
			fmt.Fprintf(out, "%s=%s\n", k, os.Getenv(k))
		}
		return 0
	case "self-kill":
		out.Flush()
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		sleepForever()
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 98
}

// helper returns a process running this test binary in the given mode.
func helper(t testing.TB, mode string, args ...string) process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return process{
		Argv:  append([]string{exe}, args...),
		Env:   append(os.Environ(), helperEnv+"="+mode, quickRaceExit()),
		Grace: time.Second,
		Max:   time.Minute, // a safety net: no test should get near it
	}
}

// quickRaceExit stops a race-enabled child from sleeping a second before it exits
// (the race runtime's default), which would look like a silent agent.
func quickRaceExit() string {
	return "GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")
}

// output collects what a process printed. The runner serialises callbacks, so it
// takes no lock: the race detector checks that promise.
type output struct {
	stdout, stderr []string
	inFlight       atomic.Int32
	overlap        atomic.Bool
}

func (o *output) attach(p *process) {
	p.Stdout = func(b []byte) { o.enter(); o.stdout = append(o.stdout, string(b)); o.leave() }
	p.Stderr = func(b []byte) { o.enter(); o.stderr = append(o.stderr, string(b)); o.leave() }
}

func (o *output) enter() {
	if o.inFlight.Add(1) > 1 {
		o.overlap.Store(true)
	}
}

func (o *output) leave() { o.inFlight.Add(-1) }

// grandchildPID finds the "grandchild PID" line a helper printed.
func (o *output) grandchildPID(t *testing.T) int {
	t.Helper()
	for _, l := range o.stdout {
		if s, ok := strings.CutPrefix(l, "grandchild "); ok {
			pid, err := strconv.Atoi(s)
			if err == nil {
				return pid
			}
		}
	}
	t.Fatalf("helper printed no grandchild pid; stdout %q stderr %q", o.stdout, o.stderr)
	return 0
}

// processGone reports whether pid no longer runs. A killed orphan can linger as a
// zombie until its new parent reaps it; a zombie runs nothing, so it counts as gone.
func processGone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	i := bytes.LastIndexByte(b, ')')
	fields := strings.Fields(string(b[i+1:]))
	return len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
}

func assertGone(t *testing.T, what string, pid int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL) // do not leak it into other tests
			t.Fatalf("%s (pid %d) still runs after the runner returned", what, pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProcessExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		mode       string
		args       []string
		wantCode   int
		wantStdout []string
	}{
		{"zero", "exit", []string{"0"}, 0, []string{"out 1"}},
		{"non-zero is not an error", "exit", []string{"3"}, 3, []string{"out 1"}},
		{"killed by a signal reports 128+signal", "self-kill", nil, 128 + int(syscall.SIGKILL), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := helper(t, tt.mode, tt.args...)
			var o output
			o.attach(&p)
			var started atomic.Int64
			p.OnStart = func(pid int) { started.Store(int64(pid)) }
			code, err := p.run(context.Background())
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.wantCode, o.stderr)
			}
			if strings.Join(o.stdout, "\n") != strings.Join(tt.wantStdout, "\n") {
				t.Errorf("stdout %q, want %q", o.stdout, tt.wantStdout)
			}
			if started.Load() <= 1 {
				t.Errorf("OnStart got pid %d", started.Load())
			}
		})
	}
}

func TestProcessStdinIsClosedAfterThePrompt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, stdin, want string
	}{
		{"prompt", "line one\nline two", "got 17 bytes\nline one\nline two"},
		{"empty", "", "got 0 bytes"},
		{"larger than a pipe buffer", strings.Repeat("p", 300<<10), fmt.Sprintf("got %d bytes\n%s", 300<<10, strings.Repeat("p", 300<<10))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := helper(t, "cat")
			p.Stdin = tt.stdin
			p.Max = 20 * time.Second // a program waiting for more stdin would hit this
			var o output
			o.attach(&p)
			code, err := p.run(context.Background())
			if err != nil || code != 0 {
				t.Fatalf("run: code %d err %v", code, err)
			}
			if got := strings.Join(o.stdout, "\n"); got != tt.want {
				t.Errorf("the program read %.60q…, want %.60q…", got, tt.want)
			}
		})
	}
}

// runGroup runs p, a helper that starts a grandchild, and checks that the run leaves
// neither behind. It returns what run returned and how long it took.
func runGroup(t *testing.T, ctx context.Context, p process) (code int, took time.Duration, err error) {
	t.Helper()
	var o output
	o.attach(&p)
	var leader atomic.Int64
	onStart := p.OnStart
	p.OnStart = func(pid int) {
		leader.Store(int64(pid))
		if onStart != nil {
			onStart(pid)
		}
	}
	start := time.Now()
	code, err = p.run(ctx)
	took = time.Since(start)
	assertGone(t, "agent", int(leader.Load()))
	assertGone(t, "grandchild", o.grandchildPID(t))
	return code, took, err
}

func TestProcessInactivityStopsTheWholeGroup(t *testing.T) {
	t.Parallel()
	p := helper(t, "silent-grandchild")
	p.Inactivity = 300 * time.Millisecond
	code, elapsed, err := runGroup(t, context.Background(), p)
	if !errors.Is(err, ErrInactivity) {
		t.Fatalf("err = %v, want ErrInactivity", err)
	}
	if code != -1 {
		t.Errorf("code = %d, want -1 for a stopped agent", code)
	}
	if !strings.Contains(err.Error(), "--inactivity-timeout") {
		t.Errorf("the error does not say what to do: %v", err)
	}
	if elapsed > p.Inactivity+p.Grace+time.Second {
		t.Errorf("took %s to stop a silent agent", elapsed)
	}
}

func TestProcessParentIgnoringSIGTERMIsKilledAfterGrace(t *testing.T) {
	t.Parallel()
	p := helper(t, "ignore-term")
	p.Inactivity = 200 * time.Millisecond
	p.Grace = 700 * time.Millisecond
	_, elapsed, err := runGroup(t, context.Background(), p)
	if !errors.Is(err, ErrInactivity) {
		t.Fatalf("err = %v, want ErrInactivity", err)
	}
	if elapsed < p.Inactivity+p.Grace {
		t.Errorf("returned after %s: SIGKILL came before the grace period ended", elapsed)
	}
	if elapsed > p.Inactivity+p.Grace+time.Second {
		t.Errorf("returned after %s: SIGKILL came too late", elapsed)
	}
}

func TestProcessMaxTimeout(t *testing.T) {
	t.Parallel()
	p := helper(t, "chatty")
	p.Inactivity = 5 * time.Second
	p.Max = 400 * time.Millisecond
	var o output
	o.attach(&p)
	start := time.Now()
	_, err := p.run(context.Background())
	if !errors.Is(err, ErrMaxTimeout) {
		t.Fatalf("err = %v, want ErrMaxTimeout", err)
	}
	if elapsed := time.Since(start); elapsed > p.Max+p.Grace+time.Second {
		t.Errorf("took %s", elapsed)
	}
	if len(o.stdout) == 0 {
		t.Error("no output was delivered before the stop")
	}
}

func TestProcessContextCancelStopsTheGroup(t *testing.T) {
	t.Parallel()
	p := helper(t, "ignore-term")
	p.Grace = 500 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelled atomic.Int64
	p.OnStart = func(int) {
		time.AfterFunc(300*time.Millisecond, func() {
			cancelled.Store(time.Now().UnixNano())
			cancel()
		})
	}
	_, _, err := runGroup(t, ctx, p)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if took := time.Since(time.Unix(0, cancelled.Load())); took > p.Grace+time.Second {
		t.Errorf("stopping after cancel took %s, want under %s", took, p.Grace+time.Second)
	}
}

func TestProcessCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := helper(t, "exit", "0")
	started := false
	p.OnStart = func(int) { started = true }
	if _, err := p.run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if started {
		t.Error("the agent was started although the context was already cancelled")
	}
}

func TestProcessPartialOutputResetsInactivity(t *testing.T) {
	t.Parallel()
	// 10 dots 300ms apart and no newline until the end: 3s of output that no line
	// completes. A per-line timer of 1.5s would fire; a per-byte one must not.
	p := helper(t, "trickle", "10", "300")
	p.Inactivity = 1500 * time.Millisecond
	var o output
	o.attach(&p)
	code, err := p.run(context.Background())
	if err != nil || code != 0 {
		t.Fatalf("code %d err %v: the inactivity timer ignored bytes without a newline", code, err)
	}
	if want := []string{strings.Repeat(".", 10)}; strings.Join(o.stdout, "|") != strings.Join(want, "|") {
		t.Errorf("stdout %q, want %q", o.stdout, want)
	}
}

func TestProcessVeryLongLineArrivesInPieces(t *testing.T) {
	t.Parallel()
	size := 2*maxLine + maxLine/2
	p := helper(t, "long-line", strconv.Itoa(size))
	var sizes []int
	p.Stdout = func(b []byte) {
		if bytes.Equal(b, []byte("tail")) {
			sizes = append(sizes, -1)
			return
		}
		if len(bytes.Trim(b, "x")) != 0 {
			t.Errorf("a piece holds something other than the line: %.40q", b)
		}
		sizes = append(sizes, len(b))
	}
	if code, err := p.run(context.Background()); err != nil || code != 0 {
		t.Fatalf("code %d err %v", code, err)
	}
	want := []int{maxLine, maxLine, maxLine / 2, -1}
	if fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Errorf("pieces %v, want %v (-1 = the next line)", sizes, want)
	}
}

func TestProcessMissingProgram(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	tests := []struct {
		name string
		argv []string
		want []string
	}{
		{"unknown program", []string{"oneshot-no-such-agent"}, []string{`"oneshot-no-such-agent" is not on PATH`, "--worker-command"}},
		{"known agent says how to install it", []string{"claude", "-p"}, []string{`"claude" is not on PATH`, "npm install -g @anthropic-ai/claude-code"}},
		{"path that does not exist", []string{filepath.Join(empty, "agent")}, []string{"cannot be run"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := process{Argv: tt.argv, Env: []string{"PATH=" + empty}}
			code, err := p.run(context.Background())
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			if code != -1 {
				t.Errorf("code %d", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestProcessMissingWorkdir(t *testing.T) {
	t.Parallel()
	p := helper(t, "exit", "0")
	p.Dir = filepath.Join(t.TempDir(), "gone")
	_, err := p.run(context.Background())
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "--workdir") {
		t.Fatalf("err = %v, want an error about the working directory", err)
	}
}

func TestProcessEnvironmentAndDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := helper(t, "env", "ONESHOT_TEST_VALUE")
	p.Env = append(p.Env, "ONESHOT_TEST_VALUE=first", "ONESHOT_TEST_VALUE=last wins")
	p.Dir = dir
	var o output
	o.attach(&p)
	if code, err := p.run(context.Background()); err != nil || code != 0 {
		t.Fatalf("code %d err %v", code, err)
	}
	real, _ := filepath.EvalSymlinks(dir)
	want := []string{"cwd=" + real, "ONESHOT_TEST_VALUE=last wins"}
	if strings.Join(o.stdout, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", o.stdout, want)
	}
}

func TestProcessGrandchildHoldingThePipesAfterExit(t *testing.T) {
	t.Parallel()
	p := helper(t, "orphan")
	p.Drain = 300 * time.Millisecond
	var o output
	o.attach(&p)
	start := time.Now()
	code, err := p.run(context.Background())
	if err != nil || code != 0 {
		t.Fatalf("code %d err %v", code, err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("waited %s on pipes a grandchild kept open", elapsed)
	}
	assertGone(t, "grandchild left behind", o.grandchildPID(t))
}

func TestProcessCallbacksAreSerialisedAndOrdered(t *testing.T) {
	t.Parallel()
	const n = 2000
	p := helper(t, "interleave", strconv.Itoa(n))
	var o output
	o.attach(&p)
	if code, err := p.run(context.Background()); err != nil || code != 0 {
		t.Fatalf("code %d err %v", code, err)
	}
	if o.overlap.Load() {
		t.Error("two callbacks ran at the same time")
	}
	if len(o.stdout) != n || len(o.stderr) != n {
		t.Fatalf("got %d stdout and %d stderr lines, want %d each", len(o.stdout), len(o.stderr), n)
	}
	for i, l := range o.stdout {
		if l != fmt.Sprintf("out %d", i) {
			t.Fatalf("stdout line %d is %q: out of order", i, l)
		}
	}
}

// TestProcessMemoryDoesNotGrowWithOutput streams 100 MB through the runner and checks
// that what it allocates does not depend on the amount of output.
func TestProcessMemoryDoesNotGrowWithOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 100 MB")
	}
	const size = 100 << 20
	p := helper(t, "flood", strconv.Itoa(size))
	var lines, bytesSeen int
	p.Stdout = func(b []byte) { lines++; bytesSeen += len(b) + 1 }
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	code, err := p.run(context.Background())
	runtime.ReadMemStats(&after)
	if err != nil || code != 0 {
		t.Fatalf("code %d err %v", code, err)
	}
	if bytesSeen < size {
		t.Fatalf("saw %d bytes, want %d", bytesSeen, size)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d lines, %d MB: runner allocated %d KiB", lines, bytesSeen>>20, allocated>>10)
	if allocated > 8<<20 {
		t.Errorf("the runner allocated %d MiB for 100 MB of output: allocation grows with output", allocated>>20)
	}
}

func TestLineSplitter(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   []string
	}{
		{"lines in one chunk", []string{"a\nbb\n\nccc\n"}, []string{"a", "bb", "", "ccc"}},
		{"line across chunks", []string{"ab", "cd\ne", "f"}, []string{"abcd", "ef"}},
		{"long line in pieces", []string{"abcdefghij\nk"}, []string{"abcd", "efgh", "ij", "k"}},
		{"long line across chunks", []string{"ab", "cdef", "gh\n"}, []string{"abcd", "efgh"}},
		{"exact size", []string{"abcd\n"}, []string{"abcd"}},
		{"no final newline", []string{"x"}, []string{"x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			s := lineSplitter{max: 4, deliver: func(b []byte) { got = append(got, string(b)) }}
			for _, c := range tt.chunks {
				s.write([]byte(c))
			}
			s.flush()
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// BenchmarkProcessThroughput measures the runner alone: a child floods stdout with
// 100-byte lines, the callback only counts them.
func BenchmarkProcessThroughput(b *testing.B) {
	const size = 32 << 20
	p := helper(b, "flood", strconv.Itoa(size))
	var lines int
	p.Stdout = func([]byte) { lines++ }
	b.SetBytes(size)
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for b.Loop() {
		if code, err := p.run(context.Background()); err != nil || code != 0 {
			b.Fatalf("code %d err %v", code, err)
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(lines)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(lines), "allocs/event")
}

func TestAgentEnvHidesOneshotSecrets(t *testing.T) {
	t.Setenv("ONESHOT_DATABASE_URL", "postgres://u:secret@db/x")
	t.Setenv("ONESHOT_BOOTSTRAP_TOKEN", "os_secret")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x")
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant")
	env := strings.Join(agentEnv([]string{"EXTRA=1"}), "\n")
	for _, hidden := range []string{"ONESHOT_DATABASE_URL", "ONESHOT_BOOTSTRAP_TOKEN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		if strings.Contains(env, hidden) {
			t.Errorf("agent environment exposes %s", hidden)
		}
	}
	for _, kept := range []string{"ANTHROPIC_API_KEY=sk-ant", "EXTRA=1", "PATH="} {
		if !strings.Contains(env, kept) {
			t.Errorf("agent environment lacks %s", kept)
		}
	}
}
