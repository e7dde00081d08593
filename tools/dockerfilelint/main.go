// Command dockerfilelint runs BuildKit's own Dockerfile checks (the rules behind
// `docker build --check`) without a Docker engine or network, and checks that nothing a
// COPY or ADD takes from the build context is excluded by .dockerignore.
//
//	go run . [-platform linux/amd64,linux/arm64] [-target oneshot,agents] [-context DIR] PATH/TO/Dockerfile
//
// It exits 0 when there is nothing to report, 1 when there are findings (each printed as
// FILE:LINE: RULE: message) and 2 when it could not run.
//
// Base images are not pulled: an offline resolver answers every FROM with an empty
// image of the requested platform, so the rules that depend only on the Dockerfile run
// exactly as in a real build (UndefinedVar sees ARG and ENV, not the base image's
// environment, beyond a standard PATH).
//
// It lives in its own module so that BuildKit and its dependencies stay out of
// Oneshot's go.mod.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// finding is one problem, printed as FILE:LINE: RULE: message.
type finding struct {
	line   int
	rule   string
	detail string
	url    string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dockerfilelint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	platformsFlag := fs.String("platform", "linux/amd64,linux/arm64", "target platforms to lint for (comma separated)")
	targetsFlag := fs.String("target", "", "stages to lint as build targets (comma separated; empty: every stage)")
	contextDir := fs.String("context", "", "build context directory for the .dockerignore check (default: the Dockerfile's directory)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: dockerfilelint [flags] Dockerfile")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	path := fs.Arg(0)
	dt, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "dockerfilelint: %v\n", err)
		return 2
	}
	if *contextDir == "" {
		*contextDir = filepath.Dir(path)
	}
	plats, err := parsePlatforms(*platformsFlag)
	if err != nil {
		fmt.Fprintf(stderr, "dockerfilelint: -platform: %v\n", err)
		return 2
	}
	targets := []string{""}
	if *targetsFlag != "" {
		targets = strings.Split(*targetsFlag, ",")
	}

	var findings []finding
	for _, p := range plats {
		for _, target := range targets {
			found, err := buildkitLint(ctx, path, dt, p, target)
			if err != nil {
				fmt.Fprintf(stderr, "dockerfilelint: %v\n", err)
				return 2
			}
			findings = append(findings, found...)
		}
	}
	ignored, err := ignoredSources(dt, *contextDir)
	if err != nil {
		fmt.Fprintf(stderr, "dockerfilelint: %v\n", err)
		return 2
	}
	findings = append(findings, ignored...)

	findings = dedupe(findings)
	for _, f := range findings {
		fmt.Fprintf(stdout, "%s:%d: %s: %s", path, f.line, f.rule, f.detail)
		if f.url != "" {
			fmt.Fprintf(stdout, " (%s)", f.url)
		}
		fmt.Fprintln(stdout)
	}
	if len(findings) > 0 {
		fmt.Fprintf(stderr, "dockerfilelint: %d finding(s) in %s\n", len(findings), path)
		return 1
	}
	fmt.Fprintf(stdout, "%s: no findings (BuildKit checks for %s; .dockerignore)\n", path, *platformsFlag)
	return 0
}

func parsePlatforms(s string) ([]ocispecs.Platform, error) {
	var out []ocispecs.Platform
	for _, p := range strings.Split(s, ",") {
		osName, arch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok || osName == "" || arch == "" {
			return nil, fmt.Errorf("%q is not OS/ARCH", p)
		}
		arch, variant, _ := strings.Cut(arch, "/")
		out = append(out, ocispecs.Platform{OS: osName, Architecture: arch, Variant: variant})
	}
	return out, nil
}

// buildkitLint runs BuildKit's lint subrequest for one target platform and target
// (empty: all stages). The builder's own platform is the target platform, as on a
// native builder.
func buildkitLint(ctx context.Context, path string, dt []byte, platform ocispecs.Platform, target string) ([]finding, error) {
	sm := llb.NewSourceMap(nil, filepath.Base(path), "Dockerfile", dt)
	sm.Definition = &llb.Definition{} // nothing to solve: the source map only names the file
	res, err := dockerfile2llb.DockerfileLint(ctx, dt, dockerfile2llb.ConvertOpt{
		Config: dockerui.Config{
			Target:          target,
			BuildPlatforms:  []ocispecs.Platform{platform},
			TargetPlatforms: []ocispecs.Platform{platform},
		},
		SourceMap:      sm,
		TargetPlatform: &platform,
		MetaResolver:   offlineResolver{},
	})
	if err != nil {
		return nil, err
	}
	var out []finding
	for _, w := range res.Warnings {
		out = append(out, finding{line: firstLine(w.Location), rule: w.RuleName, detail: w.Detail, url: w.URL})
	}
	if res.Error != nil {
		line := 0
		if len(res.Error.Location.Ranges) > 0 {
			line = int(res.Error.Location.Ranges[0].Start.Line)
		}
		out = append(out, finding{line: line, rule: "BuildError", detail: res.Error.Message})
	}
	return out, nil
}

func firstLine(loc *pb.Location) int {
	if loc == nil || len(loc.Ranges) == 0 {
		return 0
	}
	return int(loc.Ranges[0].Start.Line)
}

// offlineResolver answers every image lookup with an empty image of the requested
// platform, without a network. The reference is returned unchanged.
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	p := ocispecs.Platform{OS: "linux", Architecture: "amd64"}
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		p = *opt.ImageOpt.Platform
	}
	img := ocispecs.Image{
		Platform: p,
		Config:   ocispecs.ImageConfig{Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		RootFS:   ocispecs.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromString(ref)}},
	}
	cfg, err := json.Marshal(img)
	if err != nil {
		return "", "", nil, err
	}
	return ref, digest.FromBytes(cfg), cfg, nil
}

// ignoredSources reports COPY and ADD sources from the build context that do not exist
// or that .dockerignore excludes (the build would fail, or silently copy less).
func ignoredSources(dt []byte, contextDir string) ([]finding, error) {
	var patterns []string
	f, err := os.Open(filepath.Join(contextDir, ".dockerignore"))
	switch {
	case err == nil:
		patterns, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read .dockerignore: %w", err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	ast, err := parser.Parse(bytes.NewReader(dt))
	if err != nil {
		return nil, err
	}
	stages, _, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		return nil, err
	}
	var out []finding
	for _, st := range stages {
		for _, cmd := range st.Commands {
			var (
				sources []string
				line    int
			)
			switch c := cmd.(type) {
			case *instructions.CopyCommand:
				if c.From != "" {
					continue
				}
				sources, line = c.SourcePaths, c.Location()[0].Start.Line
			case *instructions.AddCommand:
				sources, line = c.SourcePaths, c.Location()[0].Start.Line
			default:
				continue
			}
			for _, src := range sources {
				if strings.Contains(src, "://") || strings.HasPrefix(src, "git@") || strings.Contains(src, "$") {
					continue
				}
				rel := filepath.Clean(strings.TrimPrefix(filepath.ToSlash(src), "/"))
				matches, _ := filepath.Glob(filepath.Join(contextDir, rel))
				if len(matches) == 0 {
					out = append(out, finding{line: line, rule: "CopySourceMissing",
						detail: fmt.Sprintf("%q does not exist in the build context %s", src, contextDir)})
					continue
				}
				for _, m := range matches {
					r, err := filepath.Rel(contextDir, m)
					if err != nil {
						return nil, err
					}
					if r == "." {
						continue
					}
					excluded, err := pm.MatchesOrParentMatches(filepath.ToSlash(r))
					if err != nil {
						return nil, err
					}
					if excluded {
						out = append(out, finding{line: line, rule: "CopyIgnoredFile",
							detail: fmt.Sprintf("%q is excluded by .dockerignore: the build does not see it", r)})
					}
				}
			}
		}
	}
	return out, nil
}

func dedupe(fs []finding) []finding {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].line != fs[j].line {
			return fs[i].line < fs[j].line
		}
		return fs[i].rule < fs[j].rule
	})
	return slices.CompactFunc(fs, func(a, b finding) bool { return a == b })
}
