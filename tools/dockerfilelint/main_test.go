package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLint(t *testing.T) {
	bad := `FROM golang:1.26 as Build
ENV API_TOKEN abc
MAINTAINER me
WORKDIR app
COPY secret.txt missing.txt /x/
COPY $UNDEFINED /y
FROM scratch
COPY --from=build /x /x
ENTRYPOINT /x
`
	good := `# syntax=docker/dockerfile:1
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod ./
ARG TARGETARCH
RUN GOARCH=$TARGETARCH go build -o /out/app .
FROM scratch AS app
COPY --from=build /out/app /app
USER 65532:65532
ENTRYPOINT ["/app"]
`
	tests := []struct {
		name       string
		dockerfile string
		args       []string
		wantCode   int
		want       []string // in stdout
	}{
		{"clean", good, nil, 0, []string{"no findings"}},
		{"clean, one target", good, []string{"-target", "app"}, 0, []string{"no findings"}},
		{"every kind of finding", bad, nil, 1, []string{
			"Dockerfile:1: FromAsCasing:", "Dockerfile:1: StageNameCasing:",
			"Dockerfile:2: LegacyKeyValueFormat:", "Dockerfile:2: SecretsUsedInArgOrEnv:",
			"Dockerfile:3: MaintainerDeprecated:", "Dockerfile:4: WorkdirRelativePath:",
			`Dockerfile:5: CopyIgnoredFile: "secret.txt" is excluded by .dockerignore`,
			`Dockerfile:5: CopySourceMissing: "missing.txt" does not exist`,
			"Dockerfile:6: UndefinedVar:", "Dockerfile:9: JSONArgsRecommended:",
		}},
		{"unknown target", good, []string{"-target", "nope"}, 1, []string{"BuildError"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range map[string]string{
				"Dockerfile": tt.dockerfile, ".dockerignore": "secret.txt\n", "secret.txt": "x", "go.mod": "module x\n",
			} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var stdout, stderr bytes.Buffer
			args := append(append([]string{}, tt.args...), filepath.Join(dir, "Dockerfile"))
			code := run(context.Background(), args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout.String(), stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}

func TestUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), nil, &stdout, &stderr); code != 2 {
		t.Errorf("no arguments: exit %d, want 2", code)
	}
	if code := run(context.Background(), []string{filepath.Join(t.TempDir(), "none")}, &stdout, &stderr); code != 2 {
		t.Errorf("missing Dockerfile: exit %d, want 2", code)
	}
	if code := run(context.Background(), []string{"-platform", "amd64", "Dockerfile"}, &stdout, &stderr); code != 2 {
		t.Errorf("bad -platform: exit %d, want 2", code)
	}
}
