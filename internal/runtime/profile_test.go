package runtime

import (
	"errors"
	"strings"
	"testing"

	"github.com/oneshot-run/oneshot/internal/config"
	"github.com/oneshot-run/oneshot/internal/executor"
	"github.com/oneshot-run/oneshot/internal/store"
)

func TestResolveAgents(t *testing.T) {
	cfg := config.Defaults()
	cfg.Profiles = map[string]config.Profile{"default": {
		Worker:  config.Agent{Executor: "direct", Endpoint: "http://llm.internal/v1", Model: "qwen3", APIKeyEnv: "TEAM_KEY"},
		Auditor: config.Agent{Executor: "direct", Endpoint: "http://llm.internal/v1", Model: "judge-1"},
	}}
	env := map[string]string{"TEAM_KEY": "sk-team", "OPENAI_API_KEY": "sk-openai"}
	var built []executor.Spec
	newExec := func(s executor.Spec) (executor.Executor, error) {
		built = append(built, s)
		if s.Executor == "broken" {
			return nil, errors.New("no such executor")
		}
		return noopExecutor{}, nil
	}

	ag, err := resolveAgents(cfg, store.TaskSpec{Profile: "default", Model: "big-model"}, func(k string) string { return env[k] }, newExec)
	if err != nil {
		t.Fatal(err)
	}
	if ag.workerSpec.Model != "big-model" {
		t.Errorf("worker model = %q, want the task's override", ag.workerSpec.Model)
	}
	if ag.auditorSpec.Model != "judge-1" {
		t.Errorf("auditor model = %q, want the profile's (the task's model overrides the worker only)", ag.auditorSpec.Model)
	}
	if ag.workerSpec.APIKey != "sk-team" || ag.auditorSpec.APIKey != "sk-openai" {
		t.Errorf("API keys = %q / %q, want the profile's api_key_env for the worker and OPENAI_API_KEY for the auditor", ag.workerSpec.APIKey, ag.auditorSpec.APIKey)
	}
	if ag.workerSpec.Endpoint != "http://llm.internal/v1" || ag.workerSpec.InactivityTimeout != cfg.InactivityTimeout || ag.workerSpec.MaxTimeout != cfg.MaxTimeout {
		t.Errorf("worker spec = %+v, want the profile's endpoint and the configured timeouts", ag.workerSpec)
	}
	if len(built) != 2 {
		t.Fatalf("built %d executors, want 2", len(built))
	}

	_, err = resolveAgents(cfg, store.TaskSpec{Profile: "nope"}, func(string) string { return "" }, newExec)
	if err == nil || !strings.Contains(err.Error(), `profile "nope" is not configured`) {
		t.Errorf("unknown profile: error = %v", err)
	}
	cfg.Profiles["bad"] = config.Profile{Worker: config.Agent{Executor: "broken"}, Auditor: config.Agent{Executor: "direct"}}
	_, err = resolveAgents(cfg, store.TaskSpec{Profile: "bad"}, func(string) string { return "" }, newExec)
	if err == nil || !strings.Contains(err.Error(), `profile "bad": worker agent: no such executor`) {
		t.Errorf("broken executor: error = %v", err)
	}
}

func TestMaxIterations(t *testing.T) {
	cfg := config.Defaults()
	cfg.MaxIterations = 3
	cfg.MaxIterationsCap = 10
	cfg.Profiles = map[string]config.Profile{"p": {MaxIterations: 5}, "plain": {}}
	cases := []struct {
		name      string
		spec      store.TaskSpec
		run, want int
	}{
		{"the run's own", store.TaskSpec{Profile: "p", MaxIterations: 7}, 2, 2},
		{"the task's", store.TaskSpec{Profile: "p", MaxIterations: 7}, 0, 7},
		{"the profile's", store.TaskSpec{Profile: "p"}, 0, 5},
		{"the default", store.TaskSpec{Profile: "plain"}, 0, 3},
		{"capped", store.TaskSpec{Profile: "p", MaxIterations: 50}, 0, 10},
	}
	for _, c := range cases {
		if got := maxIterations(cfg, c.spec, c.run); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
