// Package fakeagent is a stand-in for the agent CLIs Oneshot drives (Claude Code, Codex,
// Gemini CLI, aider, Cline, or any command), for end-to-end tests of the real binaries.
//
// One program plays every agent: tests build cmd/fakeagent once, link it under the
// names claude, codex, gemini, aider, cline and fakecmd in a directory placed first on
// PATH, and Main picks the persona from the name it was called by (FAKEAGENT_PERSONA
// overrides the name). Any other name plays a plain command: prompt on stdin, answer
// on stdout.
//
// # Scripts
//
// FAKEAGENT_SCRIPT names a JSON file {"steps": [Step, …]}. Every invocation of any
// persona takes the next step (the position is kept in FAKEAGENT_SCRIPT.n under an
// exclusive flock, so parallel invocations are safe); past the end the last step
// repeats. Without a script the answer is "fake answer", or, when the prompt contains
// the word "verdict", {"verdict":"DONE","feedback":"looks complete"}.
//
// # Recording
//
// When FAKEAGENT_LOG is a directory, each invocation writes NNN-<persona>.json there
// (001, 002, … in invocation order): its args, prompt, working directory, script step
// and the names (never the values) of the API key and trust variables that were set.
// The grandchild-hang behaviour writes grandchild.pid there too.
//
// # Writing a persona
//
// A persona is a func(e *Env, step Step) int returning the exit status. It first does
// what the real CLI does with its arguments, failing the same way when the real one
// fails (unknown flags, refusals, missing trust). Its prompt is in e.Prompt (stdin);
// a CLI that takes the prompt elsewhere calls e.usePrompt. Then it returns
// e.play(step, f), where f is the persona's format:
//
//	type format interface {
//		start(e *Env)               // start-up output: init events, banners
//		tool(e *Env)                // one tool call (ls) and its result
//		flood(e *Env, n int) int    // valid filler events, about n bytes (at least one); returns bytes printed
//		answer(e *Env, text string) // the final answer, with its usage/result events
//		apiError(e *Env) int        // what the CLI prints when the model API fails; returns its exit status
//	}
//
// play implements the generic behaviours of Step (hangs, the grandchild, crash, exit
// codes, sleep, flood) around those calls, so a persona only knows its format. Env has
// helpers for the rest: e.jsonLine (one compact JSON line on stdout), e.printf and
// e.errorf (stdout, stderr), e.flagValue and e.hasFlag (arguments), e.usePrompt,
// e.answerFor (the step's answer or the default), e.sessionID, e.nextTS (increasing
// millisecond timestamps) and e.hang. Output is buffered and flushed before any wait
// and at exit.
package fakeagent

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Environment variables the fake agent reads.
const (
	ScriptEnv  = "FAKEAGENT_SCRIPT"  // path of the script file
	LogEnv     = "FAKEAGENT_LOG"     // directory for invocation records
	PersonaEnv = "FAKEAGENT_PERSONA" // overrides the persona chosen by program name
	PrettyEnv  = "FAKEAGENT_PRETTY"  // "1": personas printing JSON pretty-print it (Cline)
	roleEnv    = "FAKEAGENT_ROLE"    // "sleeper": the grandchild of grandchild-hang
)

// Step is what one invocation does.
type Step struct {
	// Answer is the final answer text (a worker answer or a verdict JSON); empty
	// means the default answer.
	Answer string `json:"answer"`
	// Behaviour is "" (normal), "hang" (start-up output, then sleep forever),
	// "silent-hang" (print nothing, sleep), "grandchild-hang" (start a child process
	// of itself that sleeps forever, record its pid, then hang), "crash" (start-up
	// output, then exit 1 without an answer), "exit:N" (normal output, exit N),
	// "api-error" (what the real CLI prints when the model API fails, exiting as it
	// does) or "flood:BYTES" (about BYTES of valid events, then the answer).
	Behaviour string `json:"behaviour"`
	// Tool shows one tool call (ls) before the answer.
	Tool bool `json:"tool"`
	// Sleep is an optional duration ("2s") to wait before answering.
	Sleep string `json:"sleep"`
}

// Script is the content of a FAKEAGENT_SCRIPT file.
type Script struct {
	Steps []Step `json:"steps"`
}

// DefaultAnswer and DefaultVerdict answer when there is no script.
const (
	DefaultAnswer  = "fake answer"
	DefaultVerdict = `{"verdict":"DONE","feedback":"looks complete"}`
)

// Env is the world of one invocation: arguments, prompt, output and environment.
type Env struct {
	Args   []string // arguments after the program name
	Name   string   // persona: the program's base name, or $FAKEAGENT_PERSONA
	Prompt string   // the prompt: stdin, unless the persona called usePrompt
	// StdinPiped is true when stdin was a pipe or file (and so was read into Prompt).
	StdinPiped     bool
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Dir            string // working directory
	Executable     string // this program, started again as the grandchild
	// Sleep and Hang wait; tests replace them. Hang never returns in the program.
	Sleep func(time.Duration)
	Hang  func()

	flush      func()
	recordPath string
	stepIndex  int
	seq        int
	ts         int64 // last timestamp handed out by nextTS
}

// Main runs the fake agent named by os.Args[0] and returns its exit status.
func Main() int {
	if os.Getenv(roleEnv) == "sleeper" {
		sleepForever()
	}
	stdout := bufio.NewWriterSize(os.Stdout, 64<<10)
	stderr := bufio.NewWriterSize(os.Stderr, 16<<10)
	e := &Env{
		Args:   os.Args[1:],
		Name:   personaName(os.Args[0], os.Getenv),
		Stdout: stdout,
		Stderr: stderr,
		Getenv: os.Getenv,
		Sleep:  time.Sleep,
		Hang:   sleepForever,
		flush: func() {
			stdout.Flush()
			stderr.Flush()
		},
	}
	e.Dir, _ = os.Getwd()
	e.Executable, _ = os.Executable()
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice == 0 {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintf(os.Stderr, "fakeagent: reading stdin: %v\n", err)
			return 2
		}
		e.Prompt, e.StdinPiped = string(b), true
	}
	code := run(e)
	e.flushOut()
	return code
}

func personaName(argv0 string, getenv func(string) string) string {
	if p := getenv(PersonaEnv); p != "" {
		return p
	}
	return filepath.Base(argv0)
}

// run takes the next script step, records the invocation and plays the persona.
func run(e *Env) int {
	step, index, err := nextStep(e.Getenv(ScriptEnv))
	if err != nil {
		e.errorf("fakeagent: %v\n", err)
		return 2
	}
	e.stepIndex = index
	if err := e.record(); err != nil {
		e.errorf("fakeagent: %v\n", err)
		return 2
	}
	switch e.Name {
	case "claude":
		return claudePersona(e, step)
	case "codex":
		return codexPersona(e, step)
	case "gemini":
		return geminiPersona(e, step)
	case "aider":
		return aiderPersona(e, step)
	case "cline":
		return clinePersona(e, step)
	}
	return commandPersona(e, step)
}

// format is how a persona prints; see the package documentation.
type format interface {
	start(e *Env)
	tool(e *Env)
	flood(e *Env, n int) int
	answer(e *Env, text string)
	apiError(e *Env) int
}

// behaviour is a parsed Step.Behaviour.
type behaviour struct {
	kind string // "", hang, silent-hang, grandchild-hang, crash, exit, api-error, flood
	n    int    // exit status or flood bytes
}

func parseBehaviour(s string) (behaviour, error) {
	switch s {
	case "", "hang", "silent-hang", "grandchild-hang", "crash", "api-error":
		return behaviour{kind: s}, nil
	}
	kind, arg, ok := strings.Cut(s, ":")
	if ok && (kind == "exit" || kind == "flood") {
		n, err := strconv.Atoi(arg)
		if err == nil && n >= 0 && (kind == "flood" || n <= 255) {
			return behaviour{kind: kind, n: n}, nil
		}
	}
	return behaviour{}, fmt.Errorf("unknown behaviour %q: use hang, silent-hang, grandchild-hang, crash, exit:N (0-255), api-error or flood:BYTES", s)
}

// play runs step with the persona's format f and returns the exit status.
func (e *Env) play(step Step, f format) int {
	b, err := parseBehaviour(step.Behaviour)
	if err != nil {
		e.errorf("fakeagent: %v\n", err)
		return 2
	}
	var pause time.Duration
	if step.Sleep != "" {
		if pause, err = time.ParseDuration(step.Sleep); err != nil {
			e.errorf("fakeagent: step sleep %q: %v\n", step.Sleep, err)
			return 2
		}
	}
	switch b.kind {
	case "silent-hang":
		e.hang()
		return 0
	case "grandchild-hang":
		if err := e.startGrandchild(); err != nil {
			e.errorf("fakeagent: %v\n", err)
			return 2
		}
	}
	f.start(e)
	switch b.kind {
	case "hang", "grandchild-hang":
		e.hang()
		return 0
	case "crash":
		e.errorf("fakeagent: simulated crash of %s (panic: runtime error: invalid memory address)\n", e.Name)
		return 1
	}
	if pause > 0 {
		e.flushOut()
		e.Sleep(pause)
	}
	if b.kind == "api-error" {
		return f.apiError(e)
	}
	if step.Tool {
		f.tool(e)
	}
	if b.kind == "flood" {
		for left := b.n; left > 0; {
			n := f.flood(e, left)
			if n <= 0 {
				break
			}
			left -= n
		}
	}
	f.answer(e, e.answerFor(step))
	if b.kind == "exit" {
		return b.n
	}
	return 0
}

// answerFor is the step's answer, or the default for this prompt.
func (e *Env) answerFor(step Step) string {
	if step.Answer != "" {
		return step.Answer
	}
	if strings.Contains(strings.ToLower(e.Prompt), "verdict") {
		return DefaultVerdict
	}
	return DefaultAnswer
}

// unsupported is the placeholder of a persona that is not written yet.
func (e *Env) unsupported(name string) int {
	e.errorf("fakeagent: persona %s not implemented\n", name)
	return 127
}

// usePrompt replaces the prompt (for CLIs that take it from a file or an argument)
// and updates the invocation record.
func (e *Env) usePrompt(p string) {
	e.Prompt = p
	if err := e.record(); err != nil {
		e.errorf("fakeagent: %v\n", err)
	}
}

// hang flushes the output and waits forever.
func (e *Env) hang() {
	e.flushOut()
	e.Hang()
}

func (e *Env) flushOut() {
	if e.flush != nil {
		e.flush()
	}
}

// printf writes to stdout.
func (e *Env) printf(format string, args ...any) { fmt.Fprintf(e.Stdout, format, args...) }

// errorf writes to stderr.
func (e *Env) errorf(format string, args ...any) { fmt.Fprintf(e.Stderr, format, args...) }

// jsonLine writes v as one line of compact JSON to stdout and returns its length.
func (e *Env) jsonLine(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("fakeagent: cannot encode %T: %v", v, err)) // a bug in a persona
	}
	b = append(b, '\n')
	e.Stdout.Write(b)
	return len(b)
}

// hasFlag reports whether any of names is among the arguments (also as name=value).
func (e *Env) hasFlag(names ...string) bool {
	for _, a := range e.Args {
		for _, n := range names {
			if a == n || strings.HasPrefix(a, n+"=") {
				return true
			}
		}
	}
	return false
}

// flagValue returns the value of the first of names found, given as "--flag value"
// or "--flag=value".
func (e *Env) flagValue(names ...string) (string, bool) {
	for i, a := range e.Args {
		for _, n := range names {
			if a == n && i+1 < len(e.Args) {
				return e.Args[i+1], true
			}
			if v, ok := strings.CutPrefix(a, n+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

// sessionID is a UUID-shaped id, distinct per invocation.
func (e *Env) sessionID() string {
	return fmt.Sprintf("fa4e0000-%04x-4000-8000-%012x", e.seq&0xffff, time.Now().UnixNano()&0xffffffffffff)
}

// nextTS hands out increasing millisecond timestamps.
func (e *Env) nextTS() int64 {
	now := time.Now().UnixMilli()
	if now <= e.ts {
		now = e.ts + 1
	}
	e.ts = now
	return now
}

// startGrandchild starts this program again as a sleeper that keeps stdout and stderr
// open, in the same process group, and records its pid.
func (e *Env) startGrandchild() error {
	if e.Executable == "" {
		return errors.New("cannot start the grandchild: unknown executable")
	}
	cmd := exec.Command(e.Executable)
	cmd.Env = append(os.Environ(), roleEnv+"=sleeper")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the grandchild: %w", err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	if dir := e.logDir(); dir != "" {
		return writeFileAtomic(filepath.Join(dir, "grandchild.pid"), []byte(strconv.Itoa(pid)+"\n"))
	}
	e.errorf("fakeagent: grandchild pid %d\n", pid)
	return nil
}

func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}

// nextStep takes the next step of the script at path (none: the zero Step).
func nextStep(path string) (Step, int, error) {
	if path == "" {
		return Step{}, -1, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Step{}, 0, fmt.Errorf("reading the script: %w", err)
	}
	var s Script
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Step{}, 0, fmt.Errorf("script %s: %w (fields: answer, behaviour, tool, sleep)", path, err)
	}
	if len(s.Steps) == 0 {
		return Step{}, 0, fmt.Errorf("script %s has no steps", path)
	}
	n, err := nextCount(path + ".n")
	if err != nil {
		return Step{}, 0, err
	}
	i := min(n, len(s.Steps)-1)
	return s.Steps[i], i, nil
}

// nextCount returns the number stored in the counter file at path (0 when new) and
// stores the next one, under an exclusive lock.
func nextCount(path string) (int, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return 0, fmt.Errorf("counter: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return 0, fmt.Errorf("locking %s: %w", path, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	b, err := io.ReadAll(f)
	if err != nil {
		return 0, fmt.Errorf("counter: %w", err)
	}
	n := 0
	if s := strings.TrimSpace(string(b)); s != "" {
		if n, err = strconv.Atoi(s); err != nil {
			return 0, fmt.Errorf("counter %s holds %q", path, s)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	if err := f.Truncate(0); err != nil {
		return 0, err
	}
	if _, err := f.WriteString(strconv.Itoa(n + 1)); err != nil {
		return 0, err
	}
	return n, nil
}

// Record is what an invocation leaves in FAKEAGENT_LOG.
type Record struct {
	Persona string   `json:"persona"`
	Args    []string `json:"args"`
	Prompt  string   `json:"prompt"`
	Cwd     string   `json:"cwd"`
	// Env names the recorded variables that were set (values are never written).
	Env []string `json:"env"`
	// Step is the index of the script step taken, -1 without a script.
	Step int `json:"step"`
}

// RecordedEnv returns the variables whose presence a record notes.
func RecordedEnv() []string {
	return []string{"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "IS_SANDBOX", "GEMINI_CLI_TRUST_WORKSPACE"}
}

func (e *Env) logDir() string {
	dir := e.Getenv(LogEnv)
	if dir == "" {
		return ""
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return ""
	}
	return dir
}

// record writes (or rewrites) this invocation's record.
func (e *Env) record() error {
	dir := e.logDir()
	if dir == "" {
		return nil
	}
	if e.recordPath == "" {
		n, err := nextCount(filepath.Join(dir, ".seq"))
		if err != nil {
			return err
		}
		e.seq = n + 1
		e.recordPath = filepath.Join(dir, fmt.Sprintf("%03d-%s.json", e.seq, e.Name))
	}
	r := Record{Persona: e.Name, Args: e.Args, Prompt: e.Prompt, Cwd: e.Dir, Env: []string{}, Step: e.stepIndex}
	if r.Args == nil {
		r.Args = []string{}
	}
	for _, k := range RecordedEnv() {
		if e.Getenv(k) != "" {
			r.Env = append(r.Env, k)
		}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(e.recordPath, append(b, '\n'))
}

// ReadRecords returns the records in dir in invocation order, for tests.
func ReadRecords(dir string) ([]Record, error) {
	names, err := filepath.Glob(filepath.Join(dir, "[0-9][0-9][0-9]-*.json"))
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, n := range names { // Glob sorts, and NNN sorts numerically up to 999
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		var r Record
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
