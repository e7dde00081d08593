package executor

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/fakeagent"
)

func TestAiderArgv(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want []string
	}{
		{"defaults", Spec{},
			[]string{"aider", "--yes-always", "--exit", "--no-pretty", "--no-stream", "--no-check-update",
				"--no-show-model-warnings", "--message-file", "prompt-file.md"}},
		{"model and extra args", Spec{Model: "ollama_chat/qwen2.5-coder", ExtraArgs: []string{"--no-auto-commits"}},
			[]string{"aider", "--yes-always", "--exit", "--no-pretty", "--no-stream", "--no-check-update",
				"--no-show-model-warnings", "--model", "ollama_chat/qwen2.5-coder", "--message-file", "prompt-file.md",
				"--no-auto-commits"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := (&aiderExecutor{spec: tt.spec}).argv("prompt-file.md")
			if !slices.Equal(got, tt.want) {
				t.Errorf("argv\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// Transcripts in the shape aider's --no-pretty output has (announcements from
// Coder.get_announcements and main, the reply, the usage report, edit and commit
// notices, litellm errors), written for these tests.
const (
	aiderEdit = `Aider v0.86.1
Main model: gpt-4o with diff edit format
Weak model: gpt-4o-mini
Git repo: .git with 3 files
Repo-map: using 4096 tokens, auto refresh
Added .aider* to .gitignore
Use /help <question> for help, run "aider --help" to see cmd line args

I'll add the greeting to hello.py.

hello.py
<<<<<<< SEARCH
=======
print("hello")
>>>>>>> REPLACE

Tokens: 2.3k sent, 1.1k cache write, 105 received. Cost: $0.0068 message, $0.0068 session.
Applied edit to hello.py
Commit 1a2b3c4 feat: print hello
`
	aiderTwoCalls = `Aider v0.86.1
Model: ollama_chat/qwen2.5-coder with whole edit format
Git repo: none
Repo-map: disabled
Use /help <question> for help, run "aider --help" to see cmd line args

Warning: the reply mentions ValueError: that is part of the answer.
Tokens: 12,345 sent, 300 received.
Second part.
Tokens: 1.2M sent, 2k received. Cost: $1.50 message, $1.50 session.
`
	aiderAPIFailure = `Aider v0.86.1
Model: gpt-4o with diff edit format
Git repo: none
Repo-map: disabled
Use /help <question> for help, run "aider --help" to see cmd line args

litellm.InternalServerError: OpenAIException - Internal Server Error
The API provider's servers are down or overloaded.
Retrying in 0.2 seconds...
litellm.InternalServerError: OpenAIException - Internal Server Error
The API provider's servers are down or overloaded.
`
)

func TestAiderStream(t *testing.T) {
	tests := []struct {
		name       string
		transcript string
		exitCode   int
		wantAnswer string
		wantUsage  Usage
		wantErr    error
		wantInErr  string
		want       map[activity.Type][]string
	}{
		{
			name: "edit", transcript: aiderEdit,
			wantAnswer: "I'll add the greeting to hello.py.\n\nhello.py\n<<<<<<< SEARCH\n=======\nprint(\"hello\")\n>>>>>>> REPLACE",
			wantUsage:  Usage{InputTokens: 2300, OutputTokens: 105, CostUSD: 0.0068},
			want: map[activity.Type][]string{
				activity.Preamble: {"Aider v0.86.1", "Main model: gpt-4o with diff edit format", "Weak model: gpt-4o-mini",
					"Git repo: .git with 3 files", "Repo-map: using 4096 tokens, auto refresh", "Added .aider* to .gitignore",
					`Use /help <question> for help, run "aider --help" to see cmd line args`},
				activity.ToolUse: {"Applied edit to hello.py", "Commit 1a2b3c4 feat: print hello"},
				activity.Usage:   {"Tokens: 2.3k sent, 1.1k cache write, 105 received. Cost: $0.0068 message, $0.0068 session."},
			},
		},
		{
			name: "two model calls, commas and millions", transcript: aiderTwoCalls,
			wantAnswer: "Warning: the reply mentions ValueError: that is part of the answer.\nSecond part.",
			wantUsage:  Usage{InputTokens: 1_212_345, OutputTokens: 2300, CostUSD: 1.50},
		},
		{
			name: "model API failure: aider exits 0 without an answer", transcript: aiderAPIFailure,
			wantErr: ErrModelAPI, wantInErr: "litellm.InternalServerError",
			want: map[activity.Type][]string{activity.Error: {
				"litellm.InternalServerError: OpenAIException - Internal Server Error",
				"The API provider's servers are down or overloaded.",
				"Retrying in 0.2 seconds...",
				"litellm.InternalServerError: OpenAIException - Internal Server Error",
				"The API provider's servers are down or overloaded.",
			}},
		},
		{name: "no answer at all", transcript: "Aider v0.86.1\nGit repo: none\n", wantErr: ErrAgent},
		{name: "non-zero exit even with an answer", transcript: aiderEdit, exitCode: 1, wantErr: ErrExit,
			wantInErr: "status 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newAiderStream()
			events := feed(s, lines(strings.TrimSuffix(tt.transcript, "\n")))
			events.validate(t)
			res, err := s.result(tt.exitCode, nil)
			for typ, want := range tt.want {
				if got := events.texts(typ); !slices.Equal(got, want) {
					t.Errorf("%s events\n got %q\nwant %q", typ, got, want)
				}
			}
			if tt.wantErr != nil {
				checkError(t, err, []error{tt.wantErr}, tt.wantInErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != tt.wantAnswer {
				t.Errorf("answer\n got %q\nwant %q", res.Text, tt.wantAnswer)
			}
			if res.Usage != tt.wantUsage {
				t.Errorf("usage %+v, want %+v", res.Usage, tt.wantUsage)
			}
		})
	}
}

func TestAiderExecutorWithFakeAider(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		step       *fakeagent.Step
		prompt     string
		wantAnswer string
		wantErr    error
		wantTools  []string
	}{
		{name: "answer", prompt: "add a README", wantAnswer: fakeagent.DefaultAnswer},
		{name: "verdict", prompt: "reply with a verdict", wantAnswer: fakeagent.DefaultVerdict},
		{name: "edit", step: &fakeagent.Step{Tool: true, Answer: "Added it."}, wantAnswer: "Added it.",
			wantTools: []string{"Applied edit to README.md", "Commit 1a2b3c4 docs: update README"}},
		{name: "model API failure", step: &fakeagent.Step{Behaviour: "api-error"}, wantErr: ErrModelAPI},
		{name: "exit status", step: &fakeagent.Step{Behaviour: "exit:2"}, wantErr: ErrExit},
		{name: "crash", step: &fakeagent.Step{Behaviour: "crash"}, wantErr: ErrExit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFakeAgents(t, "aider")
			if tt.step != nil {
				fake.script(t, *tt.step)
			}
			res, events, err := runExecutor(t, Spec{Executor: "aider", Model: "ollama_chat/qwen2.5-coder"}, fake.request(tt.prompt))
			if tt.wantErr != nil {
				checkError(t, err, []error{tt.wantErr})
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != tt.wantAnswer {
				t.Errorf("answer %q, want %q", res.Text, tt.wantAnswer)
			}
			if res.Usage != (Usage{InputTokens: 2100, OutputTokens: 57, CostUSD: 0.0058}) {
				t.Errorf("usage %+v", res.Usage)
			}
			if got := events.texts(activity.ToolUse); !slices.Equal(got, tt.wantTools) {
				t.Errorf("tool_use events %q, want %q", got, tt.wantTools)
			}
			if len(events.texts(activity.Preamble)) == 0 {
				t.Error("aider's announcements were not preamble events")
			}

			recs := fake.records(t)
			if len(recs) != 1 {
				t.Fatalf("%d invocations", len(recs))
			}
			args := recs[0].Args
			i := slices.Index(args, "--model")
			if i < 0 || i+1 >= len(args) || args[i+1] != "ollama_chat/qwen2.5-coder" {
				t.Errorf("the model did not reach aider: %q", args)
			}
			if recs[0].Prompt != tt.prompt {
				t.Errorf("aider read %q from its message file, want %q", recs[0].Prompt, tt.prompt)
			}
			file := args[slices.Index(args, "--message-file")+1]
			if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the prompt file %s is still there after the run (%v)", file, err)
			}
			if insideDir(file, fake.Workdir) {
				t.Errorf("the prompt file %s is inside the working directory", file)
			}
		})
	}
}

func TestWritePromptFile(t *testing.T) {
	work := t.TempDir()
	path, cleanup, err := writePromptFile("the prompt", work)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "the prompt" {
		t.Fatalf("read %q, %v", b, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("prompt file mode %v, want 0600", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Dir(path)); fi.Mode().Perm() != 0o700 {
		t.Errorf("prompt directory mode %v, want 0700", fi.Mode().Perm())
	}
	cleanup()
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cleanup left %s", filepath.Dir(path))
	}

	// A working directory that contains the temporary directory pushes the file elsewhere.
	path, cleanup, err = writePromptFile("p", os.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if insideDir(path, os.TempDir()) {
		t.Errorf("%s is inside the working directory %s", path, os.TempDir())
	}
}

func BenchmarkAiderStream(b *testing.B) {
	reply := strings.Join(strings.Split(aiderEdit, "\n")[7:], "\n") // the reply and its reports, repeated
	benchParser(b, func() streamParser { return newAiderStream() }, lines(strings.TrimSuffix(strings.Repeat(reply, 100), "\n")))
}
