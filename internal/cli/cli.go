// Package cli implements the oneshot command line. Results go to stdout, progress and
// errors to stderr, and every error says what to do next.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/oneshot-run/oneshot/internal/config"
)

// Exit statuses.
const (
	ExitCompleted   = 0
	ExitFailed      = 1
	ExitUsage       = 2
	ExitRejected    = 3
	ExitInterrupted = 130
)

// Env is what a command needs from the process: arguments aside, its streams and
// environment. Tests run commands in-process with their own Env.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Environ        func() []string
	Version        string
	// Sources overrides where configuration is read from (tests).
	Sources *config.Sources
}

// OSEnv returns the real process environment.
func OSEnv(version string) *Env {
	return &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Environ: os.Environ, Version: version}
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *Env, args []string) int
}

func commands() []command {
	return []command{
		{"run", "run the worker→auditor loop on a task", runCmd},
		{"resume", "continue a run from its last checkpoint", resumeCmd},
		{"view", "show a run's state, iterations, verdicts and result", viewCmd},
		{"follow", "tail a run's live activity until it ends", followCmd},
		{"config", "show the effective configuration (config show)", configCmd},
		{"serve", "run the HTTP API and dashboard (and in-process workers)", serveCmd},
		{"worker", "run queue workers only (health and metrics on --addr)", workerCmd},
		{"migrate", "create or upgrade the database schema", migrateCmd},
		{"healthcheck", "probe a readiness URL; exit 0 when ready (container health checks)", healthcheckCmd},
		{"token", "create or revoke API tokens", tokenCmd},
		{"deploy", "render a release's ECS task definitions for an environment (deploy render)", deployCmd},
		{"version", "print the version", func(_ context.Context, e *Env, _ []string) int {
			fmt.Fprintln(e.Stdout, "oneshot", e.Version)
			return 0
		}},
	}
}

// Main runs the command line and returns the exit status.
func Main(ctx context.Context, e *Env, args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.Stderr, cmds)
		if len(args) == 0 {
			return ExitUsage
		}
		return 0
	}
	for _, c := range cmds {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(e.Stderr, "oneshot: unknown command %q\n\n", args[0])
	usage(e.Stderr, cmds)
	return ExitUsage
}

func usage(w io.Writer, cmds []command) {
	fmt.Fprintln(w, "Usage: oneshot COMMAND [flags] [args]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'oneshot COMMAND -h' for the flags of a command.")
}

// flagSet is a flag.FlagSet whose flags can be bound to configuration keys, so values
// given on the command line take precedence and `config show` can say where they came from.
type flagSet struct {
	*flag.FlagSet
	bound map[string]string // flag name -> config key
}

func newFlagSet(e *Env, name, usageLine string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.Stderr, "Usage: oneshot %s\n\nFlags:\n", usageLine)
		fs.PrintDefaults()
	}
	return &flagSet{FlagSet: fs, bound: map[string]string{}}
}

// config declares a string flag that sets config key when given.
func (f *flagSet) config(name, key, help string) {
	f.String(name, "", help)
	f.bound[name] = key
}

// parse parses args, allowing flags after positional arguments ("run 'task' --executor
// claude"), and returns the positional arguments. "--" ends flag parsing.
func (f *flagSet) parse(args []string) ([]string, error) {
	var positional []string
	for {
		if err := f.Parse(args); err != nil {
			return nil, err
		}
		rest := f.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// loadConfig loads the configuration and applies the bound flags that were set.
func (f *flagSet) loadConfig(e *Env, explicit string) (*config.Config, error) {
	src := config.DefaultSources()
	if e.Sources != nil {
		src = *e.Sources
	}
	if e.Environ != nil {
		src.Environ = e.Environ()
	}
	if explicit != "" {
		src.ExplicitFile = explicit
	}
	c, warnings, err := config.Load(src)
	for _, w := range warnings {
		fmt.Fprintln(e.Stderr, "oneshot: warning:", w)
	}
	if err != nil {
		return nil, err
	}
	var setErr error
	f.Visit(func(fl *flag.Flag) {
		key, ok := f.bound[fl.Name]
		if !ok || setErr != nil {
			return
		}
		setErr = c.Set(key, fl.Value.String(), "flag --"+fl.Name)
	})
	if setErr != nil {
		return nil, setErr
	}
	return c, c.Validate()
}

// usageError prints err with a hint and returns ExitUsage.
func usageError(e *Env, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "oneshot") {
		msg = "oneshot: " + msg
	}
	fmt.Fprintln(e.Stderr, msg)
	return ExitUsage
}
