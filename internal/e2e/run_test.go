package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestDoneFirstTryWithEveryCLIExecutor(t *testing.T) {
	for _, ex := range []string{"claude", "codex", "gemini", "aider", "cline"} {
		t.Run(ex, func(t *testing.T) {
			w := newWorld(t, step{Answer: "Created hello.txt", Tool: true}, step{Answer: verdictJSON("DONE", "hello.txt exists")})
			res := w.run("run", "--executor", ex, "--worker-model", "model-x", "--output", "json", "Create hello.txt")
			if res.code != 0 {
				t.Fatalf("exit %d, want 0\nstdout:%s\nstderr:%s", res.code, res.stdout, res.stderr)
			}
			s := res.summary
			if s["state"] != "completed" || s["verdict"] != "DONE" || s["result"] != "Created hello.txt" || s["iterations"].(float64) != 1 {
				t.Fatalf("summary = %v", s)
			}
			for _, k := range []string{"id", "feedback", "usage", "started_at", "finished_at", "state_file", "activity_log"} {
				if _, ok := s[k]; !ok {
					t.Errorf("summary lacks %q", k)
				}
			}
			calls := w.invocations()
			if len(calls) != 2 || calls[0].Persona != ex || calls[1].Persona != ex {
				t.Fatalf("agent calls = %+v", calls)
			}
			if !strings.Contains(strings.Join(calls[0].Args, " "), "model-x") {
				t.Errorf("--worker-model did not reach the %s command line: %q", ex, calls[0].Args)
			}
			if strings.Contains(strings.Join(calls[1].Args, " "), "model-x") {
				t.Errorf("the worker's model leaked to the auditor: %q", calls[1].Args)
			}
			if calls[0].Cwd != w.workdir {
				t.Errorf("agent ran in %s, want the workdir %s", calls[0].Cwd, w.workdir)
			}
			if strings.Contains(strings.Join(calls[0].Args, " "), "Create hello.txt") {
				t.Errorf("the prompt must not be passed in argv (visible in ps): %q", calls[0].Args)
			}
			if ex == "claude" && !contains(calls[0].Env, "ANTHROPIC_API_KEY") {
				t.Errorf("ANTHROPIC_API_KEY did not pass through to claude: %v", calls[0].Env)
			}
			// The activity log is NDJSON of normalised events with increasing seq.
			logPath := s["activity_log"].(string)
			b, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			var last int64
			types := map[string]bool{}
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				var e struct {
					Seq  int64  `json:"seq"`
					Type string `json:"type"`
					Task string `json:"task"`
				}
				if err := json.Unmarshal([]byte(line), &e); err != nil {
					t.Fatalf("activity log line %q: %v", line, err)
				}
				if e.Seq != last+1 || e.Task != s["id"] {
					t.Fatalf("event out of order or mislabelled: %s", line)
				}
				last = e.Seq
				types[e.Type] = true
			}
			for _, typ := range []string{"state", "result"} {
				if !types[typ] {
					t.Errorf("activity log has no %s event", typ)
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestRetryThenDoneCarriesFeedback(t *testing.T) {
	w := newWorld(t,
		step{Answer: "first attempt"},
		step{Answer: verdictJSON("RETRY", "hello.txt is missing the trailing newline")},
		step{Answer: "second attempt"},
		step{Answer: verdictJSON("DONE", "fixed")},
	)
	res := w.run("run", "--executor", "claude", "--output", "json", "Create hello.txt")
	if res.code != 0 || res.summary["iterations"].(float64) != 2 {
		t.Fatalf("exit %d summary %v\n%s", res.code, res.summary, res.stderr)
	}
	calls := w.invocations()
	if len(calls) != 4 {
		t.Fatalf("%d agent calls, want 4", len(calls))
	}
	second := calls[2].Prompt
	if !strings.Contains(second, "hello.txt is missing the trailing newline") || !strings.Contains(second, "Create hello.txt") {
		t.Fatalf("second worker prompt lacks the feedback or the task:\n%s", second)
	}
	if !strings.Contains(calls[3].Prompt, "second attempt") || strings.Contains(calls[3].Prompt, "first attempt") {
		t.Fatalf("second audit must judge only the second answer:\n%s", calls[3].Prompt)
	}
}

func TestImpossibleExits3(t *testing.T) {
	w := newWorld(t, step{Answer: "I cannot"}, step{Answer: verdictJSON("IMPOSSIBLE", "needs a GPU")})
	res := w.run("run", "--executor", "codex", "--output", "json", "Train a model")
	if res.code != 3 || res.summary["state"] != "rejected" || res.summary["feedback"] != "needs a GPU" {
		t.Fatalf("exit %d summary %v", res.code, res.summary)
	}
}

func TestUnreadableVerdictsUntilLimit(t *testing.T) {
	w := newWorld(t, step{Answer: "did it"}, step{Answer: "Looks done to me, not sure though."})
	res := w.run("run", "--executor", "gemini", "--max-iterations", "2", "--output", "json", "Do it")
	if res.code != 1 || res.summary["state"] != "failed" || res.summary["iterations"].(float64) != 2 {
		t.Fatalf("exit %d summary %v", res.code, res.summary)
	}
	if len(w.invocations()) != 4 {
		t.Fatalf("want 2 worker and 2 auditor runs, got %d", len(w.invocations()))
	}
}

func TestHangingAgentIsStoppedWithItsGrandchild(t *testing.T) {
	w := newWorld(t, step{Behaviour: "grandchild-hang"})
	start := time.Now()
	res := w.run("run", "--executor", "claude", "--inactivity-timeout", "1s", "--output", "json", "Hang")
	if res.code != 1 || res.summary["state"] != "failed" || res.summary["error_kind"] != "inactivity" {
		t.Fatalf("exit %d summary %v\n%s", res.code, res.summary, res.stderr)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("took %s to stop a silent agent with a 1s inactivity timeout", d)
	}
	b, err := os.ReadFile(filepath.Join(w.record, "grandchild.pid"))
	if err != nil {
		t.Fatal("the fake agent did not record its grandchild:", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitFor(t, 5*time.Second, "the grandchild to be gone", func() bool { return !alive(pid) })
}

func TestCrashAndNonZeroExitFail(t *testing.T) {
	for _, b := range []string{"crash", "exit:3", "api-error"} {
		t.Run(b, func(t *testing.T) {
			w := newWorld(t, step{Answer: "partial", Behaviour: b})
			res := w.run("run", "--executor", "claude", "--output", "json", "Crash")
			if res.code != 1 || res.summary["state"] != "failed" || res.summary["error"] == "" {
				t.Fatalf("exit %d summary %v", res.code, res.summary)
			}
			if len(w.invocations()) != 1 {
				t.Fatal("the auditor ran after the worker failed")
			}
		})
	}
}

func TestCommandExecutorAndPromptFromStdin(t *testing.T) {
	w := newWorld(t, step{Answer: "command answer"}, step{Answer: verdictJSON("DONE", "ok")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, stdout, stderr := w.command(ctx, "run", "--executor", "command", "--worker-command", "fakecmd --flag 'two words'",
		"--auditor-command", "fakecmd", "--output", "json", "-")
	cmd.Stdin = strings.NewReader("Task from stdin")
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	calls := w.invocations()
	if calls[0].Prompt == "" || !strings.Contains(calls[0].Prompt, "Task from stdin") {
		t.Fatalf("prompt from stdin did not reach the agent: %q", calls[0].Prompt)
	}
	if !contains(calls[0].Args, "two words") {
		t.Fatalf("--worker-command was not split like a shell would: %q", calls[0].Args)
	}
	if !strings.Contains(stdout.String(), "command answer") {
		t.Fatalf("stdout = %s", stdout)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	w := newWorld(t)
	for _, args := range [][]string{
		{"run"},
		{"run", "--executor", "nope", "task"},
		{"run", "--max-iterations", "0", "task"},
		{"run", "--executor", "command", "task"},
		{"run", "--workdir", "/does/not/exist", "task"},
		{"run", "   "},
		{"resume", "no-such-run"},
	} {
		res := w.run(args...)
		if res.code != 2 || !strings.Contains(res.stderr, "oneshot") {
			t.Errorf("%v: exit %d, stderr %q", args, res.code, res.stderr)
		}
	}
}

func TestDirectExecutorAgainstOpenAICompatibleServer(t *testing.T) {
	var mu sync.Mutex
	var prompts []string
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var req struct {
			Model    string                     `json:"model"`
			Messages []struct{ Content string } `json:"messages"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer sk-worker" && req.Model == "w" {
			http.Error(rw, `{"error":{"message":"bad"}}`, http.StatusUnauthorized)
			return
		}
		mu.Lock()
		prompts = append(prompts, req.Messages[0].Content)
		mu.Unlock()
		answer := "the worker's answer"
		if strings.Contains(req.Messages[0].Content, "verdict") {
			answer = verdictJSON("DONE", "fine")
		}
		rw.Header().Set("Content-Type", "text/event-stream")
		chunk, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"delta": map[string]string{"content": answer}}}})
		rw.Write([]byte("data: " + string(chunk) + "\n\n"))
		rw.Write([]byte(`data: {"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7}}` + "\n\n"))
		rw.Write([]byte("data: [DONE]\n\n"))
	}))
	defer srv.Close()
	w := newWorld(t)
	w.env = append(w.env, "ONESHOT_WORKER_API_KEY=sk-worker")
	res := w.run("run", "--executor", "direct", "--worker-endpoint", srv.URL+"/v1", "--auditor-endpoint", srv.URL+"/v1",
		"--worker-model", "w", "--auditor-model", "a", "--output", "json", "Say hi")
	if res.code != 0 || res.summary["result"] != "the worker's answer" {
		t.Fatalf("exit %d summary %v\n%s", res.code, res.summary, res.stderr)
	}
	usage := res.summary["usage"].(map[string]any)
	if usage["input_tokens"].(float64) != 24 || usage["output_tokens"].(float64) != 14 {
		t.Errorf("usage = %v, want the sum of both agents' reports", usage)
	}
	state, _ := os.ReadFile(res.summary["state_file"].(string))
	if strings.Contains(string(state), "sk-worker") || strings.Contains(res.stderr, "sk-worker") {
		t.Fatal("the API key leaked into the state file or the output")
	}
}

// TestResumeAfterKill kills oneshot itself (SIGKILL) in each phase and resumes.
func TestResumeAfterKill(t *testing.T) {
	cases := []struct {
		name       string
		steps      []step
		killWhen   func(st map[string]any) bool
		wantCalls  int // agent invocations in total, killed one included
		killAtCall int // the invocation that is running when oneshot is killed
	}{
		{
			name:      "worker running",
			steps:     []step{{Answer: "slow", Sleep: "60s"}, {Answer: "fast worker"}, {Answer: verdictJSON("DONE", "ok")}},
			killWhen:  func(st map[string]any) bool { return st["state"] == "worker_running" && agentPID(st) > 0 },
			wantCalls: 3, killAtCall: 1,
		},
		{
			name:      "auditor running",
			steps:     []step{{Answer: "worker answer"}, {Answer: "slow", Sleep: "60s"}, {Answer: verdictJSON("DONE", "ok")}},
			killWhen:  func(st map[string]any) bool { return st["state"] == "auditor_running" && agentPID(st) > 0 },
			wantCalls: 3, killAtCall: 2,
		},
		{
			name: "second iteration",
			steps: []step{{Answer: "one"}, {Answer: verdictJSON("RETRY", "again")}, {Answer: "slow", Sleep: "60s"},
				{Answer: "two"}, {Answer: verdictJSON("DONE", "ok")}},
			killWhen: func(st map[string]any) bool {
				its, _ := st["iterations"].([]any)
				return st["state"] == "worker_running" && len(its) == 2 && agentPID(st) > 0
			},
			wantCalls: 5, killAtCall: 3,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.steps...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd, _, stderr := w.command(ctx, "run", "--executor", "claude", "--output", "json", "Task")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var st map[string]any
			var id string
			waitFor(t, 20*time.Second, "the phase to kill in", func() bool {
				matches, _ := filepath.Glob(filepath.Join(w.logs, "*.json"))
				if len(matches) != 1 {
					return false
				}
				id = strings.TrimSuffix(filepath.Base(matches[0]), ".json")
				b, err := os.ReadFile(matches[0])
				if err != nil || json.Unmarshal(b, &st) != nil {
					return false
				}
				// Kill only once the agent has taken its scripted step.
				return tc.killWhen(st) && w.recorded() >= tc.killAtCall
			})
			orphan := agentPID(st)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			_ = stderr
			res := w.run("resume", "--output", "json", id)
			if res.code != 0 || res.summary["state"] != "completed" {
				t.Fatalf("resume: exit %d summary %v\n%s", res.code, res.summary, res.stderr)
			}
			if got := len(w.invocations()); got != tc.wantCalls {
				t.Fatalf("%d agent invocations, want %d (a finished phase was redone or one was skipped)", got, tc.wantCalls)
			}
			if alive(orphan) {
				t.Fatalf("the agent left running by the killed oneshot (pid %d) is still alive after resume", orphan)
			}
		})
	}
}

func agentPID(st map[string]any) int {
	a, _ := st["agent"].(map[string]any)
	if a == nil {
		return 0
	}
	pid, _ := a["pid"].(float64)
	return int(pid)
}

func TestInterruptExits130AndResumes(t *testing.T) {
	w := newWorld(t, step{Answer: "slow", Sleep: "60s"}, step{Answer: "ok"}, step{Answer: verdictJSON("DONE", "ok")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, stdout, _ := w.command(ctx, "run", "--executor", "claude", "--output", "json", "Task")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	waitFor(t, 20*time.Second, "the worker to start", func() bool {
		matches, _ := filepath.Glob(filepath.Join(w.logs, "*.json"))
		if len(matches) != 1 {
			return false
		}
		b, _ := os.ReadFile(matches[0])
		var st map[string]any
		if json.Unmarshal(b, &st) != nil {
			return false
		}
		pid = agentPID(st)
		return pid > 0 && w.recorded() >= 1
	})
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d after Ctrl-C, want 130", code)
	}
	var sum map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil || sum["state"] != "interrupted" {
		t.Fatalf("summary %s (%v)", stdout, err)
	}
	waitFor(t, 10*time.Second, "the agent group to be gone", func() bool { return !alive(pid) })
	st := w.stateFile(sum["id"].(string))
	if st["phase"] != "worker_running" {
		t.Fatalf("interrupted run does not record the phase: %v", st["phase"])
	}
	res := w.run("resume", "--output", "json", sum["id"].(string))
	if res.code != 0 {
		t.Fatalf("resume exit %d\n%s", res.code, res.stderr)
	}
}
