package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/config"
	"github.com/oneshot-run/oneshot/internal/executor"
	"github.com/oneshot-run/oneshot/internal/loop"
	"github.com/oneshot-run/oneshot/internal/runfiles"
	"github.com/oneshot-run/oneshot/internal/termui"
)

// maxPrompt bounds a task read from the command line or stdin.
const maxPrompt = 1 << 20

func runFlags(e *Env, name, usageLine string) (*flagSet, *string) {
	fs := newFlagSet(e, name, usageLine)
	fs.config("executor", "executor", "executor of worker and auditor: "+strings.Join(executor.Names(), " | "))
	for _, role := range []string{"worker", "auditor"} {
		fs.config(role+"-executor", role+".executor", "executor of the "+role)
		fs.config(role+"-model", role+".model", "model of the "+role)
		fs.config(role+"-endpoint", role+".endpoint", "OpenAI-compatible base URL of the "+role+" (default http://localhost:11434/v1)")
		fs.config(role+"-command", role+".command", "argv of the "+role+" for executor command, e.g. \"python3 agent.py\"")
	}
	fs.config("max-iterations", "max_iterations", "worker runs before giving up (default 3)")
	fs.config("inactivity-timeout", "inactivity_timeout", "stop an agent that prints nothing for this long (default 5m)")
	fs.config("max-timeout", "max_timeout", "hard cap per agent run (default 1h)")
	fs.config("workdir", "workdir", "directory the agents work in (default: current directory)")
	fs.config("logs-dir", "logs_dir", "state files and activity logs (default $XDG_STATE_HOME/oneshot)")
	fs.config("output", "output", "text | json (json: one summary object on stdout)")
	cfgFile := fs.String("config", "", "configuration file (YAML or JSON)")
	return fs, cfgFile
}

func runCmd(ctx context.Context, e *Env, args []string) int {
	fs, cfgFile := runFlags(e, "run", "run [flags] PROMPT   (PROMPT - reads the task from stdin)")
	pos, err := fs.parse(args)
	if err != nil {
		return usageError(e, err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageError(e, errors.New("oneshot run needs exactly one PROMPT argument (quote it, or pass - to read it from stdin)"))
	}
	task, err := readPrompt(e, pos[0])
	if err != nil {
		return usageError(e, err)
	}
	cfg, err := fs.loadConfig(e, *cfgFile)
	if err != nil {
		return usageError(e, err)
	}
	workdir, err := filepath.Abs(cfg.Workdir)
	if err != nil {
		return usageError(e, err)
	}
	if st, err := os.Stat(workdir); err != nil || !st.IsDir() {
		return usageError(e, fmt.Errorf("workdir %s is not a directory: create it or pass --workdir", workdir))
	}
	r := &loop.Run{
		ID: newRunID(time.Now()), Task: task, Workdir: workdir, MaxIterations: cfg.MaxIterations,
		Worker: cfg.Spec("worker"), Auditor: cfg.Spec("auditor"),
		State: loop.Queued, CreatedAt: time.Now().UTC(),
	}
	return execute(ctx, e, cfg, r, cfg.Output)
}

// readPrompt returns the task: the argument itself, or stdin for "-".
func readPrompt(e *Env, arg string) (string, error) {
	text := arg
	if arg == "-" {
		b, err := io.ReadAll(io.LimitReader(e.Stdin, maxPrompt+1))
		if err != nil {
			return "", fmt.Errorf("read the task from stdin: %w", err)
		}
		text = string(b)
	}
	if len(text) > maxPrompt {
		return "", fmt.Errorf("the task is longer than %d bytes: put the details in a file in the workdir and refer to it", maxPrompt)
	}
	if strings.TrimSpace(text) == "" {
		return "", errors.New("the task is empty: pass it as an argument or on stdin with -")
	}
	return text, nil
}

// newRunID makes a sortable, unique id: time plus randomness.
func newRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// execute runs r with the configured executors, checkpointing into the logs dir, and
// prints the outcome. It is shared by run and resume.
func execute(ctx context.Context, e *Env, cfg *config.Config, r *loop.Run, output string) int {
	for _, spec := range []*executor.Spec{&r.Worker, &r.Auditor} {
		role := "worker"
		if spec == &r.Auditor {
			role = "auditor"
		}
		spec.APIKey, _ = config.APIKey(e.Getenv, role, config.Agent{Executor: spec.Executor})
	}
	worker, err := executor.New(r.Worker)
	if err != nil {
		return usageError(e, fmt.Errorf("worker: %w", err))
	}
	auditor, err := executor.New(r.Auditor)
	if err != nil {
		return usageError(e, fmt.Errorf("auditor: %w", err))
	}
	if err := os.MkdirAll(cfg.LogsDir, 0o700); err != nil {
		return usageError(e, fmt.Errorf("create logs dir: %w (pass --logs-dir)", err))
	}
	stateFile, logFile, err := runfiles.Paths(cfg.LogsDir, r.ID)
	if err != nil {
		return usageError(e, err)
	}
	if r.LastSeq, err = runfiles.LastSeq(logFile); err != nil {
		return usageError(e, fmt.Errorf("read activity log: %w", err))
	}
	log, err := runfiles.OpenLog(logFile)
	if err != nil {
		return usageError(e, err)
	}
	state := &runfiles.State{StateFile: stateFile, ActivityLog: logFile, OwnerPID: os.Getpid()}

	ui := termui.New(e.Stderr, termui.IsTerminal(e.Stderr))
	defer ui.Close()
	ui.Header(r.ID, stateFile)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
			ui.Note("interrupted: stopping the agent and saving the checkpoint…")
			cancel(loop.ErrInterrupted)
		case <-ctx.Done():
		}
	}()

	l := &loop.Loop{
		Worker: worker, Auditor: auditor,
		Checkpoint: func(_ context.Context, run *loop.Run) error {
			state.Run = *run
			return runfiles.Save(state)
		},
		Events: activity.SinkFunc(func(ev activity.Event) {
			log.Emit(ev)
			ui.Event(ev, r.MaxIterations)
		}),
	}
	runErr := l.Run(ctx, r)
	if err := log.Close(); err != nil {
		fmt.Fprintln(e.Stderr, "oneshot: warning: activity log incomplete:", err)
	}
	ui.Close()
	if runErr != nil && !errors.Is(runErr, loop.ErrInterrupted) {
		fmt.Fprintf(e.Stderr, "oneshot: %v\nThe run's last checkpoint is in %s; fix the problem and run: oneshot resume %s\n", runErr, stateFile, r.ID)
		return ExitFailed
	}
	state.Run = *r
	printSummary(e, state, output)
	return exitStatus(r.State)
}

func exitStatus(s loop.State) int {
	switch s {
	case loop.Completed:
		return ExitCompleted
	case loop.Rejected:
		return ExitRejected
	case loop.Interrupted:
		return ExitInterrupted
	}
	return ExitFailed
}

func resumeCmd(ctx context.Context, e *Env, args []string) int {
	fs := newFlagSet(e, "resume", "resume [flags] ID|PATH [PROMPT]")
	fs.config("logs-dir", "logs_dir", "where the run's files are (default $XDG_STATE_HOME/oneshot)")
	fs.config("output", "output", "text | json")
	fs.config("inactivity-timeout", "inactivity_timeout", "override the inactivity timeout")
	fs.config("max-timeout", "max_timeout", "override the maximum agent run time")
	maxIter := fs.Int("max-iterations", 0, "raise the iteration limit (resume past it)")
	force := fs.Bool("force", false, "run a completed, rejected or cancelled run again")
	cfgFile := fs.String("config", "", "configuration file")
	pos, err := fs.parse(args)
	if err != nil {
		return usageError(e, err)
	}
	if len(pos) < 1 || len(pos) > 2 {
		fs.Usage()
		return usageError(e, errors.New("oneshot resume needs a run ID or state file, and optionally a PROMPT to add to the task"))
	}
	cfg, err := fs.loadConfig(e, *cfgFile)
	if err != nil {
		return usageError(e, err)
	}
	st, err := runfiles.Load(cfg.LogsDir, pos[0])
	if err != nil {
		return usageError(e, err)
	}
	if st.OwnerPID != 0 && st.OwnerPID != os.Getpid() && !st.State.Final() && processAlive(st.OwnerPID) {
		return usageError(e, fmt.Errorf("run %s is still running in process %d: use oneshot follow %s to watch it", st.ID, st.OwnerPID, st.ID))
	}
	addition := ""
	if len(pos) == 2 {
		if addition, err = readPrompt(e, pos[1]); err != nil {
			return usageError(e, err)
		}
	}
	r := st.Run
	if r.Agent != nil {
		stopOrphan(e, r.Agent.PID)
	}
	if err := r.Prepare(addition, *maxIter, *force); err != nil {
		return usageError(e, fmt.Errorf("cannot resume %s: %w", r.ID, err))
	}
	if fs.Lookup("inactivity-timeout").Value.String() != "" {
		r.Worker.InactivityTimeout, r.Auditor.InactivityTimeout = cfg.InactivityTimeout, cfg.InactivityTimeout
	}
	if fs.Lookup("max-timeout").Value.String() != "" {
		r.Worker.MaxTimeout, r.Auditor.MaxTimeout = cfg.MaxTimeout, cfg.MaxTimeout
	}
	// Keep the run's files together even when the state file was named by path.
	cfg.LogsDir = filepath.Dir(st.StateFile)
	return execute(ctx, e, cfg, &r, cfg.Output)
}

// stopOrphan stops the agent process group a killed oneshot left behind, so a resumed
// run does not race a stale agent in the same workdir. It only signals a process that
// still leads its own group (the agent was started as a group leader), which guards
// against a recycled pid.
func stopOrphan(e *Env, pid int) {
	if pid <= 0 || !processAlive(pid) {
		return
	}
	if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
		return
	}
	fmt.Fprintf(e.Stderr, "oneshot: stopping agent process group %d left by the previous run\n", pid)
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	for i := 0; i < 50 && processAlive(pid); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// processAlive reports whether pid exists (signal 0 probes without signalling).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
