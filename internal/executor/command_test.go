package executor

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/fakeagent"
)

func TestNewCommandNeedsAProgram(t *testing.T) {
	for _, cmd := range [][]string{nil, {""}, {"  "}} {
		_, err := New(Spec{Executor: "command", Command: cmd})
		if err == nil || !strings.Contains(err.Error(), "--worker-command") || !strings.Contains(err.Error(), "command:") {
			t.Errorf("Command %q: err = %v, want one saying how to set the command", cmd, err)
		}
	}
}

func TestCommandExecutor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		step       *fakeagent.Step
		prompt     string
		inactivity time.Duration
		wantAnswer string
		wantErr    error
		wantInErr  []string
		wantStderr string
	}{
		{name: "answer on stdout", prompt: "do the task", wantAnswer: fakeagent.DefaultAnswer,
			wantStderr: "fakecmd: working on a 11-byte prompt"},
		{name: "auditor prompt", prompt: "answer with a verdict", wantAnswer: fakeagent.DefaultVerdict},
		{name: "scripted multi-line answer", step: &fakeagent.Step{Answer: "line one\n\nline three"},
			wantAnswer: "line one\n\nline three"},
		{name: "tool output stays out of the answer", step: &fakeagent.Step{Tool: true, Answer: "done"},
			wantAnswer: "done", wantStderr: "fakecmd: $ ls"},
		{name: "non-zero exit fails", step: &fakeagent.Step{Behaviour: "exit:3"}, wantErr: ErrExit,
			wantInErr: []string{"fakecmd exited with status 3", "fakecmd: working on"}},
		{name: "model API failure", step: &fakeagent.Step{Behaviour: "api-error"}, wantErr: ErrExit,
			wantInErr: []string{"status 1", "500 Internal Server Error"}},
		{name: "crash", step: &fakeagent.Step{Behaviour: "crash"}, wantErr: ErrExit,
			wantInErr: []string{"status 1", "simulated crash"}},
		{name: "silent hang", step: &fakeagent.Step{Behaviour: "silent-hang"}, inactivity: 500 * time.Millisecond,
			wantErr: ErrInactivity},
		{name: "hang after start-up output quotes it", step: &fakeagent.Step{Behaviour: "hang"}, inactivity: 500 * time.Millisecond,
			wantErr: ErrInactivity, wantInErr: []string{"fakecmd: working on"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFakeAgents(t, "fakecmd")
			if tt.step != nil {
				fake.script(t, *tt.step)
			}
			res, events, err := runExecutor(t, Spec{Executor: "command", Command: []string{"fakecmd"}, InactivityTimeout: tt.inactivity},
				fake.request(tt.prompt))
			if tt.wantErr != nil {
				checkError(t, err, []error{tt.wantErr}, tt.wantInErr...)
				return
			}
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Text != tt.wantAnswer {
				t.Errorf("answer %q, want %q", res.Text, tt.wantAnswer)
			}
			if got := events.texts(activity.Result); len(got) != 1 || got[0] != tt.wantAnswer {
				t.Errorf("result events %q", got)
			}
			if msgs := events.texts(activity.Message); len(msgs) == 0 || msgs[0] != strings.Split(tt.wantAnswer, "\n")[0] {
				t.Errorf("message events %q do not show the answer's lines", msgs)
			}
			if tt.wantStderr != "" && !slices.Contains(events.texts(activity.Stderr), tt.wantStderr) {
				t.Errorf("stderr events %q lack %q", events.texts(activity.Stderr), tt.wantStderr)
			}
			if recs := fake.records(t); len(recs) != 1 || recs[0].Prompt != tt.prompt {
				t.Errorf("the program got prompt %+v, want %q on stdin", recs, tt.prompt)
			}
		})
	}
}

func TestCommandRunsInTheWorkdirWithTheEnvironment(t *testing.T) {
	t.Parallel()
	fake := newFakeAgents(t, "fakecmd")
	req := fake.request("task")
	req.Env = append(req.Env, "ANTHROPIC_API_KEY=test-key-not-secret")
	var started atomic.Int64
	req.OnStart = func(pid int) { started.Store(int64(pid)) }
	if _, _, err := runExecutor(t, Spec{Executor: "command", Command: []string{"fakecmd", "--fast"}, ExtraArgs: []string{"--extra"}}, req); err != nil {
		t.Fatal(err)
	}
	recs := fake.records(t)
	if len(recs) != 1 {
		t.Fatalf("%d invocations", len(recs))
	}
	r := recs[0]
	if strings.Join(r.Args, " ") != "--fast --extra" {
		t.Errorf("args %q, want the command's then the extra ones", r.Args)
	}
	if real, _ := filepath.EvalSymlinks(fake.Workdir); r.Cwd != fake.Workdir && r.Cwd != real {
		t.Errorf("ran in %s, want %s", r.Cwd, fake.Workdir)
	}
	if !slices.Contains(r.Env, "ANTHROPIC_API_KEY") {
		t.Errorf("the request's environment did not reach the program: %q", r.Env)
	}
	if started.Load() <= 1 {
		t.Error("OnStart was not called with the pid")
	}
}

func TestCommandAnswerIsBounded(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	res, events, err := runExecutor(t, Spec{Executor: "command", Command: []string{exe, strconv.Itoa(3 * maxAnswer)}},
		Request{Env: []string{helperEnv + "=flood", quickRaceExit()}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Text, "[output truncated") {
		t.Errorf("a cut answer does not say so: %.80q", res.Text)
	}
	if len(res.Text) > maxAnswer+200 {
		t.Errorf("answer is %d bytes, want about %d", len(res.Text), maxAnswer)
	}
	if messages, want := len(events.texts(activity.Message)), 3*maxAnswer/100; messages < want {
		t.Errorf("%d message events, want one per line (%d)", messages, want)
	}
}

func TestCommandMissingProgram(t *testing.T) {
	t.Parallel()
	_, _, err := runExecutor(t, Spec{Executor: "command", Command: []string{"oneshot-no-such-program"}}, Request{Env: []string{"PATH=" + t.TempDir()}})
	checkError(t, err, []error{ErrNotFound}, "oneshot-no-such-program")
}

// TestCommandHangingAgentLeavesNoGrandchild is the case the old tool got wrong: an
// agent whose child keeps the pipes open hangs; the inactivity timeout must stop it,
// and nothing of it may survive.
func TestCommandHangingAgentLeavesNoGrandchild(t *testing.T) {
	t.Parallel()
	fake := newFakeAgents(t, "fakecmd")
	fake.script(t, fakeagent.Step{Behaviour: "grandchild-hang"})
	start := time.Now()
	_, _, err := runExecutor(t, Spec{Executor: "command", Command: []string{"fakecmd"}, InactivityTimeout: 700 * time.Millisecond}, fake.request("task"))
	checkError(t, err, []error{ErrInactivity})
	if elapsed := time.Since(start); elapsed > 700*time.Millisecond+defaultGrace+time.Second {
		t.Errorf("stopping took %s", elapsed)
	}
	b, err := os.ReadFile(filepath.Join(fake.Log, "grandchild.pid"))
	if err != nil {
		t.Fatalf("the fake agent recorded no grandchild: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	assertGone(t, "the hanging agent's grandchild", pid)
}
