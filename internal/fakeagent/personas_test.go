package fakeagent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// The claude, codex and gemini personas are checked against the captures of the real
// CLIs that the executor tests replay: same event shapes, same refusals, same exit
// statuses.

const capturesDir = "../executor/testdata/streams"

type fakeRun struct {
	code   int
	stdout string
	stderr string
	prompt string
}

// invokeFake plays persona name with args, stdin and extra environment in dir.
func invokeFake(t *testing.T, name string, args []string, stdin string, env map[string]string, step Step) fakeRun {
	t.Helper()
	var out, errOut bytes.Buffer
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("# scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if env == nil {
		env = map[string]string{}
	}
	e := &Env{
		Args: args, Name: name, Prompt: stdin, StdinPiped: true,
		Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string { return env[k] },
		Dir:    dir,
		Sleep:  func(time.Duration) {},
		Hang:   func() { t.Fatal("persona hung") },
	}
	var code int
	switch name {
	case "claude":
		code = claudePersona(e, step)
	case "codex":
		code = codexPersona(e, step)
	case "gemini":
		code = geminiPersona(e, step)
	default:
		t.Fatalf("no persona %s", name)
	}
	return fakeRun{code: code, stdout: out.String(), stderr: errOut.String(), prompt: e.Prompt}
}

func capture(t *testing.T, name, ext string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(capturesDir, name+"."+ext))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("stdout line is not a JSON object: %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// shape names what kind of event a line is, in the words of each CLI's format:
// claude "assistant/text", codex "item.completed/agent_message", gemini "message/assistant".
func shape(m map[string]any) string {
	s, _ := m["type"].(string)
	if sub, ok := m["subtype"].(string); ok {
		s += "/" + sub
	}
	if msg, ok := m["message"].(map[string]any); ok {
		if content, ok := msg["content"].([]any); ok {
			for _, c := range content {
				if cm, ok := c.(map[string]any); ok {
					s += "/" + cm["type"].(string)
				}
			}
		}
	}
	if item, ok := m["item"].(map[string]any); ok {
		s += "/" + item["type"].(string)
	}
	if role, ok := m["role"].(string); ok {
		s += "/" + role
	}
	if status, ok := m["status"].(string); ok && m["type"] == "result" {
		s += "/" + status
	}
	return s
}

func keys(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

// assertLikeCapture checks that the persona printed the same sequence of event shapes
// as the real CLI, and no field the real CLI does not print.
func assertLikeCapture(t *testing.T, got string, captureName string) {
	t.Helper()
	fake, real := jsonLines(t, got), jsonLines(t, capture(t, captureName, "out"))
	var fakeShapes, realShapes []string
	for _, m := range fake {
		fakeShapes = append(fakeShapes, shape(m))
	}
	for _, m := range real {
		realShapes = append(realShapes, shape(m))
	}
	if !slices.Equal(fakeShapes, realShapes) {
		t.Fatalf("event shapes differ from %s:\nfake %q\nreal %q", captureName, fakeShapes, realShapes)
	}
	for i := range fake {
		for _, k := range keys(fake[i]) {
			if _, ok := real[i][k]; !ok {
				t.Errorf("line %d (%s) has field %q, which the real CLI does not print", i, fakeShapes[i], k)
			}
		}
	}
}

var (
	claudeArgv = []string{"-p", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"}
	codexArgv  = []string{"exec", "--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", "-"}
	geminiArgv = []string{"--output-format", "stream-json", "--yolo"}
	trusted    = map[string]string{"GEMINI_CLI_TRUST_WORKSPACE": "true"}
	notRoot    = map[string]string{RootEnv: "0"}
)

const question = "What is 6 times 7? Answer briefly."

func TestPersonasPrintWhatTheRealCLIsPrint(t *testing.T) {
	answer := Step{Answer: "The answer is 42."}
	tool := Step{Answer: "The answer is 42.", Tool: true}
	for _, tc := range []struct {
		name    string
		persona string
		args    []string
		env     map[string]string
		step    Step
		code    int
	}{
		{"claude-simple", "claude", claudeArgv, notRoot, answer, 0},
		{"claude-tool", "claude", claudeArgv, notRoot, tool, 0},
		{"claude-error500", "claude", claudeArgv, notRoot, Step{Behaviour: "api-error"}, 1},
		{"codex-simple", "codex", codexArgv, nil, answer, 0},
		{"codex-tool", "codex", codexArgv, nil, tool, 0},
		{"codex-error500", "codex", codexArgv, nil, Step{Behaviour: "api-error"}, 1},
		{"codex-unknown-model", "codex", append([]string{"exec", "--json", "--skip-git-repo-check", "-m", "gpt-5-codex"}, "-"), nil, answer, 0},
		{"gemini-simple", "gemini", geminiArgv, trusted, answer, 0},
		{"gemini-tool", "gemini", geminiArgv, trusted, tool, 0},
		{"gemini-error500", "gemini", geminiArgv, trusted, Step{Behaviour: "api-error"}, 244},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := invokeFake(t, tc.persona, tc.args, question, tc.env, tc.step)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tc.code, r.stderr)
			}
			assertLikeCapture(t, r.stdout, tc.name)
		})
	}
}

func TestPersonaRefusalsMatchTheCaptures(t *testing.T) {
	for _, tc := range []struct {
		capture string
		persona string
		args    []string
		env     map[string]string
		code    int
	}{
		{"claude-root-refusal", "claude", claudeArgv, map[string]string{RootEnv: "1"}, 1},
		{"codex-full-auto-flag", "codex", []string{"exec", "--json", "--full-auto", "--skip-git-repo-check", "-"}, nil, 2},
		{"codex-no-git-no-bypass", "codex", []string{"exec", "--json", "-"}, nil, 1},
		{"gemini-untrusted", "gemini", geminiArgv, nil, 55},
	} {
		t.Run(tc.capture, func(t *testing.T) {
			r := invokeFake(t, tc.persona, tc.args, question, tc.env, Step{})
			if r.code != tc.code || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q; want exit %d and no output", r.code, r.stdout, tc.code)
			}
			if want := capture(t, tc.capture, "err"); r.stderr != want {
				t.Errorf("stderr:\n%s\nwant (as the real CLI):\n%s", r.stderr, want)
			}
		})
	}
}

func TestClaudePersona(t *testing.T) {
	t.Run("as root with IS_SANDBOX=1 it runs", func(t *testing.T) {
		r := invokeFake(t, "claude", claudeArgv, question, map[string]string{RootEnv: "1", "IS_SANDBOX": "1"}, Step{})
		if r.code != 0 || !strings.Contains(r.stdout, `"result":"fake answer"`) {
			t.Fatalf("exit %d, stdout %s, stderr %s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("stream-json needs --verbose", func(t *testing.T) {
		r := invokeFake(t, "claude", []string{"-p", "--output-format", "stream-json"}, question, notRoot, Step{})
		if r.code != 1 || !strings.Contains(r.stderr, "requires --verbose") {
			t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
		}
	})
	t.Run("the result reports usage and cost", func(t *testing.T) {
		r := invokeFake(t, "claude", append(claudeArgv, "--model", "sonnet"), question, notRoot, Step{Answer: "42", Tool: true})
		lines := jsonLines(t, r.stdout)
		res := lines[len(lines)-1]
		usage := res["usage"].(map[string]any)
		if res["result"] != "42" || res["num_turns"] != 2.0 || res["total_cost_usd"].(float64) <= 0 || usage["input_tokens"].(float64) < 3000 {
			t.Errorf("result %v", res)
		}
		if lines[0]["model"] != "sonnet" {
			t.Errorf("init model %v", lines[0]["model"])
		}
		if !strings.Contains(r.stdout, `"content":"README.md"`) {
			t.Errorf("the tool result is not the listing of the workdir:\n%s", r.stdout)
		}
	})
	t.Run("prompt argument and text output", func(t *testing.T) {
		r := invokeFake(t, "claude", []string{"-p", "--dangerously-skip-permissions", "do it"}, "", notRoot, Step{Answer: "done"})
		if r.code != 0 || r.stdout != "done\n" || r.prompt != "do it" {
			t.Fatalf("exit %d stdout %q prompt %q", r.code, r.stdout, r.prompt)
		}
	})
	t.Run("no prompt", func(t *testing.T) {
		r := invokeFake(t, "claude", claudeArgv, "", notRoot, Step{})
		if r.code != 1 || !strings.Contains(r.stderr, "Input must be provided") {
			t.Fatalf("exit %d stderr %q", r.code, r.stderr)
		}
	})
	t.Run("unknown option", func(t *testing.T) {
		if r := invokeFake(t, "claude", append(claudeArgv, "--yolo"), question, notRoot, Step{}); r.code != 1 || !strings.Contains(r.stderr, "'--yolo'") {
			t.Fatalf("exit %d stderr %q", r.code, r.stderr)
		}
	})
	t.Run("flood prints valid events", func(t *testing.T) {
		r := invokeFake(t, "claude", claudeArgv, question, notRoot, Step{Behaviour: "flood:100000"})
		if r.code != 0 || len(r.stdout) < 100000 {
			t.Fatalf("exit %d, %d bytes", r.code, len(r.stdout))
		}
		jsonLines(t, r.stdout)
	})
}

func TestCodexPersona(t *testing.T) {
	t.Run("a git repository above the workdir counts", func(t *testing.T) {
		repo := t.TempDir()
		sub := filepath.Join(repo, "a", "b")
		if err := os.MkdirAll(filepath.Join(repo, ".git"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if !insideGitRepo(sub) || insideGitRepo(t.TempDir()) {
			t.Fatal("insideGitRepo is wrong")
		}
	})
	t.Run("without --json only the answer is on stdout", func(t *testing.T) {
		r := invokeFake(t, "codex", []string{"exec", "--skip-git-repo-check", "-"}, question, nil, Step{Answer: "The answer is 42.", Tool: true})
		if r.code != 0 || r.stdout != "The answer is 42.\n" || !strings.Contains(r.stderr, "OpenAI Codex v0.171.0") || !strings.Contains(r.stderr, "README.md") {
			t.Fatalf("exit %d stdout %q stderr %s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("model flag and usage", func(t *testing.T) {
		r := invokeFake(t, "codex", []string{"exec", "--json", "--skip-git-repo-check", "-m", "gpt-5.5", "-"}, question, nil, Step{Answer: "x"})
		lines := jsonLines(t, r.stdout)
		usage := lines[len(lines)-1]["usage"].(map[string]any)
		if r.code != 0 || usage["input_tokens"].(float64) < 15000 || usage["output_tokens"].(float64) <= 0 {
			t.Fatalf("exit %d usage %v", r.code, usage)
		}
	})
	t.Run("exit status from the step", func(t *testing.T) {
		if r := invokeFake(t, "codex", codexArgv, question, nil, Step{Behaviour: "exit:3"}); r.code != 3 {
			t.Fatalf("exit %d", r.code)
		}
	})
}

func TestGeminiPersona(t *testing.T) {
	t.Run("--skip-trust also trusts", func(t *testing.T) {
		if r := invokeFake(t, "gemini", append(geminiArgv, "--skip-trust"), question, nil, Step{}); r.code != 0 {
			t.Fatalf("exit %d stderr %s", r.code, r.stderr)
		}
	})
	t.Run("stdin and --prompt are joined as the real one does", func(t *testing.T) {
		r := invokeFake(t, "gemini", append(geminiArgv, "--prompt", "P"), "S", trusted, Step{})
		lines := jsonLines(t, r.stdout)
		if r.prompt != "S\n\nP" || lines[1]["content"] != "S\n\nP" {
			t.Fatalf("prompt %q, echoed %v", r.prompt, lines[1]["content"])
		}
	})
	t.Run("the deltas join to the answer", func(t *testing.T) {
		r := invokeFake(t, "gemini", geminiArgv, question, trusted, Step{Answer: `{"verdict": "DONE", "feedback": "ok"}`})
		var joined strings.Builder
		for _, m := range jsonLines(t, r.stdout) {
			if m["role"] == "assistant" {
				joined.WriteString(m["content"].(string))
			}
		}
		if joined.String() != `{"verdict": "DONE", "feedback": "ok"}` {
			t.Fatalf("joined %q", joined.String())
		}
		if !strings.Contains(r.stderr, "YOLO mode is enabled") {
			t.Errorf("stderr notices missing: %s", r.stderr)
		}
	})
	t.Run("json format is one document with the last turn", func(t *testing.T) {
		r := invokeFake(t, "gemini", []string{"-o", "json", "-y"}, question, trusted, Step{Answer: "42", Tool: true})
		var doc struct {
			Response string `json:"response"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Response != "42" || !strings.Contains(r.stdout, "\n  ") {
			t.Fatalf("stdout %s: %v", r.stdout, err)
		}
	})
	t.Run("no prompt", func(t *testing.T) {
		if r := invokeFake(t, "gemini", geminiArgv, "", trusted, Step{}); r.code != 1 || !strings.Contains(r.stderr, "No input provided") {
			t.Fatalf("exit %d stderr %s", r.code, r.stderr)
		}
	})
	t.Run("unknown option", func(t *testing.T) {
		if r := invokeFake(t, "gemini", append(geminiArgv, "--full-auto"), question, trusted, Step{}); r.code == 0 {
			t.Fatalf("exit %d", r.code)
		}
	})
}
