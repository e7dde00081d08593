package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/oneshot-run/oneshot/internal/deploy"
)

func deployCmd(ctx context.Context, e *Env, args []string) int {
	if len(args) == 0 || args[0] != "render" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(e.Stderr, "Usage: oneshot deploy render [flags]")
			return 0
		}
		return usageError(e, errors.New("usage: oneshot deploy render --config OUTPUTS.json --release release.json [--out DIR]"))
	}
	return deployRenderCmd(ctx, e, args[1:])
}

// imageFlags collects repeated --image NAME=sha256:... flags.
type imageFlags map[string]string

func (f imageFlags) String() string { return "" }

func (f imageFlags) Set(v string) error {
	name, digest, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("%q is not NAME=DIGEST (e.g. oneshot=sha256:...)", v)
	}
	f[name] = digest
	return nil
}

func deployRenderCmd(_ context.Context, e *Env, args []string) int {
	fs := newFlagSet(e, "deploy render", "deploy render --config OUTPUTS.json (--release release.json | --version V --image NAME=DIGEST...) [flags]")
	configFile := fs.String("config", "", "the environment's deploy configuration: `terraform output -json` of its root, or the value of its deploy output (required)")
	outputName := fs.String("output-name", "deploy", "name of the Terraform output that holds the deploy configuration")
	releaseFile := fs.String("release", "", "release.json written by the release workflow (version and image digests)")
	version := fs.String("version", "", "release version, instead of --release")
	images := imageFlags{}
	fs.Var(images, "image", "repository short name and image digest, NAME=sha256:..., instead of --release (repeatable)")
	revision := fs.String("revision", "", "git commit of the release, with --version")
	environment := fs.String("env", "", "refuse to render unless the configuration is for this environment (dev, staging, prod)")
	templates := fs.String("templates", "deploy/templates", "folder with the task definition templates")
	out := fs.String("out", "rendered", "folder the task definitions are written to, one <kind>.json per kind")
	pos, err := fs.parse(args)
	if err != nil {
		return usageError(e, err)
	}
	if len(pos) > 0 {
		return usageError(e, fmt.Errorf("deploy render takes no arguments (got %q)", pos))
	}
	if *configFile == "" {
		return usageError(e, errors.New("deploy render: --config is required: run `terraform -chdir=infra/envs/ENV output -json > outputs.json` and pass --config outputs.json"))
	}

	var rel deploy.Release
	switch {
	case *releaseFile != "" && (*version != "" || len(images) > 0):
		return usageError(e, errors.New("deploy render: give either --release or --version with --image, not both"))
	case *releaseFile != "":
		data, err := os.ReadFile(*releaseFile)
		if err != nil {
			return usageError(e, fmt.Errorf("deploy render: %w", err))
		}
		if rel, err = deploy.ParseRelease(data); err != nil {
			return usageError(e, fmt.Errorf("deploy render: %w", err))
		}
	case *version != "" && len(images) > 0:
		rel = deploy.Release{Version: *version, Revision: *revision, Images: images}
	default:
		return usageError(e, errors.New("deploy render: pass --release release.json, or --version V and one --image NAME=sha256:... per repository"))
	}

	data, err := os.ReadFile(*configFile)
	if err != nil {
		return usageError(e, fmt.Errorf("deploy render: %w", err))
	}
	cfg, err := deploy.ParseConfig(data, *outputName)
	if err != nil {
		return usageError(e, fmt.Errorf("deploy render: %s: %w", *configFile, err))
	}
	if *environment != "" && cfg.Environment != *environment {
		return usageError(e, fmt.Errorf("deploy render: %s is the configuration of %q, not %q: pass the outputs of the %s root", *configFile, cfg.Environment, *environment, *environment))
	}

	ts, err := deploy.LoadTemplates(*templates)
	if err != nil {
		return usageError(e, fmt.Errorf("deploy render: %w", err))
	}
	docs, err := ts.Render(cfg, rel)
	if err != nil {
		fmt.Fprintf(e.Stderr, "oneshot: deploy render: %v\n", err)
		return ExitFailed
	}
	paths, err := deploy.WriteFiles(*out, docs)
	if err != nil {
		fmt.Fprintf(e.Stderr, "oneshot: deploy render: %v (check that --out is writable)\n", err)
		return ExitFailed
	}
	for _, p := range paths {
		fmt.Fprintln(e.Stdout, p)
	}
	fmt.Fprintf(e.Stderr, "rendered %s %s for %s: register each with `aws ecs register-task-definition --cli-input-json file://PATH`\n", cfg.Environment, rel.Version, strings.Join(deploy.Kinds, ", "))
	return 0
}
