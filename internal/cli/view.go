package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/config"
	"github.com/oneshot-run/oneshot/internal/executor"
	"github.com/oneshot-run/oneshot/internal/loop"
	"github.com/oneshot-run/oneshot/internal/runfiles"
	"github.com/oneshot-run/oneshot/internal/termui"
	"github.com/oneshot-run/oneshot/internal/verdict"
)

// Summary is what `run --output json` and `view --output json` print.
type Summary struct {
	ID          string            `json:"id"`
	State       loop.State        `json:"state"`
	Phase       loop.State        `json:"phase,omitempty"`
	Iterations  int               `json:"iterations"`
	Verdict     verdict.Verdict   `json:"verdict,omitempty"`
	Feedback    string            `json:"feedback,omitempty"`
	Result      string            `json:"result"`
	Usage       executor.Usage    `json:"usage"`
	Error       string            `json:"error,omitempty"`
	ErrorKind   string            `json:"error_kind,omitempty"`
	StartedAt   *time.Time        `json:"started_at"`
	FinishedAt  *time.Time        `json:"finished_at"`
	StateFile   string            `json:"state_file"`
	ActivityLog string            `json:"activity_log"`
	History     []loop.Iteration  `json:"history,omitempty"`
	Task        string            `json:"task,omitempty"`
	Agent       *loop.Agent       `json:"agent,omitempty"`
	Extra       map[string]string `json:"-"`
}

func summarize(st *runfiles.State, history bool) Summary {
	s := Summary{
		ID: st.ID, State: st.State, Phase: st.Phase, Iterations: len(st.Iterations),
		Verdict: st.Verdict, Feedback: st.Feedback, Result: st.Result, Usage: st.Run.Usage,
		Error: st.Error, ErrorKind: st.ErrorKind, StartedAt: st.StartedAt, FinishedAt: st.FinishedAt,
		StateFile: st.StateFile, ActivityLog: st.ActivityLog, Agent: st.Agent,
	}
	if history {
		s.History, s.Task = st.Iterations, st.Task
	}
	return s
}

func printSummary(e *Env, st *runfiles.State, output string) {
	if output == "json" {
		writeJSON(e, summarize(st, false))
		return
	}
	s := summarize(st, false)
	fmt.Fprintf(e.Stdout, "%s %s after %d iteration(s)", s.ID, s.State, s.Iterations)
	if s.Verdict != "" {
		fmt.Fprintf(e.Stdout, ", verdict %s", s.Verdict)
	}
	fmt.Fprintln(e.Stdout)
	if s.Error != "" {
		fmt.Fprintf(e.Stdout, "error: %s\n", s.Error)
	}
	if s.Feedback != "" && s.State != loop.Completed {
		fmt.Fprintf(e.Stdout, "feedback: %s\n", s.Feedback)
	}
	if s.Result != "" {
		fmt.Fprintf(e.Stdout, "\n%s\n\n", strings.TrimSpace(s.Result))
	}
	fmt.Fprintf(e.Stdout, "usage: %d input tokens, %d output tokens, $%.4f\n", s.Usage.InputTokens, s.Usage.OutputTokens, s.Usage.CostUSD)
	switch s.State {
	case loop.Failed, loop.Interrupted:
		fmt.Fprintf(e.Stdout, "continue with: oneshot resume %s\n", s.ID)
	}
}

// loadRun parses the flags of a command that takes one run (ID or state file path) and
// loads that run's state. A non-zero status means the caller should return it.
func loadRun(e *Env, fs *flagSet, name string, args []string) (*config.Config, *runfiles.State, int) {
	pos, err := fs.parse(args)
	if err != nil {
		return nil, nil, usageError(e, err)
	}
	if len(pos) != 1 {
		return nil, nil, usageError(e, fmt.Errorf("oneshot %s needs one run ID or state file path", name))
	}
	cfg, err := fs.loadConfig(e, "")
	if err != nil {
		return nil, nil, usageError(e, err)
	}
	st, err := runfiles.Load(cfg.LogsDir, pos[0])
	if err != nil {
		return nil, nil, usageError(e, err)
	}
	return cfg, st, 0
}

func writeJSON(e *Env, v any) {
	enc := json.NewEncoder(e.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func viewCmd(_ context.Context, e *Env, args []string) int {
	fs := newFlagSet(e, "view", "view [flags] ID|PATH")
	fs.config("logs-dir", "logs_dir", "where the run's files are")
	fs.config("output", "output", "text | json")
	cfg, st, status := loadRun(e, fs, "view", args)
	if st == nil {
		return status
	}
	if cfg.Output == "json" {
		writeJSON(e, summarize(st, true))
		return 0
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "run\t%s\nstate\t%s\n", st.ID, st.State)
	if st.Phase != "" {
		fmt.Fprintf(tw, "stopped in\t%s\n", st.Phase)
	}
	fmt.Fprintf(tw, "task\t%s\n", firstLine(st.Task))
	fmt.Fprintf(tw, "worker\t%s %s\nauditor\t%s %s\n", st.Worker.Executor, st.Worker.Model, st.Auditor.Executor, st.Auditor.Model)
	fmt.Fprintf(tw, "usage\t%d in, %d out, $%.4f\n", st.Run.Usage.InputTokens, st.Run.Usage.OutputTokens, st.Run.Usage.CostUSD)
	if st.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", st.Error)
	}
	fmt.Fprintf(tw, "state file\t%s\nactivity log\t%s\n", st.StateFile, st.ActivityLog)
	tw.Flush()
	for _, it := range st.Iterations {
		fmt.Fprintf(e.Stdout, "\niteration %d\n  worker: %s\n", it.N, oneLine(it.WorkerResult, 200))
		if it.Verdict != "" {
			fmt.Fprintf(e.Stdout, "  verdict: %s\n  feedback: %s\n", it.Verdict, oneLine(it.Feedback, 400))
		}
	}
	if st.Result != "" {
		fmt.Fprintf(e.Stdout, "\nresult:\n%s\n", strings.TrimSpace(st.Result))
	}
	return 0
}

func followCmd(ctx context.Context, e *Env, args []string) int {
	fs := newFlagSet(e, "follow", "follow [flags] ID|PATH")
	fs.config("logs-dir", "logs_dir", "where the run's files are")
	cfg, st, status := loadRun(e, fs, "follow", args)
	if st == nil {
		return status
	}
	ui := termui.New(e.Stderr, termui.IsTerminal(e.Stderr))
	defer ui.Close()
	finished := func() bool {
		cur, err := runfiles.Load(cfg.LogsDir, st.StateFile)
		if err != nil {
			return true
		}
		st = cur
		return cur.State.Final() || !processAlive(cur.OwnerPID)
	}
	err := runfiles.Follow(ctx, st.ActivityLog, 200*time.Millisecond, finished, func(ev activity.Event) error {
		ui.Event(ev, st.MaxIterations)
		return nil
	})
	ui.Close()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(e.Stderr, "oneshot:", err)
		return ExitFailed
	}
	if !st.State.Final() {
		fmt.Fprintf(e.Stderr, "oneshot: the process running %s has stopped without finishing; continue with: oneshot resume %s\n", st.ID, st.ID)
	}
	printSummary(e, st, "text")
	return exitStatus(st.State)
}

func configCmd(_ context.Context, e *Env, args []string) int {
	if len(args) == 0 || args[0] != "show" {
		return usageError(e, errors.New("usage: oneshot config show [--config FILE] [--output json]"))
	}
	// The run flags are accepted too, so `config show --worker-model x` shows their effect.
	fs, cfgFile := runFlags(e, "config show", "config show [run flags] [--output json]")
	if _, err := fs.parse(args[1:]); err != nil {
		return usageError(e, err)
	}
	cfg, err := fs.loadConfig(e, *cfgFile)
	if err != nil {
		return usageError(e, err)
	}
	entries := cfg.Entries()
	if cfg.Output == "json" {
		writeJSON(e, entries)
		return 0
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tFROM")
	for _, en := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", en.Key, en.Value, en.Origin)
	}
	tw.Flush()
	fmt.Fprintln(e.Stdout, "\nAPI keys (from the environment only):")
	for _, role := range []string{"worker", "auditor"} {
		a := cfg.Worker
		if role == "auditor" {
			a = cfg.Auditor
		}
		if _, from := config.APIKey(e.Getenv, role, config.Agent{Executor: a.Executor}); from != "" {
			fmt.Fprintf(e.Stdout, "  %s: set, from %s\n", role, from)
		} else {
			fmt.Fprintf(e.Stdout, "  %s: not set (ONESHOT_%s_API_KEY)\n", role, strings.ToUpper(role))
		}
	}
	return 0
}

func firstLine(s string) string { return oneLine(s, 120) }

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
