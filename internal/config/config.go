// Package config loads Oneshot's configuration from layered sources and remembers where
// each value came from.
//
// Precedence, lowest first: built-in defaults, the user file
// (~/.config/oneshot/config.yaml), the project file (./oneshot.yaml), a file named with
// --config, ONESHOT_CONFIG_YAML (a whole file in one variable, as ECS injects it from SSM),
// ONESHOT_* environment variables, then flags. Files may be YAML or JSON. Unknown keys are
// warnings; invalid values are errors naming the source, the key and what is allowed.
//
// API keys are never configuration values: they come from environment variables only
// (see APIKey), so they never land in files, flags, task records or `config show`.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/oneshot-run/oneshot/internal/executor"
)

// Agent configures one of the two agents.
type Agent struct {
	Executor  string   `yaml:"executor" json:"executor"`
	Model     string   `yaml:"model,omitempty" json:"model,omitempty"`
	Endpoint  string   `yaml:"endpoint,omitempty" json:"endpoint,omitempty"`
	Command   []string `yaml:"command,omitempty" json:"command,omitempty"`
	ExtraArgs []string `yaml:"extra_args,omitempty" json:"extra_args,omitempty"`
	// APIKeyEnv names the environment variable that holds this agent's API key (profiles).
	APIKeyEnv string `yaml:"api_key_env,omitempty" json:"api_key_env,omitempty"`
}

// Profile is a named pair of agents that API clients choose by name.
type Profile struct {
	Worker        Agent `yaml:"worker" json:"worker"`
	Auditor       Agent `yaml:"auditor" json:"auditor"`
	MaxIterations int   `yaml:"max_iterations,omitempty" json:"max_iterations,omitempty"`
}

// Config is the effective configuration.
type Config struct {
	Worker            Agent
	Auditor           Agent
	MaxIterations     int
	InactivityTimeout time.Duration
	MaxTimeout        time.Duration
	Workdir           string
	LogsDir           string
	Output            string

	// Service settings.
	Addr             string
	DataDir          string
	DatabaseURL      string
	Workers          int
	DrainTimeout     time.Duration
	MaxIterationsCap int
	MaxAttempts      int
	RescueAfter      time.Duration
	RepoAllowlist    []string
	EMFNamespace     string
	EMFInterval      time.Duration
	Profiles         map[string]Profile

	origin map[string]string
}

// Origin says where the value of key came from ("default" when nothing set it).
func (c *Config) Origin(key string) string {
	if o, ok := c.origin[key]; ok {
		return o
	}
	return "default"
}

// Spec returns the executor spec of an agent with the run's timeouts. The API key is
// filled from the environment (see APIKey).
func (c *Config) Spec(role string) executor.Spec {
	a := c.Worker
	if role == "auditor" {
		a = c.Auditor
	}
	return executor.Spec{
		Executor: a.Executor, Model: a.Model, Endpoint: a.Endpoint,
		Command: a.Command, ExtraArgs: a.ExtraArgs,
		InactivityTimeout: c.InactivityTimeout, MaxTimeout: c.MaxTimeout,
	}
}

// APIKey returns the API key of a role's agent and the variable it came from:
// ONESHOT_WORKER_API_KEY / ONESHOT_AUDITOR_API_KEY, then the agent's api_key_env, then
// OPENAI_API_KEY for the direct executor.
func APIKey(getenv func(string) string, role string, a Agent) (key, from string) {
	candidates := []string{"ONESHOT_" + strings.ToUpper(role) + "_API_KEY"}
	if a.APIKeyEnv != "" {
		candidates = append(candidates, a.APIKeyEnv)
	}
	if a.Executor == "direct" {
		candidates = append(candidates, "OPENAI_API_KEY")
	}
	for _, name := range candidates {
		if v := getenv(name); v != "" {
			return v, name
		}
	}
	return "", ""
}

// field is one configuration key.
type field struct {
	key  string
	help string
	set  func(c *Config, v string) error
	get  func(c *Config) string
}

func fields() []field {
	agentFields := func(role string, a func(*Config) *Agent) []field {
		return []field{
			{role + ".executor", "executor of the " + role + ": " + strings.Join(executor.Names(), " | "),
				func(c *Config, v string) error { return setExecutor(&a(c).Executor, v) },
				func(c *Config) string { return a(c).Executor }},
			{role + ".model", "model of the " + role,
				func(c *Config, v string) error { a(c).Model = v; return nil },
				func(c *Config) string { return a(c).Model }},
			{role + ".endpoint", "OpenAI-compatible base URL for the direct executor",
				func(c *Config, v string) error { return setURL(&a(c).Endpoint, v) },
				func(c *Config) string { return a(c).Endpoint }},
			{role + ".command", "argv for the command executor",
				func(c *Config, v string) error { return setArgv(&a(c).Command, v) },
				func(c *Config) string { return joinArgv(a(c).Command) }},
			{role + ".extra_args", "extra arguments appended to a CLI agent's command line",
				func(c *Config, v string) error { return setArgv(&a(c).ExtraArgs, v) },
				func(c *Config) string { return joinArgv(a(c).ExtraArgs) }},
		}
	}
	fs := []field{
		{"executor", "executor of both agents (worker.executor / auditor.executor override it)",
			func(c *Config, v string) error {
				if err := setExecutor(&c.Worker.Executor, v); err != nil {
					return err
				}
				c.Auditor.Executor = v
				return nil
			},
			func(c *Config) string {
				if c.Worker.Executor == c.Auditor.Executor {
					return c.Worker.Executor
				}
				return ""
			}},
	}
	fs = append(fs, agentFields("worker", func(c *Config) *Agent { return &c.Worker })...)
	fs = append(fs, agentFields("auditor", func(c *Config) *Agent { return &c.Auditor })...)
	fs = append(fs,
		intField("max_iterations", "worker runs before giving up", 1, 1000, func(c *Config) *int { return &c.MaxIterations }),
		durField("inactivity_timeout", "stop an agent that prints nothing for this long", func(c *Config) *time.Duration { return &c.InactivityTimeout }),
		durField("max_timeout", "hard cap on one agent run", func(c *Config) *time.Duration { return &c.MaxTimeout }),
		strField("workdir", "directory the agents work in", func(c *Config) *string { return &c.Workdir }),
		strField("logs_dir", "where state files and activity logs go", func(c *Config) *string { return &c.LogsDir }),
		field{"output", "text | json",
			func(c *Config, v string) error {
				if v != "text" && v != "json" {
					return fmt.Errorf("must be text or json")
				}
				c.Output = v
				return nil
			},
			func(c *Config) string { return c.Output }},
		strField("addr", "HTTP listen address of serve (health and metrics for worker)", func(c *Config) *string { return &c.Addr }),
		strField("data_dir", "where serve keeps its SQLite database", func(c *Config) *string { return &c.DataDir }),
		field{"database_url", "PostgreSQL URL (postgres://...); empty means embedded SQLite",
			func(c *Config, v string) error {
				if v != "" && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
					return fmt.Errorf("must start with postgres:// or postgresql://")
				}
				c.DatabaseURL = v
				return nil
			},
			func(c *Config) string { return redactURL(c.DatabaseURL) }},
		intField("workers", "task slots of this process (0 = API only)", 0, 1000, func(c *Config) *int { return &c.Workers }),
		durField("drain_timeout", "how long in-flight tasks get to finish on SIGTERM (under 120s)", func(c *Config) *time.Duration { return &c.DrainTimeout }),
		intField("max_iterations_cap", "highest max_iterations a task may ask for", 1, 1000, func(c *Config) *int { return &c.MaxIterationsCap }),
		intField("max_attempts", "times a task is started before it fails for good", 1, 100, func(c *Config) *int { return &c.MaxAttempts }),
		durField("rescue_after", "a task whose worker stopped heartbeating for this long is picked up elsewhere", func(c *Config) *time.Duration { return &c.RescueAfter }),
		field{"repo_allowlist", "https URL prefixes tasks may clone from (comma separated; empty = any https)",
			func(c *Config, v string) error { c.RepoAllowlist = splitList(v); return nil },
			func(c *Config) string { return strings.Join(c.RepoAllowlist, ",") }},
		strField("emf_namespace", "CloudWatch namespace for EMF metrics (empty = off)", func(c *Config) *string { return &c.EMFNamespace }),
		durField("emf_interval", "how often the EMF line is printed (with emf_namespace)", func(c *Config) *time.Duration { return &c.EMFInterval }),
	)
	return fs
}

// Defaults returns the built-in configuration.
func Defaults() *Config {
	state := os.Getenv("XDG_STATE_HOME")
	data := os.Getenv("XDG_DATA_HOME")
	if home, err := os.UserHomeDir(); err == nil {
		if state == "" {
			state = filepath.Join(home, ".local", "state")
		}
		if data == "" {
			data = filepath.Join(home, ".local", "share")
		}
	}
	local := Agent{Executor: "direct", Endpoint: "http://localhost:11434/v1"}
	return &Config{
		Worker: local, Auditor: local,
		MaxIterations:     3,
		InactivityTimeout: executor.DefaultInactivityTimeout,
		MaxTimeout:        executor.DefaultMaxTimeout,
		Workdir:           ".",
		LogsDir:           filepath.Join(state, "oneshot"),
		Output:            "text",
		Addr:              "127.0.0.1:8080",
		DataDir:           filepath.Join(data, "oneshot"),
		Workers:           4,
		DrainTimeout:      90 * time.Second,
		MaxIterationsCap:  10,
		MaxAttempts:       5,
		RescueAfter:       time.Minute,
		EMFInterval:       time.Minute,
		// A profile that works against a local Ollama, so a fresh `oneshot serve` runs
		// tasks without any configuration. Operators define their own in the config file.
		Profiles: map[string]Profile{"default": {
			Worker:  Agent{Executor: "direct", Endpoint: "http://localhost:11434/v1", Model: "qwen3"},
			Auditor: Agent{Executor: "direct", Endpoint: "http://localhost:11434/v1", Model: "qwen3"},
		}},
		origin: map[string]string{},
	}
}

// Set sets key to v, recording origin. It is how flags and environment variables apply.
func (c *Config) Set(key, v, origin string) error {
	for _, f := range fields() {
		if f.key == key {
			if err := f.set(c, v); err != nil {
				return fmt.Errorf("%s: %s = %q: %w", origin, key, v, err)
			}
			c.origin[key] = origin
			if key == "executor" {
				c.origin["worker.executor"], c.origin["auditor.executor"] = origin, origin
			}
			return nil
		}
	}
	return fmt.Errorf("%s: unknown key %q", origin, key)
}

// Entry is one line of `config show`.
type Entry struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Origin string `json:"origin"`
	Help   string `json:"help"`
}

// Entries lists every key with its effective value and origin.
func (c *Config) Entries() []Entry {
	var out []Entry
	for _, f := range fields() {
		out = append(out, Entry{f.key, f.get(c), c.Origin(f.key), f.help})
	}
	names := make([]string, 0, len(c.Profiles))
	for n := range c.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := c.Profiles[n]
		out = append(out, Entry{"profiles." + n, fmt.Sprintf("worker=%s/%s auditor=%s/%s max_iterations=%d",
			p.Worker.Executor, p.Worker.Model, p.Auditor.Executor, p.Auditor.Model, p.MaxIterations),
			c.Origin("profiles." + n), "executor profile"})
	}
	return out
}

// Validate checks what single keys cannot: combinations.
func (c *Config) Validate() error {
	for _, role := range []string{"worker", "auditor"} {
		a := c.Worker
		if role == "auditor" {
			a = c.Auditor
		}
		if a.Executor == "command" && len(a.Command) == 0 {
			return fmt.Errorf("%s.executor is command but %s.command is empty: pass --%s-command \"PROGRAM ARGS\" or set %s.command in the config file", role, role, role, role)
		}
	}
	if c.DrainTimeout >= 120*time.Second {
		return fmt.Errorf("drain_timeout %s (from %s) must be below 120s, the ECS stop timeout", c.DrainTimeout, c.Origin("drain_timeout"))
	}
	for name, p := range c.Profiles {
		for role, a := range map[string]Agent{"worker": p.Worker, "auditor": p.Auditor} {
			if err := setExecutor(new(string), a.Executor); err != nil {
				return fmt.Errorf("profile %q (from %s): %s.executor: %w", name, c.Origin("profiles."+name), role, err)
			}
			if a.Executor == "command" && len(a.Command) == 0 {
				return fmt.Errorf("profile %q: %s uses the command executor but has no command", name, role)
			}
		}
	}
	return nil
}

func setExecutor(dst *string, v string) error {
	for _, n := range executor.Names() {
		if v == n {
			*dst = v
			return nil
		}
	}
	return fmt.Errorf("unknown executor; use one of %s", strings.Join(executor.Names(), ", "))
}

func setURL(dst *string, v string) error {
	if v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
		return fmt.Errorf("must be an http:// or https:// URL")
	}
	*dst = strings.TrimRight(v, "/")
	return nil
}

func setArgv(dst *[]string, v string) error {
	argv, err := SplitArgv(v)
	if err != nil {
		return err
	}
	*dst = argv
	return nil
}

func strField(key, help string, p func(*Config) *string) field {
	return field{key, help,
		func(c *Config, v string) error { *p(c) = v; return nil },
		func(c *Config) string { return *p(c) }}
}

func intField(key, help string, lo, hi int, p func(*Config) *int) field {
	return field{key, help,
		func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < lo || n > hi {
				return fmt.Errorf("must be a whole number from %d to %d", lo, hi)
			}
			*p(c) = n
			return nil
		},
		func(c *Config) string { return strconv.Itoa(*p(c)) }}
}

func durField(key, help string, p func(*Config) *time.Duration) field {
	return field{key, help,
		func(c *Config, v string) error {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || d <= 0 {
				return fmt.Errorf("must be a positive duration such as 90s, 5m or 1h")
			}
			*p(c) = d
			return nil
		},
		func(c *Config) string { return p(c).String() }}
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func joinArgv(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		parts[i] = shellQuote(a)
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes a word so that SplitArgv gives it back unchanged.
func shellQuote(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t\n'\"\\") {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

// redactURL hides a password in a URL for display.
func redactURL(u string) string {
	at := strings.LastIndexByte(u, '@')
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 {
		return u
	}
	userinfo := u[scheme+3 : at]
	if i := strings.IndexByte(userinfo, ':'); i >= 0 {
		return u[:scheme+3] + userinfo[:i] + ":xxxxx" + u[at:]
	}
	return u
}

// SplitArgv splits a command line the way a POSIX shell splits words, with single and
// double quotes and backslash escapes, and nothing else (no variables, no globbing).
func SplitArgv(s string) ([]string, error) {
	var (
		out   []string
		cur   strings.Builder
		inTok bool
		quote rune
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			if r == '"' {
				quote = 0
			} else if r == '\\' && i+1 < len(rs) && strings.ContainsRune(`"\$`+"`", rs[i+1]) {
				i++
				cur.WriteRune(rs[i])
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inTok = r, true
		case r == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			inTok = true
		case r == ' ' || r == '\t' || r == '\n':
			if inTok {
				out = append(out, cur.String())
				cur.Reset()
				inTok = false
			}
		default:
			cur.WriteRune(r)
			inTok = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inTok {
		out = append(out, cur.String())
	}
	return out, nil
}
