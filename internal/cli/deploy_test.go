package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runDeploy(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Version: "test"}
	code = Main(context.Background(), e, append([]string{"deploy"}, args...))
	return code, out.String(), errb.String()
}

const (
	fixtures  = "../deploy/testdata"
	templates = "../../deploy/templates"
)

func TestDeployRenderWritesOneFilePerKind(t *testing.T) {
	out := filepath.Join(t.TempDir(), "rendered")
	code, stdout, stderr := runDeploy(t, "render", "--env", "staging",
		"--config", filepath.Join(fixtures, "outputs", "staging.json"),
		"--release", filepath.Join(fixtures, "release.json"),
		"--templates", templates, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	paths := strings.Fields(stdout)
	if len(paths) != 3 {
		t.Fatalf("stdout = %q", stdout)
	}
	for _, kind := range []string{"migrate", "worker", "api"} {
		got, err := os.ReadFile(filepath.Join(out, kind+".json"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(fixtures, "golden", "staging", kind+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the golden file", kind)
		}
	}
}

func TestDeployRenderWithVersionAndImages(t *testing.T) {
	out := t.TempDir()
	code, _, stderr := runDeploy(t, "render",
		"--config", filepath.Join(fixtures, "outputs", "dev.json"),
		"--version", "v2.0.0",
		"--image", "oneshot=sha256:"+strings.Repeat("c", 64),
		"--image", "oneshot-agents=sha256:"+strings.Repeat("d", 64),
		"--templates", templates, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	api, err := os.ReadFile(filepath.Join(out, "api.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(api, []byte("oneshot@sha256:"+strings.Repeat("c", 64))) || !bytes.Contains(api, []byte(`"v2.0.0"`)) {
		t.Errorf("api.json does not carry the given release:\n%s", api)
	}
}

func TestDeployRenderUsageErrors(t *testing.T) {
	dev := filepath.Join(fixtures, "outputs", "dev.json")
	rel := filepath.Join(fixtures, "release.json")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no subcommand", nil, ExitUsage, "usage: oneshot deploy render"},
		{"no config", []string{"render", "--release", rel}, ExitUsage, "--config is required"},
		{"no release", []string{"render", "--config", dev}, ExitUsage, "pass --release"},
		{"both release forms", []string{"render", "--config", dev, "--release", rel, "--version", "v1"}, ExitUsage, "not both"},
		{"wrong environment", []string{"render", "--config", dev, "--release", rel, "--env", "prod", "--templates", templates}, ExitUsage, `configuration of "dev", not "prod"`},
		{"bad image flag", []string{"render", "--config", dev, "--image", "sha256:abc"}, ExitUsage, "is not NAME=DIGEST"},
		{"tag instead of digest", []string{"render", "--config", dev, "--version", "v1", "--image", "oneshot=latest", "--templates", templates, "--out", t.TempDir()}, ExitFailed, "is not an image digest"},
		{"missing templates", []string{"render", "--config", dev, "--release", rel, "--templates", t.TempDir()}, ExitUsage, "no *.tmpl files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runDeploy(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.want)
			}
		})
	}
}
