package deploy

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// templatesDir is the repository's committed templates: the golden files pin what they
// render, so a template change shows up as a golden diff in review.
const templatesDir = "../../deploy/templates"

func loadFixtures(t *testing.T, env string) (Config, Release) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "outputs", env+".json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(data, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	data, err = os.ReadFile(filepath.Join("testdata", "release.json"))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := ParseRelease(data)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, rel
}

func loadTemplates(t *testing.T) *Templates {
	t.Helper()
	ts, err := LoadTemplates(templatesDir)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestGolden renders every kind for every environment and compares with
// testdata/golden/<env>/<kind>.json. Run `go test ./internal/deploy -update` after an
// intended change and review the diff.
func TestGolden(t *testing.T) {
	ts := loadTemplates(t)
	for _, env := range []string{"dev", "staging", "prod"} {
		t.Run(env, func(t *testing.T) {
			cfg, rel := loadFixtures(t, env)
			docs, err := ts.Render(cfg, rel)
			if err != nil {
				t.Fatal(err)
			}
			for _, kind := range Kinds {
				golden := filepath.Join("testdata", "golden", env, kind+".json")
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, docs[kind], 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./internal/deploy -update to create it)", err)
				}
				if !bytes.Equal(docs[kind], want) {
					t.Errorf("%s/%s differs from %s (run with -update and review the diff):\n%s", env, kind, golden, docs[kind])
				}
			}
		})
	}
}

// registerInput is the part of RegisterTaskDefinition's input the tests check.
type registerInput struct {
	Family               string `json:"family"`
	CPU                  string `json:"cpu"`
	Memory               string `json:"memory"`
	NetworkMode          string `json:"networkMode"`
	ExecutionRoleArn     string `json:"executionRoleArn"`
	TaskRoleArn          string `json:"taskRoleArn"`
	ContainerDefinitions []struct {
		Name                   string            `json:"name"`
		Image                  string            `json:"image"`
		User                   string            `json:"user"`
		Command                []string          `json:"command"`
		ReadonlyRootFilesystem bool              `json:"readonlyRootFilesystem"`
		StopTimeout            int               `json:"stopTimeout"`
		DockerLabels           map[string]string `json:"dockerLabels"`
		PortMappings           []struct {
			ContainerPort int `json:"containerPort"`
		} `json:"portMappings"`
		HealthCheck *struct {
			Command []string `json:"command"`
		} `json:"healthCheck"`
		Environment []struct{ Name, Value string } `json:"environment"`
		Secrets     []struct {
			Name      string `json:"name"`
			ValueFrom string `json:"valueFrom"`
		} `json:"secrets"`
		LinuxParameters struct {
			InitProcessEnabled bool `json:"initProcessEnabled"`
			Capabilities       struct {
				Drop []string `json:"drop"`
			} `json:"capabilities"`
		} `json:"linuxParameters"`
	} `json:"containerDefinitions"`
}

func TestRenderedTaskDefinitions(t *testing.T) {
	ts := loadTemplates(t)
	cfg, rel := loadFixtures(t, "prod")
	docs, err := ts.Render(cfg, rel)
	if err != nil {
		t.Fatal(err)
	}
	parsed := map[string]registerInput{}
	for kind, doc := range docs {
		var in registerInput
		dec := json.NewDecoder(bytes.NewReader(doc))
		if err := dec.Decode(&in); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		parsed[kind] = in
		c := in.ContainerDefinitions[0]
		if in.NetworkMode != "awsvpc" || !c.ReadonlyRootFilesystem || c.StopTimeout != 120 || !c.LinuxParameters.InitProcessEnabled {
			t.Errorf("%s: not a locked-down Fargate task: %+v", kind, in)
		}
		if len(c.LinuxParameters.Capabilities.Drop) != 1 || c.LinuxParameters.Capabilities.Drop[0] != "ALL" {
			t.Errorf("%s: capabilities not all dropped", kind)
		}
		if c.DockerLabels[VersionLabel] != "v1.4.0" || c.DockerLabels[RevisionLabel] != rel.Revision {
			t.Errorf("%s: labels = %v", kind, c.DockerLabels)
		}
		if !strings.Contains(c.Image, "@sha256:") {
			t.Errorf("%s: image %q is not pinned by digest", kind, c.Image)
		}
	}

	api, worker, migrate := parsed["api"].ContainerDefinitions[0], parsed["worker"].ContainerDefinitions[0], parsed["migrate"].ContainerDefinitions[0]
	if want := "123456789012.dkr.ecr.eu-west-1.amazonaws.com/oneshot@" + rel.Images["oneshot"]; api.Image != want || migrate.Image != want {
		t.Errorf("api/migrate image = %q/%q, want %q", api.Image, migrate.Image, want)
	}
	if want := "123456789012.dkr.ecr.eu-west-1.amazonaws.com/oneshot-agents@" + rel.Images["oneshot-agents"]; worker.Image != want {
		t.Errorf("worker image = %q, want %q", worker.Image, want)
	}
	if got := strings.Join(api.Command, " "); got != "serve --addr :8080 --workers 0" {
		t.Errorf("api command = %q", got)
	}
	if got := strings.Join(worker.Command, " "); got != "worker --addr :8081 --emf-namespace Oneshot/prod" {
		t.Errorf("worker command = %q", got)
	}
	if got := strings.Join(migrate.Command, " "); got != "migrate" || migrate.HealthCheck != nil || len(migrate.PortMappings) != 0 {
		t.Errorf("migrate: command %q, health check %v, ports %v", got, migrate.HealthCheck, migrate.PortMappings)
	}
	if len(api.PortMappings) != 1 || api.PortMappings[0].ContainerPort != 8080 {
		t.Errorf("api ports = %+v", api.PortMappings)
	}
	if api.HealthCheck == nil || api.HealthCheck.Command[len(api.HealthCheck.Command)-1] != "http://127.0.0.1:8080/readyz" {
		t.Errorf("api health check = %+v", api.HealthCheck)
	}
	if api.User != "65532" || worker.User != "65532" {
		t.Errorf("users = %q, %q", api.User, worker.User)
	}
	if parsed["api"].CPU != "1024" || parsed["api"].Memory != "2048" {
		t.Errorf("api size = %s/%s", parsed["api"].CPU, parsed["api"].Memory)
	}
	// Environment and secrets are sorted, so a rendered file only changes when its
	// content does.
	names := []string{}
	for _, s := range api.Secrets {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "ONESHOT_BOOTSTRAP_TOKEN,ONESHOT_CONFIG_YAML,ONESHOT_DATABASE_URL" {
		t.Errorf("api secrets = %s", got)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	ts := loadTemplates(t)
	cfg, rel := loadFixtures(t, "staging")
	first, err := ts.Render(cfg, rel)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		again, err := ts.Render(cfg, rel)
		if err != nil {
			t.Fatal(err)
		}
		for kind := range first {
			if !bytes.Equal(first[kind], again[kind]) {
				t.Fatalf("%s rendered differently on run %d", kind, i)
			}
		}
	}
}

func TestValuesAreEscaped(t *testing.T) {
	ts := loadTemplates(t)
	cfg, rel := loadFixtures(t, "dev")
	api := cfg.Services["api"]
	api.Environment = map[string]string{"GREETING": `say "hi"\n{{ not a template }}`, "HTML": "<a&b>"}
	cfg.Services["api"] = api
	docs, err := ts.Render(cfg, rel)
	if err != nil {
		t.Fatal(err)
	}
	var in registerInput
	if err := json.Unmarshal(docs["api"], &in); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range in.ContainerDefinitions[0].Environment {
		got[e.Name] = e.Value
	}
	if got["GREETING"] != `say "hi"\n{{ not a template }}` || got["HTML"] != "<a&b>" {
		t.Errorf("environment = %v", got)
	}
}

func TestParseConfigAcceptsThePlainValue(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "outputs", "dev.json"))
	if err != nil {
		t.Fatal(err)
	}
	var outputs map[string]struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &outputs); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(outputs["deploy"].Value, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Environment != "dev" || cfg.Services["api"].Family != "oneshot-dev-api" {
		t.Errorf("config = %+v", cfg)
	}
}

func TestRejectsBadInput(t *testing.T) {
	ts := loadTemplates(t)
	tests := []struct {
		name   string
		mutate func(*Config, *Release)
		want   string
	}{
		{"tag instead of digest", func(c *Config, r *Release) { r.Images["oneshot"] = "latest" }, "is not an image digest"},
		{"no version", func(c *Config, r *Release) { r.Version = "" }, "is not a release version"},
		{"version with a space", func(c *Config, r *Release) { r.Version = "v1 2" }, "is not a release version"},
		{"unknown environment", func(c *Config, r *Release) { c.Environment = "qa" }, "must be dev, staging or prod"},
		{"missing kind", func(c *Config, r *Release) { delete(c.Services, "migrate") }, "services.migrate is missing"},
		{"unknown kind", func(c *Config, r *Release) { c.Services["cron"] = c.Services["api"] }, "services.cron is not a kind"},
		{"unknown repository", func(c *Config, r *Release) {
			s := c.Services["worker"]
			s.Image = "other"
			c.Services["worker"] = s
		}, `services.worker.image "other" is not one of repositories`},
		{"release lacks the worker's image", func(c *Config, r *Release) { delete(r.Images, "oneshot-agents") }, "the release has no digest for it"},
		{"role is not an ARN", func(c *Config, r *Release) {
			s := c.Services["api"]
			s.TaskRoleARN = "oneshot-task"
			c.Services["api"] = s
		}, "task_role_arn \"oneshot-task\" is not an ARN"},
		{"secret is a value", func(c *Config, r *Release) {
			s := c.Services["api"]
			s.Secrets = map[string]string{"TOKEN": "hunter2"}
			c.Services["api"] = s
		}, "is not an ARN of a secret or parameter"},
		{"no size", func(c *Config, r *Release) {
			s := c.Services["api"]
			s.CPU = 0
			c.Services["api"] = s
		}, "needs cpu and memory"},
		{"scratch volume at the root", func(c *Config, r *Release) {
			s := c.Services["api"]
			s.ScratchVolumes = map[string]string{"root": "/"}
			c.Services["api"] = s
		}, "must be an absolute path other than /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, rel := loadFixtures(t, "dev")
			tt.mutate(&cfg, &rel)
			_, err := ts.Render(cfg, rel)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseErrorsSayWhatToPass(t *testing.T) {
	if _, err := ParseConfig([]byte(`{"vpc_id": {"value": "vpc-1"}}`), "deploy"); err == nil || !strings.Contains(err.Error(), "terraform output -json") {
		t.Errorf("missing output: %v", err)
	}
	if _, err := ParseConfig([]byte(`[]`), "deploy"); err == nil {
		t.Error("a JSON array was accepted")
	}
	if _, err := ParseConfig([]byte(`{"services": {}, "surprise": 1}`), "deploy"); err == nil || !strings.Contains(err.Error(), "surprise") {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := ParseRelease([]byte(`{"version": "v1", "digest": "sha256:00"}`)); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("unknown release field: %v", err)
	}
}

func TestTemplateChecksCatchAnUnsafeTemplate(t *testing.T) {
	dir := t.TempDir()
	entries, err := os.ReadDir(templatesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(templatesDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "common.tmpl" {
			data = bytes.Replace(data, []byte(`"readonlyRootFilesystem": true`), []byte(`"readonlyRootFilesystem": false`), 1)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ts, err := LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg, rel := loadFixtures(t, "dev")
	if _, err := ts.Render(cfg, rel); err == nil || !strings.Contains(err.Error(), "readonlyRootFilesystem") {
		t.Errorf("err = %v", err)
	}
}

func TestLoadTemplatesNeedsEveryKind(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "api.json.tmpl"), []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTemplates(dir); err == nil || !strings.Contains(err.Error(), "migrate.json.tmpl") {
		t.Errorf("err = %v", err)
	}
	if _, err := LoadTemplates(t.TempDir()); err == nil || !strings.Contains(err.Error(), "--templates") {
		t.Errorf("empty dir: %v", err)
	}
}

func TestWriteFiles(t *testing.T) {
	ts := loadTemplates(t)
	cfg, rel := loadFixtures(t, "dev")
	docs, err := ts.Render(cfg, rel)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "rendered")
	paths, err := WriteFiles(dir, docs)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 3 || filepath.Base(paths[0]) != "migrate.json" || filepath.Base(paths[2]) != "api.json" {
		t.Errorf("paths = %v", paths)
	}
}

// Terraform's jsonencode writes unset optional attributes as null (the pipeline module
// stores the configuration that way); they mean "the default".
func TestParseConfigTakesTerraformNulls(t *testing.T) {
	ts := loadTemplates(t)
	service := func(kind string) string {
		return `{"family": "oneshot-dev-` + kind + `", "image": "oneshot", "cpu": 256, "memory": 512,
		  "cpu_architecture": "ARM64", "execution_role_arn": "arn:aws:iam::123456789012:role/x",
		  "task_role_arn": "arn:aws:iam::123456789012:role/y", "log_group_name": "/ecs/oneshot-dev/` + kind + `",
		  "container_name": "oneshot", "port": null, "user": null, "environment": {}, "secrets": {},
		  "ephemeral_storage_gib": 21, "scratch_volumes": {"tmp": "/tmp"}, "metric_namespace": null}`
	}
	doc := `{"environment": "dev", "region": "eu-west-1",
	  "repositories": {"oneshot": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/oneshot"},
	  "services": {"api": ` + service("api") + `, "worker": ` + service("worker") + `, "migrate": ` + service("migrate") + `}}`
	cfg, err := ParseConfig([]byte(doc), "deploy")
	if err != nil {
		t.Fatal(err)
	}
	_, rel := loadFixtures(t, "dev")
	docs, err := ts.Render(cfg, rel)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(docs["worker"], []byte(`"Oneshot/dev"`)) || !bytes.Contains(docs["api"], []byte(`":8080"`)) || bytes.Contains(docs["api"], []byte(`"user"`)) {
		t.Errorf("nulls did not fall back to the defaults:\n%s\n%s", docs["api"], docs["worker"])
	}
}
