package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedence(t *testing.T) {
	user := write(t, "config.yaml", "max_iterations: 5\nworker:\n  model: from-user\n  executor: claude\ninactivity_timeout: 2m\n")
	project := write(t, "oneshot.json", `{"worker": {"model": "from-project"}, "bogus": 1}`)
	c, warnings, err := Load(Sources{UserFile: user, ProjectFile: project, Environ: []string{"ONESHOT_MAX_ITERATIONS=7"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set("inactivity_timeout", "30s", "flag --inactivity-timeout"); err != nil {
		t.Fatal(err)
	}
	if c.MaxIterations != 7 || c.Origin("max_iterations") != "env ONESHOT_MAX_ITERATIONS" {
		t.Errorf("env should beat files: %d from %s", c.MaxIterations, c.Origin("max_iterations"))
	}
	if c.Worker.Model != "from-project" || c.Origin("worker.model") != project {
		t.Errorf("project file should beat user file: %q from %s", c.Worker.Model, c.Origin("worker.model"))
	}
	if c.Worker.Executor != "claude" || c.Auditor.Executor != "direct" {
		t.Errorf("executors: %q %q", c.Worker.Executor, c.Auditor.Executor)
	}
	if c.InactivityTimeout != 30*time.Second {
		t.Errorf("flag should win, got %s", c.InactivityTimeout)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"bogus"`) {
		t.Errorf("warnings = %v", warnings)
	}
	if c.Origin("output") != "default" {
		t.Errorf("origin of an untouched key: %s", c.Origin("output"))
	}
}

func TestInvalidValuesNameFileKeyAndAllowed(t *testing.T) {
	for body, want := range map[string]string{
		"max_iterations: zero\n":            "max_iterations",
		"executor: gpt\n":                   "use one of",
		"inactivity_timeout: soon\n":        "duration",
		"worker:\n  endpoint: ftp://x\n":    "http",
		"output: xml\n":                     "text or json",
		"database_url: mysql://x\n":         "postgres://",
		"profiles:\n  p:\n    worker: {}\n": "needs worker.executor",
		"- just\n- a list\n":                "mapping",
		"max_iterations: [1, 2]\n":          "whole number",
		"worker:\n  command: \"echo 'x\"\n": "quote",
	} {
		p := write(t, "oneshot.yaml", body)
		_, _, err := Load(Sources{ProjectFile: p})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: err = %v, want it to name %s and say %q", body, err, p, want)
		}
	}
}

func TestExplicitFileMustExist(t *testing.T) {
	if _, _, err := Load(Sources{ExplicitFile: filepath.Join(t.TempDir(), "missing.yaml")}); err == nil {
		t.Fatal("missing --config file accepted")
	}
}

func TestProfilesAndConfigFromEnv(t *testing.T) {
	doc := `profiles:
  default:
    worker:  {executor: direct, endpoint: "http://127.0.0.1:11434/v1/", model: qwen3, api_key_env: OPENAI_API_KEY, colour: red}
    auditor: {executor: claude}
    max_iterations: 4
`
	c, warnings, err := Load(Sources{Environ: []string{"ONESHOT_CONFIG_YAML=" + doc}})
	if err != nil {
		t.Fatal(err)
	}
	p, ok := c.Profiles["default"]
	if !ok || p.Worker.Model != "qwen3" || p.Worker.Endpoint != "http://127.0.0.1:11434/v1" || p.MaxIterations != 4 {
		t.Fatalf("profile = %+v", p)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "colour") {
		t.Fatalf("warnings = %v", warnings)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestCommandListsRoundTrip(t *testing.T) {
	p := write(t, "oneshot.yaml", "worker:\n  command: [\"sh\", \"-c\", \"echo 'it''s' \\\"x\\\"\"]\n")
	c, _, err := Load(Sources{ProjectFile: p})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sh", "-c", `echo 'it''s' "x"`}
	if !reflect.DeepEqual(c.Worker.Command, want) {
		t.Fatalf("command = %q, want %q", c.Worker.Command, want)
	}
}

func TestSplitArgv(t *testing.T) {
	got, err := SplitArgv(`python3 -c "print('a b')" 'x y' z\ w`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"python3", "-c", "print('a b')", "x y", "z w"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
}

func TestAPIKeyNeverFromConfig(t *testing.T) {
	env := map[string]string{"OPENAI_API_KEY": "sk-fallback", "ONESHOT_AUDITOR_API_KEY": "sk-auditor"}
	get := func(k string) string { return env[k] }
	if k, from := APIKey(get, "worker", Agent{Executor: "direct"}); k != "sk-fallback" || from != "OPENAI_API_KEY" {
		t.Errorf("worker key %q from %s", k, from)
	}
	if k, _ := APIKey(get, "auditor", Agent{Executor: "direct"}); k != "sk-auditor" {
		t.Errorf("auditor key %q", k)
	}
	if k, _ := APIKey(get, "worker", Agent{Executor: "claude"}); k != "" {
		t.Errorf("OPENAI_API_KEY must only back the direct executor, got %q", k)
	}
	c := Defaults()
	c.DatabaseURL = "postgres://app:hunter2@db:5432/oneshot"
	for _, e := range c.Entries() {
		if strings.Contains(e.Value, "hunter2") {
			t.Fatalf("config show leaks a password: %+v", e)
		}
	}
}

func TestDatabaseURLFromParts(t *testing.T) {
	c, _, err := Load(Sources{Environ: []string{
		"ONESHOT_DATABASE_HOST=db.internal", "ONESHOT_DATABASE_USER=oneshot", "ONESHOT_DATABASE_PASSWORD=p@ss/w:rd",
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := "postgres://oneshot:p%40ss%2Fw%3Ard@db.internal:5432/oneshot?sslmode=require"
	if c.DatabaseURL != want {
		t.Fatalf("database_url = %q, want %q", c.DatabaseURL, want)
	}
	for _, e := range c.Entries() {
		if strings.Contains(e.Value, "p%40ss") {
			t.Fatalf("config show leaks the password: %+v", e)
		}
	}
	if _, _, err := Load(Sources{Environ: []string{"ONESHOT_DATABASE_HOST=db"}}); err == nil {
		t.Fatal("a host without a user was accepted")
	}
	c, _, _ = Load(Sources{Environ: []string{"ONESHOT_DATABASE_HOST=db", "ONESHOT_DATABASE_USER=u", "ONESHOT_DATABASE_URL=postgres://other/db"}})
	if c.DatabaseURL != "postgres://other/db" {
		t.Fatalf("an explicit URL must win, got %q", c.DatabaseURL)
	}
}

func TestEMFInterval(t *testing.T) {
	if d := Defaults().EMFInterval; d != time.Minute {
		t.Errorf("default emf_interval = %s, want 1m", d)
	}
	c, _, err := Load(Sources{ProjectFile: write(t, "oneshot.yaml", "emf_interval: 15s\n"), Environ: []string{}})
	if err != nil || c.EMFInterval != 15*time.Second {
		t.Fatalf("emf_interval from a file = %s, %v; want 15s", c.EMFInterval, err)
	}
	c, _, err = Load(Sources{Environ: []string{"ONESHOT_EMF_INTERVAL=2s"}})
	if err != nil || c.EMFInterval != 2*time.Second || c.Origin("emf_interval") != "env ONESHOT_EMF_INTERVAL" {
		t.Fatalf("emf_interval from the environment = %s (%s), %v; want 2s", c.EMFInterval, c.Origin("emf_interval"), err)
	}
	if _, _, err := Load(Sources{ProjectFile: write(t, "oneshot.yaml", "emf_interval: 0s\n")}); err == nil || !strings.Contains(err.Error(), "positive duration") {
		t.Errorf("emf_interval 0s: err = %v, want a positive duration required", err)
	}
}
