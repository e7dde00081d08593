package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Limits of the process runner.
const (
	// maxLine is the longest piece of output handed to a callback at once. A longer
	// line arrives in maxLine pieces, so one endless line cannot exhaust memory.
	maxLine = 1 << 20
	// readChunk is how much is read from a pipe per system call.
	readChunk = 64 << 10

	defaultGrace = 5 * time.Second
	defaultDrain = 500 * time.Millisecond
	// reapWait bounds how long the runner waits for a SIGKILLed leader to be reaped
	// (a process in uninterruptible sleep cannot die at once).
	reapWait = 10 * time.Second
)

// process runs one agent CLI to completion. Every CLI executor uses it, so every agent
// gets the same treatment: its own process group, stdin closed after the prompt, both
// pipes read concurrently, an inactivity timer reset by every byte, a hard maximum,
// and a stop that leaves no process of the group behind.
type process struct {
	Argv []string
	Dir  string
	// Env is the complete environment of the agent (see agentEnv); nil inherits ours.
	// The program named by Argv[0] is looked up in this environment's PATH.
	Env []string
	// Stdin is written to the agent, then stdin is closed so that an agent reading
	// its prompt to EOF never waits for more. Empty means an empty, closed stdin.
	Stdin string
	// Inactivity stops the agent when neither stdout nor stderr produced a byte for
	// this long. Zero disables it.
	Inactivity time.Duration
	// Max stops the agent when it ran this long. Zero disables it.
	Max time.Duration
	// Grace is the time between SIGTERM and SIGKILL to the group (default 5s).
	Grace time.Duration
	// Drain is how long the pipes may stay open after the agent itself exited
	// (a grandchild can hold them) before the group is killed (default 500ms).
	Drain time.Duration
	// OnStart is called with the agent's pid, which is also its process group id.
	OnStart func(pid int)
	// Stdout and Stderr are called once per line, without the newline. A line longer
	// than 1 MiB is delivered in 1 MiB pieces. Calls are serialised (never two at
	// once, stdout lines in order). The slice is only valid during the call: copy it
	// to keep it.
	Stdout func(line []byte)
	Stderr func(line []byte)
}

// run starts the program, feeds stdin, reads both pipes and waits for the end.
//
// Any exit of the program, zero or not, returns its status and a nil error: the
// executor decides what a status means. A program killed by a signal reports
// 128+signal. The error is non-nil (and the status -1) only when the program cannot
// be started (ErrNotFound when it is not installed), when it is stopped for
// inactivity (ErrInactivity) or for running too long (ErrMaxTimeout), or when ctx is
// done (wrapping ctx.Err()). Whenever it stops the program, run signals the whole
// process group, SIGTERM then SIGKILL after Grace, and it does not return while a
// process of the group is known to remain.
func (p process) run(ctx context.Context) (exitCode int, err error) {
	if len(p.Argv) == 0 || p.Argv[0] == "" {
		return -1, errors.New("no agent program given: the command is empty")
	}
	name := filepath.Base(p.Argv[0])
	if err := ctx.Err(); err != nil {
		return -1, fmt.Errorf("%s was not started: %w", name, err)
	}
	path, err := lookPath(p.Argv[0], p.Env)
	if err != nil {
		return -1, err
	}
	if err := checkDir(p.Dir); err != nil {
		return -1, fmt.Errorf("cannot start %s: %w; check --workdir", name, err)
	}

	cmd := exec.Command(path, p.Argv[1:]...)
	cmd.Args[0] = p.Argv[0] // the agent sees the name it was called by
	cmd.Dir = p.Dir
	cmd.Env = p.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	pipes, err := newPipes(p.Stdin != "")
	if err != nil {
		return -1, fmt.Errorf("starting %s: %w", name, err)
	}
	defer pipes.closeAll()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pipes.childStdin, pipes.childStdout, pipes.childStderr

	if err := cmd.Start(); err != nil {
		return -1, startError(name, err)
	}
	pipes.closeChildEnds()
	pgid := cmd.Process.Pid

	var clock activityClock
	clock.touch()
	var emitMu sync.Mutex
	var readers sync.WaitGroup
	readers.Add(2)
	go p.read(pipes.stdout, p.Stdout, &emitMu, &clock, &readers)
	go p.read(pipes.stderr, p.Stderr, &emitMu, &clock, &readers)
	stdinDone := pipes.feedStdin(p.Stdin)

	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the status is read from cmd.ProcessState
		close(exited)
	}()

	if p.OnStart != nil {
		p.OnStart(pgid)
	}

	stopErr := p.watch(ctx, name, exited, &clock)
	if stopErr != nil {
		p.stopGroup(pgid, exited)
	}
	p.drain(pgid, pipes, &readers)
	// Whatever is left of the group once the agent is gone is a leftover of this run.
	killGroup(pgid, syscall.SIGKILL)
	pipes.stopStdin(stdinDone)

	if stopErr != nil {
		return -1, stopErr
	}
	return exitStatus(cmd.ProcessState), nil
}

// watch waits for the program to exit, for ctx, the inactivity timer or the maximum
// run time, and returns the reason to stop it, or nil when it exited by itself.
func (p process) watch(ctx context.Context, name string, exited <-chan struct{}, clock *activityClock) error {
	var maxC <-chan time.Time
	if p.Max > 0 {
		t := time.NewTimer(p.Max)
		defer t.Stop()
		maxC = t.C
	}
	var idleC <-chan time.Time
	var idle *time.Timer
	if p.Inactivity > 0 {
		idle = time.NewTimer(p.Inactivity)
		defer idle.Stop()
		idleC = idle.C
	}
	for {
		select {
		case <-exited:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("%s was stopped: %w", name, ctx.Err())
		case <-maxC:
			return fmt.Errorf("%w: %s ran for %s and was stopped; raise --max-timeout if the task needs longer, or split it",
				ErrMaxTimeout, name, p.Max)
		case <-idleC:
			// The timer is not reset per read (that would cost a channel operation per
			// chunk); it checks the last activity when it fires and sleeps the rest.
			silent := clock.since()
			if silent < p.Inactivity {
				idle.Reset(p.Inactivity - silent)
				continue
			}
			return fmt.Errorf("%w: %s printed nothing for %s and was stopped; raise --inactivity-timeout if it needs longer between outputs",
				ErrInactivity, name, p.Inactivity)
		}
	}
}

// stopGroup sends SIGTERM to the group, waits until the leader exited and the group
// is empty or Grace passed, then sends SIGKILL, and waits for the leader.
func (p process) stopGroup(pgid int, exited <-chan struct{}) {
	grace := p.Grace
	if grace <= 0 {
		grace = defaultGrace
	}
	killGroup(pgid, syscall.SIGTERM)
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
wait:
	for {
		select {
		case <-deadline.C:
			break wait
		case <-poll.C:
			if isClosed(exited) && groupGone(pgid) {
				return
			}
		}
	}
	killGroup(pgid, syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(reapWait):
	}
}

// drain waits for both readers to reach EOF. After Drain it kills the group (a
// grandchild holding the pipes dies with it), and if the pipes still do not close (a
// process outside the group holds them) it stops reading.
func (p process) drain(pgid int, pipes *pipeSet, readers *sync.WaitGroup) {
	done := make(chan struct{})
	go func() {
		readers.Wait()
		close(done)
	}()
	d := p.Drain
	if d <= 0 {
		d = defaultDrain
	}
	select {
	case <-done:
		return
	case <-time.After(d):
	}
	killGroup(pgid, syscall.SIGKILL)
	select {
	case <-done:
		return
	case <-time.After(time.Second):
	}
	pipes.abandonReads()
	<-done
}

// read delivers the lines of one pipe until EOF or until the read is abandoned.
func (p process) read(r *os.File, deliver func([]byte), mu *sync.Mutex, clock *activityClock, wg *sync.WaitGroup) {
	defer wg.Done()
	split := lineSplitter{max: maxLine, deliver: func(line []byte) {
		if deliver == nil {
			return
		}
		mu.Lock()
		deliver(line)
		mu.Unlock()
	}}
	buf := make([]byte, readChunk)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			clock.touch()
			split.write(buf[:n])
			// A slow consumer keeps the agent from writing: that is not its silence.
			clock.touch()
		}
		if err != nil {
			split.flush()
			return
		}
	}
}

// lineSplitter cuts a byte stream into lines of at most max bytes. Complete lines
// inside one chunk are delivered without copying; only a line spanning chunks is
// assembled in buf, which never grows beyond max.
type lineSplitter struct {
	max     int
	buf     []byte
	deliver func([]byte)
}

func (s *lineSplitter) write(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.appendPart(p)
			return
		}
		if len(s.buf) == 0 && i <= s.max {
			s.deliver(p[:i])
		} else {
			s.appendPart(p[:i])
			s.flush()
		}
		p = p[i+1:]
	}
}

// appendPart adds part of a line to buf, handing out full max-sized pieces.
func (s *lineSplitter) appendPart(p []byte) {
	for len(p) > 0 {
		room := s.max - len(s.buf)
		if room == 0 {
			s.flush()
			room = s.max
		}
		if len(s.buf) == 0 && len(p) >= s.max {
			s.deliver(p[:s.max])
			p = p[s.max:]
			continue
		}
		n := min(room, len(p))
		s.buf = append(s.buf, p[:n]...)
		p = p[n:]
	}
}

// flush delivers what is buffered, if anything.
func (s *lineSplitter) flush() {
	if len(s.buf) == 0 {
		return
	}
	s.deliver(s.buf)
	s.buf = s.buf[:0]
}

// activityClock records when the agent last produced output, readable from the
// watchdog without locks.
type activityClock struct {
	last atomic.Int64 // nanoseconds on the monotonic clock since base
	base time.Time
	once sync.Once
}

func (c *activityClock) now() int64 {
	c.once.Do(func() { c.base = time.Now() })
	return int64(time.Since(c.base))
}

func (c *activityClock) touch() { c.last.Store(c.now()) }

func (c *activityClock) since() time.Duration { return time.Duration(c.now() - c.last.Load()) }

// pipeSet holds both ends of the three pipes between the runner and the agent.
type pipeSet struct {
	stdout, stderr                       *os.File // our read ends
	stdin                                *os.File // our write end, nil when stdin is empty
	childStdin, childStdout, childStderr *os.File
	closeOnce, childOnce                 sync.Once
	stdinMu                              sync.Mutex
}

func newPipes(withStdin bool) (*pipeSet, error) {
	ps := &pipeSet{}
	var err error
	if ps.stdout, ps.childStdout, err = os.Pipe(); err != nil {
		return nil, err
	}
	if ps.stderr, ps.childStderr, err = os.Pipe(); err != nil {
		ps.closeAll()
		return nil, err
	}
	if withStdin {
		if ps.childStdin, ps.stdin, err = os.Pipe(); err != nil {
			ps.closeAll()
			return nil, err
		}
	}
	return ps, nil
}

// closeChildEnds closes the ends the child inherited, so that EOF on our read ends
// means every process holding them is gone.
func (ps *pipeSet) closeChildEnds() {
	ps.childOnce.Do(func() {
		for _, f := range []*os.File{ps.childStdin, ps.childStdout, ps.childStderr} {
			if f != nil {
				f.Close()
			}
		}
	})
}

// feedStdin writes the prompt and closes stdin; the channel closes when done.
func (ps *pipeSet) feedStdin(prompt string) <-chan struct{} {
	done := make(chan struct{})
	if ps.stdin == nil {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		// An agent that exits without reading makes this fail with EPIPE: that is fine.
		_, _ = io.WriteString(ps.stdin, prompt)
		ps.stdinMu.Lock()
		ps.stdin.Close()
		ps.stdinMu.Unlock()
	}()
	return done
}

// stopStdin unblocks a prompt write the agent never read and waits for it.
func (ps *pipeSet) stopStdin(done <-chan struct{}) {
	if ps.stdin != nil {
		ps.stdinMu.Lock()
		_ = ps.stdin.SetWriteDeadline(time.Now())
		ps.stdinMu.Unlock()
	}
	<-done
}

// abandonReads makes blocked reads return at once.
func (ps *pipeSet) abandonReads() {
	now := time.Now()
	_ = ps.stdout.SetReadDeadline(now)
	_ = ps.stderr.SetReadDeadline(now)
}

func (ps *pipeSet) closeAll() {
	ps.closeChildEnds()
	ps.closeOnce.Do(func() {
		for _, f := range []*os.File{ps.stdout, ps.stderr, ps.stdin} {
			if f != nil {
				f.Close()
			}
		}
	})
}

// killGroup signals every process of the group. It never signals group 0 or 1.
func killGroup(pgid int, sig syscall.Signal) {
	if pgid > 1 {
		_ = syscall.Kill(-pgid, sig)
	}
}

// groupGone reports whether no live process of the group remains. A killed
// grandchild is reparented and stays a zombie until its new parent reaps it (never,
// under an init that does not reap); it runs nothing, so where /proc tells us, zombies
// do not count.
func groupGone(pgid int) bool {
	if errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) {
		return true
	}
	alive, known := liveInGroup(pgid)
	return known && !alive
}

// liveInGroup scans /proc for a process of the group that is not a zombie. known is
// false where there is no /proc.
func liveInGroup(pgid int) (alive, known bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false, false
	}
	want := []byte(strconv.Itoa(pgid))
	for _, e := range entries {
		if c := e.Name()[0]; c < '0' || c > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // it just exited
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
		fields := bytes.Fields(b[bytes.LastIndexByte(b, ')')+1:])
		if len(fields) < 3 || !bytes.Equal(fields[2], want) {
			continue
		}
		if state := fields[0][0]; state != 'Z' && state != 'X' {
			return true, true
		}
	}
	return false, true
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// exitStatus is the program's exit status, or 128+signal when a signal ended it.
func exitStatus(state *os.ProcessState) int {
	if state == nil {
		return -1
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return state.ExitCode()
}

// lookPath finds the program in the PATH of the agent's environment (falling back to
// ours), so that a PATH given to the agent also decides which program runs. The
// result is absolute: the agent starts in its own working directory.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		if err := checkExecutable(file); err != nil {
			return "", notFound(file, err)
		}
		return filepath.Abs(file)
	}
	pathList, ok := envValue(env, "PATH")
	if !ok {
		pathList = os.Getenv("PATH")
	}
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" {
			dir = "."
		}
		candidate := filepath.Join(dir, file)
		if checkExecutable(candidate) == nil {
			return filepath.Abs(candidate)
		}
	}
	return "", notFound(file, exec.ErrNotFound)
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fs.ErrPermission
	}
	return nil
}

// envValue returns the last value of key in env, as exec does.
func envValue(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v, true
		}
	}
	return "", false
}

func notFound(file string, cause error) error {
	name := filepath.Base(file)
	how := installHint(name)
	if strings.Contains(file, "/") {
		return fmt.Errorf("%w: %s cannot be run (%v): check the path, or %s", ErrNotFound, file, cause, how)
	}
	return fmt.Errorf("%w: %q is not on PATH: %s, or add its directory to PATH", ErrNotFound, name, how)
}

// installHint says how to get a known agent CLI.
func installHint(name string) string {
	switch name {
	case "claude":
		return "install Claude Code with `npm install -g @anthropic-ai/claude-code`"
	case "codex":
		return "install Codex CLI with `npm install -g @openai/codex`"
	case "gemini":
		return "install Gemini CLI with `npm install -g @google/gemini-cli`"
	case "aider":
		return "install aider with `python -m pip install aider-install && aider-install` (or `pipx install aider-chat`)"
	case "cline":
		return "install Cline CLI with `npm install -g cline` and run `cline auth` once"
	}
	return "install it, or give its full path (--worker-command / --auditor-command for executor `command`)"
}

// checkDir tells a missing working directory apart from a missing program: once the
// process is being started, both fail with the same ENOENT.
func checkDir(dir string) error {
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("the working directory %s is not usable: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("the working directory %s is not a directory", dir)
	}
	return nil
}

func startError(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return notFound(name, err)
	}
	return fmt.Errorf("cannot start %s: %w", name, err)
}

// agentEnv is the environment of an agent: ours (so agent CLIs find their own API
// key variables) without Oneshot's own settings and secrets, plus the request's
// additions, which win. An agent runs arbitrary commands in its workspace, so it must
// not see the database URL, the bootstrap token, the other role's key or the
// container's credential endpoint.
func agentEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !privateToOneshot(kv) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// privateToOneshot reports whether an environment entry belongs to Oneshot itself.
func privateToOneshot(kv string) bool {
	for _, prefix := range []string{"ONESHOT_", "AWS_CONTAINER_CREDENTIALS_", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "ECS_CONTAINER_METADATA_URI"} {
		if strings.HasPrefix(kv, prefix) {
			return true
		}
	}
	return false
}

// cliProcess is the process for one turn of a CLI agent described by spec and req.
func cliProcess(spec Spec, req Request, argv []string) process {
	return process{
		Argv:       argv,
		Dir:        req.Workdir,
		Env:        agentEnv(req.Env),
		Inactivity: spec.InactivityTimeout,
		Max:        spec.MaxTimeout,
		OnStart:    req.OnStart,
	}
}
