package runtime

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/oneshot-run/oneshot/internal/config"
	"github.com/oneshot-run/oneshot/internal/executor"
	"github.com/oneshot-run/oneshot/internal/store"
)

// agents are the two executors of a task and the specs they were built from.
type agents struct {
	worker, auditor         executor.Executor
	workerSpec, auditorSpec executor.Spec
}

// resolveAgents builds the task's executors from this worker's own configuration: the
// profile named by the task (never endpoints or commands stored with the task, so a
// database row cannot point a worker's API key at another host). The task's model, when
// set, replaces the worker agent's model only: the auditor is the operator's judge and
// keeps the profile's model. API keys come from this process's environment
// (config.APIKey) and are never stored: executor.Spec does not serialise them.
func resolveAgents(cfg *config.Config, spec store.TaskSpec, getenv func(string) string,
	newExecutor func(executor.Spec) (executor.Executor, error)) (*agents, error) {
	p, ok := cfg.Profiles[spec.Profile]
	if !ok {
		names := make([]string, 0, len(cfg.Profiles))
		for n := range cfg.Profiles {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("profile %q is not configured on worker process: configured profiles are [%s]; add it to the workers' config (profiles:) or resubmit the task with one of those",
			spec.Profile, strings.Join(names, ", "))
	}
	build := func(role string, a config.Agent, model string) (executor.Executor, executor.Spec, error) {
		s := executor.Spec{
			Executor: a.Executor, Model: a.Model, Endpoint: a.Endpoint,
			Command: slices.Clone(a.Command), ExtraArgs: slices.Clone(a.ExtraArgs),
			InactivityTimeout: cfg.InactivityTimeout, MaxTimeout: cfg.MaxTimeout,
		}
		if model != "" {
			s.Model = model
		}
		s.APIKey, _ = config.APIKey(getenv, role, a)
		ex, err := newExecutor(s)
		if err != nil {
			return nil, executor.Spec{}, fmt.Errorf("profile %q: %s agent: %w", spec.Profile, role, err)
		}
		return ex, s, nil
	}
	var (
		out agents
		err error
	)
	if out.worker, out.workerSpec, err = build("worker", p.Worker, spec.Model); err != nil {
		return nil, err
	}
	if out.auditor, out.auditorSpec, err = build("auditor", p.Auditor, ""); err != nil {
		return nil, err
	}
	return &out, nil
}

// maxIterations is the task's iteration limit: the run's own when the API set one, else
// the task's, the profile's, or the configuration's default, never above the cap.
func maxIterations(cfg *config.Config, spec store.TaskSpec, runMax int) int {
	n := runMax
	if n <= 0 {
		n = spec.MaxIterations
	}
	if n <= 0 {
		n = cfg.Profiles[spec.Profile].MaxIterations
	}
	if n <= 0 {
		n = cfg.MaxIterations
	}
	if n <= 0 {
		n = 3
	}
	if cfg.MaxIterationsCap > 0 && n > cfg.MaxIterationsCap {
		n = cfg.MaxIterationsCap
	}
	return n
}
