package fakeagent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// With FAKEAGENT_TEST_MAIN=1 (or as the grandchild) the test binary is the fake
// agent itself, so tests run it as a real process under any persona name.
func init() {
	if os.Getenv("FAKEAGENT_TEST_MAIN") == "1" || os.Getenv(roleEnv) != "" {
		os.Exit(Main())
	}
}

// testEnv is an in-process invocation with captured output.
type testEnv struct {
	*Env
	out, errOut *bytes.Buffer
	vars        map[string]string
	hung        bool
	slept       []time.Duration
}

func newTestEnv(t *testing.T, name string, args ...string) *testEnv {
	t.Helper()
	te := &testEnv{out: &bytes.Buffer{}, errOut: &bytes.Buffer{}, vars: map[string]string{}}
	exe, _ := os.Executable()
	te.Env = &Env{
		Args:       args,
		Name:       name,
		Stdout:     te.out,
		Stderr:     te.errOut,
		Getenv:     func(k string) string { return te.vars[k] },
		Dir:        t.TempDir(),
		Executable: exe,
		Sleep:      func(d time.Duration) { te.slept = append(te.slept, d) },
		Hang:       func() { te.hung = true },
	}
	return te
}

func (te *testEnv) script(t *testing.T, steps ...Step) {
	t.Helper()
	b, _ := json.Marshal(Script{Steps: steps})
	path := filepath.Join(t.TempDir(), "script.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	te.vars[ScriptEnv] = path
}

// callLog is a format that records which of its methods play called.
type callLog struct{ calls []string }

func (c *callLog) start(*Env)              { c.calls = append(c.calls, "start") }
func (c *callLog) tool(*Env)               { c.calls = append(c.calls, "tool") }
func (c *callLog) answer(_ *Env, a string) { c.calls = append(c.calls, "answer:"+a) }
func (c *callLog) apiError(*Env) int       { c.calls = append(c.calls, "apiError"); return 7 }
func (c *callLog) flood(_ *Env, n int) int {
	c.calls = append(c.calls, "flood")
	return min(n, 1000)
}

func TestPlay(t *testing.T) {
	tests := []struct {
		name      string
		step      Step
		wantCode  int
		wantCalls []string
		wantHang  bool
		wantSleep []time.Duration
		wantErr   string
	}{
		{name: "normal", step: Step{Answer: "a"}, wantCalls: []string{"start", "answer:a"}},
		{name: "tool", step: Step{Tool: true, Answer: "a"}, wantCalls: []string{"start", "tool", "answer:a"}},
		{name: "sleep before answering", step: Step{Sleep: "2s"}, wantCalls: []string{"start", "answer:fake answer"},
			wantSleep: []time.Duration{2 * time.Second}},
		{name: "hang", step: Step{Behaviour: "hang"}, wantCalls: []string{"start"}, wantHang: true},
		{name: "silent hang", step: Step{Behaviour: "silent-hang"}, wantCalls: nil, wantHang: true},
		{name: "crash", step: Step{Behaviour: "crash"}, wantCode: 1, wantCalls: []string{"start"},
			wantErr: "simulated crash"},
		{name: "exit status", step: Step{Behaviour: "exit:3", Answer: "a"}, wantCode: 3,
			wantCalls: []string{"start", "answer:a"}},
		{name: "api error", step: Step{Behaviour: "api-error"}, wantCode: 7, wantCalls: []string{"start", "apiError"}},
		{name: "flood", step: Step{Behaviour: "flood:2500", Answer: "a"},
			wantCalls: []string{"start", "flood", "flood", "flood", "answer:a"}},
		{name: "unknown behaviour", step: Step{Behaviour: "explode"}, wantCode: 2, wantErr: `unknown behaviour "explode"`},
		{name: "exit status out of range", step: Step{Behaviour: "exit:300"}, wantCode: 2, wantErr: "unknown behaviour"},
		{name: "bad sleep", step: Step{Sleep: "soon"}, wantCode: 2, wantErr: `sleep "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := newTestEnv(t, "test")
			var f callLog
			code := te.play(tt.step, &f)
			if code != tt.wantCode {
				t.Errorf("exit status %d, want %d (stderr %q)", code, tt.wantCode, te.errOut)
			}
			if !slices.Equal(f.calls, tt.wantCalls) {
				t.Errorf("calls %q, want %q", f.calls, tt.wantCalls)
			}
			if te.hung != tt.wantHang {
				t.Errorf("hung = %v, want %v", te.hung, tt.wantHang)
			}
			if !slices.Equal(te.slept, tt.wantSleep) {
				t.Errorf("slept %v, want %v", te.slept, tt.wantSleep)
			}
			if !strings.Contains(te.errOut.String(), tt.wantErr) {
				t.Errorf("stderr %q, want %q", te.errOut, tt.wantErr)
			}
		})
	}
}

func TestPlayGrandchildHang(t *testing.T) {
	te := newTestEnv(t, "test")
	logDir := t.TempDir()
	te.vars[LogEnv] = logDir
	var f callLog
	te.play(Step{Behaviour: "grandchild-hang"}, &f)
	if !te.hung || !slices.Equal(f.calls, []string{"start"}) {
		t.Fatalf("hung %v calls %q: want start-up output, then a hang", te.hung, f.calls)
	}
	b, err := os.ReadFile(filepath.Join(logDir, "grandchild.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)
	if err := syscall.Kill(pid, 0); err != nil {
		t.Errorf("the grandchild %d does not run: %v", pid, err)
	}
	if pgid, _ := syscall.Getpgid(pid); pgid != syscall.Getpgrp() {
		t.Errorf("the grandchild is in group %d, not its parent's %d", pgid, syscall.Getpgrp())
	}
}

func TestDefaultAnswers(t *testing.T) {
	for prompt, want := range map[string]string{
		"write a function":                           DefaultAnswer,
		"Answer with a JSON Verdict: DONE or RETRY?": DefaultVerdict,
	} {
		te := newTestEnv(t, "test")
		te.Prompt = prompt
		if got := te.answerFor(Step{}); got != want {
			t.Errorf("%q: answer %q, want %q", prompt, got, want)
		}
		if got := te.answerFor(Step{Answer: "scripted"}); got != "scripted" {
			t.Errorf("a scripted answer lost to the default: %q", got)
		}
	}
}

func TestScriptStepsInOrderThenTheLastRepeats(t *testing.T) {
	te := newTestEnv(t, "fakecmd")
	te.script(t, Step{Answer: "one"}, Step{Answer: "two"})
	var got []string
	for range 4 {
		te.out.Reset()
		if code := run(te.Env); code != 0 {
			t.Fatalf("exit %d: %s", code, te.errOut)
		}
		got = append(got, strings.TrimSpace(te.out.String()))
	}
	if want := []string{"one", "two", "two", "two"}; !slices.Equal(got, want) {
		t.Errorf("answers %q, want %q", got, want)
	}
}

func TestScriptErrors(t *testing.T) {
	tests := map[string]string{
		`{"steps":[{"behavior":"hang"}]}`: `unknown field "behavior"`,
		`{"steps":[]}`:                    "has no steps",
		`not json`:                        "invalid character",
	}
	for content, want := range tests {
		te := newTestEnv(t, "fakecmd")
		path := filepath.Join(t.TempDir(), "s.json")
		os.WriteFile(path, []byte(content), 0o644)
		te.vars[ScriptEnv] = path
		if code := run(te.Env); code != 2 || !strings.Contains(te.errOut.String(), want) {
			t.Errorf("%s: exit %d, stderr %q, want 2 and %q", content, code, te.errOut, want)
		}
	}
}

func TestCounterIsSafeForParallelInvocations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n")
	const n = 40
	got := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := nextCount(path)
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		})
	}
	wg.Wait()
	slices.Sort(got)
	for i, v := range got {
		if v != i {
			t.Fatalf("counter values %v: want each of 0..%d exactly once", got, n-1)
		}
	}
}

func TestRecords(t *testing.T) {
	logDir := t.TempDir()
	for i, name := range []string{"claude", "aider", "fakecmd"} {
		te := newTestEnv(t, name, "--flag", strconv.Itoa(i))
		te.vars[LogEnv] = logDir
		te.vars["ANTHROPIC_API_KEY"] = "sk-secret-value"
		te.vars["IS_SANDBOX"] = "1"
		te.Prompt = "prompt " + strconv.Itoa(i)
		if err := te.record(); err != nil {
			t.Fatal(err)
		}
		if name == "aider" {
			te.usePrompt("from the message file")
		}
	}
	recs, err := ReadRecords(logDir)
	if err != nil {
		t.Fatal(err)
	}
	var personas, prompts []string
	for _, r := range recs {
		personas = append(personas, r.Persona)
		prompts = append(prompts, r.Prompt)
	}
	if want := []string{"claude", "aider", "fakecmd"}; !slices.Equal(personas, want) {
		t.Errorf("records in order %q, want %q", personas, want)
	}
	if want := []string{"prompt 0", "from the message file", "prompt 2"}; !slices.Equal(prompts, want) {
		t.Errorf("prompts %q, want %q", prompts, want)
	}
	if !slices.Equal(recs[0].Env, []string{"ANTHROPIC_API_KEY", "IS_SANDBOX"}) || recs[0].Step != 0 {
		t.Errorf("record %+v", recs[0])
	}
	files, _ := filepath.Glob(filepath.Join(logDir, "*"))
	for _, f := range files {
		if b, _ := os.ReadFile(f); bytes.Contains(b, []byte("sk-secret-value")) {
			t.Errorf("%s holds an API key value", f)
		}
	}
	if _, err := os.Stat(filepath.Join(logDir, "002-aider.json")); err != nil {
		t.Errorf("records are not named NNN-persona.json: %v", err)
	}
}

func TestUnsupportedPersona(t *testing.T) {
	te := newTestEnv(t, "x")
	if code := te.unsupported("claude"); code != 127 || te.errOut.String() != "fakeagent: persona claude not implemented\n" {
		t.Errorf("exit %d, stderr %q", code, te.errOut)
	}
}

// runFake runs the test binary as the named fake agent in a real process.
func runFake(t *testing.T, name, stdin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), name)
	if err := os.Symlink(exe, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link, args...)
	// A race-enabled child would otherwise sleep a second before exiting.
	quickExit := "GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")
	cmd.Env = append(os.Environ(), append([]string{"FAKEAGENT_TEST_MAIN=1", quickExit}, env...)...)
	cmd.Dir = t.TempDir()
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func TestMainPicksThePersonaByName(t *testing.T) {
	t.Parallel()
	out, errOut, code := runFake(t, "fakecmd", "the prompt", nil)
	if code != 0 || out != "fake answer\n" || !strings.Contains(errOut, "fakecmd: working on a 10-byte prompt") {
		t.Errorf("command persona: exit %d stdout %q stderr %q", code, out, errOut)
	}
	out, _, code = runFake(t, "my-agent", "", []string{PersonaEnv + "=cline"}, "-y", "--json", "hello")
	if code != 0 || !strings.Contains(out, `"type":"task_started"`) {
		t.Errorf("FAKEAGENT_PERSONA=cline: exit %d stdout %q", code, out)
	}
}

func TestAiderPersona(t *testing.T) {
	t.Parallel()
	msg := filepath.Join(t.TempDir(), "msg.md")
	os.WriteFile(msg, []byte("please add tests"), 0o600)
	logDir := t.TempDir()
	env := []string{LogEnv + "=" + logDir}

	out, _, code := runFake(t, "aider", "", env, "--yes-always", "--no-pretty", "--model", "ollama/qwen", "--message-file", msg)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"Aider v", "Model: ollama/qwen with whole edit format", "Use /help", "\nfake answer\n", "Tokens: 2.1k sent"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if recs, _ := ReadRecords(logDir); len(recs) != 1 || recs[0].Prompt != "please add tests" {
		t.Errorf("records %+v: the prompt is the message file's content", recs)
	}

	_, errOut, code := runFake(t, "aider", "", nil, "--message-file", msg, "--no-such-flag")
	if code != 2 || !strings.Contains(errOut, "unrecognized arguments: --no-such-flag") {
		t.Errorf("unknown flag: exit %d stderr %q, want argparse's 2", code, errOut)
	}
	out, _, code = runFake(t, "aider", "", nil, "--message-file", filepath.Join(t.TempDir(), "missing"))
	if code != 1 || !strings.Contains(out, "Message file not found") {
		t.Errorf("missing message file: exit %d stdout %q", code, out)
	}
}

func TestClinePersona(t *testing.T) {
	t.Parallel()
	decode := func(t *testing.T, out string) []map[string]any {
		t.Helper()
		var msgs []map[string]any
		dec := json.NewDecoder(strings.NewReader(out))
		for dec.More() {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("not a JSON stream: %v\n%s", err, out)
			}
			msgs = append(msgs, m)
		}
		return msgs
	}
	kinds := func(msgs []map[string]any) string {
		var k []string
		for _, m := range msgs {
			k = append(k, fmt.Sprintf("%v:%v%v", m["type"], m["say"], m["ask"]))
		}
		return strings.Join(k, " ")
	}

	out, _, code := runFake(t, "cline", "what is 6 times 7?", nil, "-y", "--json")
	msgs := decode(t, out)
	if code != 0 || kinds(msgs) != "task_started:<nil><nil> say:task<nil> say:api_req_started<nil> say:completion_result<nil> ask:<nil>completion_result" {
		t.Errorf("exit %d messages %s", code, kinds(msgs))
	}
	if strings.Count(out, "\n") != len(msgs) {
		t.Errorf("--json is not one object per line:\n%s", out)
	}

	out, _, code = runFake(t, "cline", "x", []string{PrettyEnv + "=1"}, "-y", "--json")
	if code != 0 || len(decode(t, out)) != 5 || strings.Count(out, "\n") < 10 {
		t.Errorf("pretty output: exit %d\n%s", code, out)
	}

	script := filepath.Join(t.TempDir(), "s.json")
	os.WriteFile(script, []byte(`{"steps":[{"behaviour":"api-error"}]}`), 0o644)
	out, _, code = runFake(t, "cline", "x", []string{ScriptEnv + "=" + script}, "-y", "--json")
	msgs = decode(t, out)
	if code != 1 || msgs[len(msgs)-1]["type"] != "error" || !strings.Contains(kinds(msgs), "ask:<nil>api_req_failed") {
		t.Errorf("api error: exit %d messages %s", code, kinds(msgs))
	}

	out, _, code = runFake(t, "cline", "", nil, "-y", "what is 6 times 7?")
	if code != 0 || out != "fake answer\n" {
		t.Errorf("plain output: exit %d stdout %q", code, out)
	}
	_, errOut, code := runFake(t, "cline", "x", nil, "--bogus")
	if code != 1 || !strings.Contains(errOut, "unknown option '--bogus'") {
		t.Errorf("unknown option: exit %d stderr %q", code, errOut)
	}
}
