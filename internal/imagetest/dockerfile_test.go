package imagetest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The Dockerfile is read with a small parser of its own (logical lines, flags, JSON
// form): enough for the policy below, and it keeps BuildKit out of this module.
// tools/dockerfilelint runs BuildKit's own checks on the same file.

// instruction is one logical Dockerfile line.
type instruction struct {
	line  int      // line of the keyword, 1-based
	cmd   string   // keyword, upper case
	flags []string // leading --flags, as written
	args  string   // the rest, continuation lines joined with a space
	exec  bool     // args is a JSON array
	json  []string // args decoded when exec
}

// flag returns the value of --name (or "" and false).
func (in *instruction) flag(name string) (string, bool) {
	for _, f := range in.flags {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			return v, true
		}
		if f == "--"+name {
			return "", true
		}
	}
	return "", false
}

type stage struct {
	name     string
	base     string
	platform string
	line     int
	ins      []*instruction
}

// last returns the stage's last instruction with keyword cmd (nil when none).
func (s *stage) last(cmd string) *instruction {
	for i := len(s.ins) - 1; i >= 0; i-- {
		if s.ins[i].cmd == cmd {
			return s.ins[i]
		}
	}
	return nil
}

func (s *stage) all(cmd string) []*instruction {
	var out []*instruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// env returns the stage's ENV values (its own instructions only).
func (s *stage) env(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, in := range s.all("ENV") {
		for k, v := range keyValues(t, in) {
			out[k] = v
		}
	}
	return out
}

type dockerfile struct {
	directives map[string]string
	globalArgs []*instruction
	stages     []*stage
}

func (d *dockerfile) stage(t *testing.T, name string) *stage {
	t.Helper()
	for _, s := range d.stages {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("the Dockerfile has no stage %q", name)
	return nil
}

func (d *dockerfile) allInstructions() []*instruction {
	out := slices.Clone(d.globalArgs)
	for _, s := range d.stages {
		out = append(out, s.ins...)
	}
	return out
}

func parseDockerfile(t *testing.T) *dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(build.root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseDockerfileText(string(b))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	return d
}

var directiveRe = regexp.MustCompile(`^#\s*([a-zA-Z]+)\s*=\s*(.*?)\s*$`)

func parseDockerfileText(text string) (*dockerfile, error) {
	d := &dockerfile{directives: map[string]string{}}
	lines := strings.Split(text, "\n")
	inDirectives := true
	var cur *instruction
	var cont []string
	flush := func() error {
		if cur == nil {
			return nil
		}
		in := cur
		cur = nil
		words := strings.Join(cont, " ")
		cont = nil
		kw, rest, _ := strings.Cut(strings.TrimSpace(words), " ")
		in.cmd = strings.ToUpper(kw)
		rest = strings.TrimSpace(rest)
		if in.cmd != "ENV" && in.cmd != "LABEL" && in.cmd != "ARG" {
			for strings.HasPrefix(rest, "--") {
				f, r, _ := strings.Cut(rest, " ")
				in.flags = append(in.flags, f)
				rest = strings.TrimSpace(r)
			}
		}
		if in.cmd == "HEALTHCHECK" {
			sub, r, _ := strings.Cut(rest, " ")
			if strings.ToUpper(sub) == "CMD" {
				rest = strings.TrimSpace(r)
			}
		}
		in.args = rest
		if strings.HasPrefix(rest, "[") {
			if err := json.Unmarshal([]byte(rest), &in.json); err != nil {
				return &lineError{in.line, "a JSON-looking argument list does not parse: " + err.Error()}
			}
			in.exec = true
		}
		if in.cmd == "FROM" {
			st := &stage{line: in.line}
			f := strings.Fields(rest)
			if len(f) == 0 {
				return &lineError{in.line, "FROM without an image"}
			}
			st.base = f[0]
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			} else if len(f) != 1 {
				return &lineError{in.line, "FROM takes IMAGE [AS NAME]"}
			}
			st.platform, _ = in.flag("platform")
			d.stages = append(d.stages, st)
			return nil
		}
		if len(d.stages) == 0 {
			if in.cmd != "ARG" {
				return &lineError{in.line, in.cmd + " before the first FROM"}
			}
			d.globalArgs = append(d.globalArgs, in)
			return nil
		}
		s := d.stages[len(d.stages)-1]
		s.ins = append(s.ins, in)
		return nil
	}
	for i, raw := range lines {
		n := i + 1
		trimmed := strings.TrimSpace(raw)
		if inDirectives {
			if m := directiveRe.FindStringSubmatch(trimmed); m != nil {
				d.directives[strings.ToLower(m[1])] = m[2]
				continue
			}
			inDirectives = false
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue // comments and blank lines, also inside continuations
		}
		if cur == nil {
			cur = &instruction{line: n}
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cont = append(cont, strings.TrimSpace(body))
			continue
		}
		cont = append(cont, trimmed)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if cur != nil {
		return nil, &lineError{cur.line, "the file ends inside a continued line"}
	}
	return d, nil
}

type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return "line " + strconv.Itoa(e.line) + ": " + e.msg }

// keyValues reads ENV/ARG/LABEL key=value pairs (values may be double-quoted).
func keyValues(t *testing.T, in *instruction) map[string]string {
	t.Helper()
	out := map[string]string{}
	s := in.args
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		end := strings.IndexAny(s, "= ")
		if end < 0 || s[end] == ' ' { // ARG NAME without a value
			if end < 0 {
				end = len(s)
			}
			if in.cmd != "ARG" {
				t.Fatalf("line %d: %s %q: use KEY=value", in.line, in.cmd, s[:end])
			}
			out[s[:end]] = ""
			s = s[end:]
			continue
		}
		key := s[:end]
		s = s[end+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			close := strings.Index(s[1:], `"`)
			if close < 0 {
				t.Fatalf("line %d: unterminated quote in %s", in.line, in.cmd)
			}
			val, s = s[1:close+1], s[close+2:]
		} else {
			val, s, _ = strings.Cut(s, " ")
		}
		out[key] = val
	}
	return out
}

// finalStages are the images the Dockerfile produces (its build targets).
var finalStages = []string{"oneshot", "agents"}

var (
	pinnedImage = regexp.MustCompile(`^[a-z0-9][a-z0-9._/-]*(:[0-9]+)?/?[a-z0-9._/-]*:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$`)
	numericUser = regexp.MustCompile(`^([0-9]+)(:([0-9]+))?$`)
	secretName  = regexp.MustCompile(`(?i)(^|_)(TOKEN|SECRET|PASSWORD|PASSWD|PWD|KEY|APIKEY|CREDENTIALS?|AUTH)(_|$)`)
	exactNpm    = regexp.MustCompile(`^(@[a-z0-9._-]+/)?[a-z0-9._-]+@[0-9]+\.[0-9]+\.[0-9]+$`)
)

func TestDockerfilePolicy(t *testing.T) {
	t.Parallel()
	d := parseDockerfile(t)

	t.Run("BuildKit syntax directive pinned to major version 1", func(t *testing.T) {
		if got := d.directives["syntax"]; got != "docker/dockerfile:1" && !strings.HasPrefix(got, "docker/dockerfile:1@sha256:") {
			t.Errorf("# syntax= is %q, want docker/dockerfile:1 (optionally with a digest)", got)
		}
	})

	t.Run("every base image pinned by tag and digest", func(t *testing.T) {
		seen := map[string]bool{}
		for _, s := range d.stages {
			if seen[s.base] || s.base == "scratch" {
				continue // a previous stage
			}
			if !pinnedImage.MatchString(s.base) {
				t.Errorf("line %d: FROM %s is not pinned as IMAGE:TAG@sha256:DIGEST", s.line, s.base)
			}
			if s.name != "" {
				seen[s.name] = true
			}
		}
	})

	t.Run("the default target is the oneshot image", func(t *testing.T) {
		if last := d.stages[len(d.stages)-1]; last.name != "oneshot" {
			t.Errorf("the last stage (what `docker build .` produces) is %q, want oneshot", last.name)
		}
	})

	for _, name := range finalStages {
		t.Run("target "+name, func(t *testing.T) {
			s := d.stage(t, name)

			user := s.last("USER")
			if user == nil {
				t.Fatal("no USER: the image would run as root")
			}
			m := numericUser.FindStringSubmatch(user.args)
			if m == nil {
				t.Errorf("line %d: USER %s is not numeric UID:GID (Kubernetes runAsNonRoot and ECS checks need numbers)", user.line, user.args)
			} else if m[1] == "0" || m[3] == "0" || m[3] == "" {
				t.Errorf("line %d: USER %s: want a non-zero UID and GID", user.line, user.args)
			}

			ep := s.last("ENTRYPOINT")
			switch {
			case ep == nil:
				t.Error("no ENTRYPOINT")
			case !ep.exec:
				t.Errorf("line %d: ENTRYPOINT %s is shell form: a shell would be PID 1 and SIGTERM would not reach oneshot", ep.line, ep.args)
			case ep.json[len(ep.json)-1] != "/oneshot":
				t.Errorf("line %d: ENTRYPOINT %v does not end with /oneshot", ep.line, ep.json)
			case len(ep.json) > 1 && !(strings.HasSuffix(ep.json[0], "/tini") && slices.Equal(ep.json[len(ep.json)-2:], []string{"--", "/oneshot"})):
				t.Errorf("line %d: ENTRYPOINT %v: the only wrapper allowed is tini ... -- /oneshot", ep.line, ep.json)
			}

			if cmd := s.last("CMD"); cmd == nil || !cmd.exec {
				t.Error("no exec-form CMD")
			}
			if sig := s.last("STOPSIGNAL"); sig == nil || sig.args != "SIGTERM" {
				t.Error("want STOPSIGNAL SIGTERM (what oneshot drains on)")
			}

			hc := s.last("HEALTHCHECK")
			switch {
			case hc == nil:
				t.Error("no HEALTHCHECK")
			case !hc.exec:
				t.Errorf("line %d: HEALTHCHECK CMD must be exec form (distroless has no shell)", hc.line)
			case len(hc.json) < 2 || hc.json[0] != "/oneshot" || hc.json[1] != "healthcheck":
				t.Errorf("line %d: HEALTHCHECK runs %v, want /oneshot healthcheck", hc.line, hc.json)
			}
			if hc != nil {
				for _, f := range []string{"interval", "timeout", "start-period", "retries"} {
					if _, ok := hc.flag(f); !ok {
						t.Errorf("line %d: HEALTHCHECK without --%s", hc.line, f)
					}
				}
			}

			copied := false
			for _, c := range s.all("COPY") {
				from, _ := c.flag("from")
				if f := strings.Fields(c.args); from == "build" && len(f) == 2 && f[1] == "/oneshot" {
					copied = true
				}
			}
			if !copied {
				t.Error("the binary is not copied from the build stage to /oneshot")
			}

			env := s.env(t)
			for _, k := range []string{"TMPDIR", "ONESHOT_DATA_DIR", "HOME"} {
				if env[k] == "" {
					t.Errorf("ENV %s is not set", k)
				}
			}

			// Every path the process writes must be on a declared volume: ECS copies a
			// VOLUME's ownership into the task's bind mount of that path, and a
			// read-only root filesystem leaves nothing else writable.
			var volumes []string
			for _, v := range s.all("VOLUME") {
				if !v.exec {
					t.Errorf("line %d: VOLUME %s: use the JSON form", v.line, v.args)
				}
				volumes = append(volumes, v.json...)
			}
			for _, k := range []string{"TMPDIR", "ONESHOT_DATA_DIR", "HOME", "XDG_STATE_HOME"} {
				p := env[k]
				if p == "" {
					continue
				}
				if !slices.ContainsFunc(volumes, func(v string) bool { return under(p, v) }) {
					t.Errorf("%s=%s is on no VOLUME (%v): it is not writable with a read-only root filesystem", k, p, volumes)
				}
			}
		})
	}

	t.Run("oneshot: serve on all interfaces; only /tmp and /data written", func(t *testing.T) {
		s := d.stage(t, "oneshot")
		if cmd := s.last("CMD"); cmd == nil || len(cmd.json) == 0 || cmd.json[0] != "serve" || flagValue(cmd.json, "--addr") != ":8080" {
			t.Errorf("CMD should be serve --addr :8080 (the ALB reaches the task on 8080)")
		}
		if ep := s.last("ENTRYPOINT"); ep == nil || !slices.Equal(ep.json, []string{"/oneshot"}) {
			t.Errorf(`ENTRYPOINT should be ["/oneshot"]: the binary itself is PID 1`)
		}
		env := s.env(t)
		for _, k := range []string{"HOME", "XDG_STATE_HOME"} {
			if !under(env[k], env["TMPDIR"]) {
				t.Errorf("ENV %s=%s is not under TMPDIR=%s: it would need another writable volume", k, env[k], env["TMPDIR"])
			}
		}
		if env["ONESHOT_DATA_DIR"] != "/data" || env["TMPDIR"] != "/tmp" {
			t.Errorf("TMPDIR=%s ONESHOT_DATA_DIR=%s, want /tmp and /data (docs/container.md names these volumes)", env["TMPDIR"], env["ONESHOT_DATA_DIR"])
		}
	})

	t.Run("agents: worker under tini, health on the worker's address", func(t *testing.T) {
		s := d.stage(t, "agents")
		if cmd := s.last("CMD"); cmd == nil || len(cmd.json) == 0 || cmd.json[0] != "worker" {
			t.Errorf("CMD should run worker")
		}
		if ep := s.last("ENTRYPOINT"); ep == nil || !slices.Equal(ep.json, []string{"/usr/bin/tini", "-s", "--", "/oneshot"}) {
			t.Errorf(`ENTRYPOINT should be ["/usr/bin/tini", "-s", "--", "/oneshot"]: tini reaps what killed agents leave behind, also as a subreaper under ECS's init`)
		}
		// `oneshot worker` serves health on 127.0.0.1:8081 unless told otherwise.
		if hc := s.last("HEALTHCHECK"); hc == nil || flagValue(hc.json, "--url") != "http://127.0.0.1:8081/readyz" {
			t.Errorf("HEALTHCHECK should probe the worker's default address http://127.0.0.1:8081/readyz")
		}
		env := s.env(t)
		if under(env["HOME"], env["TMPDIR"]) {
			t.Errorf("HOME=%s is under TMPDIR=%s: codex refuses to set up its helpers under a temporary directory", env["HOME"], env["TMPDIR"])
		}
		if _, ok := env["GEMINI_CLI_NO_RELAUNCH"]; ok {
			t.Error("GEMINI_CLI_NO_RELAUNCH is set: oneshot signals the agent's process group, and with it gemini exits 0 without a result on SIGTERM")
		}
		wantCLIs := map[string]bool{"@anthropic-ai/claude-code": false, "@openai/codex": false, "@google/gemini-cli": false}
		for _, run := range s.all("RUN") {
			if !strings.Contains(run.args, "npm install") {
				continue
			}
			for _, w := range strings.Fields(run.args) {
				name, _, _ := strings.Cut(strings.TrimPrefix(w, "@"), "@")
				if strings.HasPrefix(w, "@") {
					name = "@" + name
				}
				if _, ok := wantCLIs[name]; ok {
					wantCLIs[name] = true
					if !exactNpm.MatchString(w) {
						t.Errorf("line %d: npm package %s is not pinned to an exact version", run.line, w)
					}
				}
			}
		}
		for name, found := range wantCLIs {
			if !found {
				t.Errorf("%s is not installed", name)
			}
		}
		for _, run := range s.all("RUN") {
			if strings.Contains(run.args, "apt-get install") {
				if !strings.Contains(run.args, "--no-install-recommends") || !strings.Contains(run.args, "rm -rf /var/lib/apt/lists/*") {
					t.Errorf("line %d: apt-get install without --no-install-recommends, or the package lists are left in the layer", run.line)
				}
			}
		}
	})

	t.Run("both images run as the same user", func(t *testing.T) {
		// ECS task definitions (and Kubernetes runAsUser) name one numeric user for
		// every service; it must own the writable paths of both images.
		var users []string
		for _, name := range finalStages {
			if u := d.stage(t, name).last("USER"); u != nil {
				users = append(users, u.args)
			}
		}
		for _, u := range users {
			if u != users[0] {
				t.Errorf("the targets %v run as %v: want one UID:GID for all", finalStages, users)
				break
			}
		}
	})

	t.Run("no remote ADD", func(t *testing.T) {
		for _, in := range d.allInstructions() {
			if in.cmd == "ADD" && (strings.Contains(in.args, "://") || strings.Contains(in.args, "git@")) {
				t.Errorf("line %d: ADD of a URL: download in a RUN with a checksum, or COPY from the context", in.line)
			}
		}
	})

	t.Run("no secrets in ENV or ARG", func(t *testing.T) {
		for _, in := range d.allInstructions() {
			if in.cmd != "ENV" && in.cmd != "ARG" {
				continue
			}
			for k, v := range keyValues(t, in) {
				if secretName.MatchString(k) && v != "" {
					t.Errorf("line %d: %s %s has a value: secrets come from the runtime (ECS secrets), never from the image", in.line, in.cmd, k)
				}
			}
		}
	})
}

// TestDockerfileBuildStage checks that the image's binary is built the way the tests
// here build theirs, and with the caching and cross-compilation the brief asks for.
func TestDockerfileBuildStage(t *testing.T) {
	t.Parallel()
	d := parseDockerfile(t)
	s := d.stage(t, "build")
	if s.platform != "$BUILDPLATFORM" {
		t.Errorf("the build stage runs on %q, want --platform=$BUILDPLATFORM (cross-compile instead of emulating)", s.platform)
	}
	if env := s.env(t); env["CGO_ENABLED"] != "0" {
		t.Errorf("CGO_ENABLED=%q in the build stage, want 0 (a static binary for distroless static)", env["CGO_ENABLED"])
	}

	// Order: COPY go.mod go.sum, then go mod download with a module cache, then the sources.
	var modCopy, download, srcCopy, goBuild int
	for i, in := range s.ins {
		switch {
		case in.cmd == "COPY" && strings.HasPrefix(in.args, "go.mod go.sum"):
			modCopy = i + 1
		case in.cmd == "RUN" && strings.Contains(in.args, "go mod download"):
			download = i + 1
			if v, _ := in.flag("mount"); !strings.Contains(v, "type=cache") || !strings.Contains(v, "target=/go/pkg/mod") {
				t.Errorf("line %d: go mod download without --mount=type=cache,target=/go/pkg/mod", in.line)
			}
		case in.cmd == "COPY" && srcCopy == 0 && (strings.HasPrefix(in.args, "cmd/") || strings.HasPrefix(in.args, ". ")):
			srcCopy = i + 1
		case in.cmd == "RUN" && strings.Contains(in.args, "go build"):
			goBuild = i + 1
			mounts := strings.Join(in.flags, " ")
			if !strings.Contains(mounts, "target=/root/.cache/go-build") || !strings.Contains(mounts, "target=/go/pkg/mod") {
				t.Errorf("line %d: go build without cache mounts for the build cache and the module cache", in.line)
			}
			for _, want := range []string{"-trimpath", `-ldflags "-s -w -X main.version=${VERSION}"`, "GOOS=$TARGETOS", "GOARCH=$TARGETARCH", "./cmd/oneshot"} {
				if !strings.Contains(in.args, want) {
					t.Errorf("line %d: go build lacks %s", in.line, want)
				}
			}
		}
	}
	if !(modCopy > 0 && modCopy < download && download < srcCopy && srcCopy < goBuild) {
		t.Errorf("want COPY go.mod go.sum, RUN go mod download, COPY of the sources, RUN go build in that order (found at %d, %d, %d, %d)", modCopy, download, srcCopy, goBuild)
	}
	// The tests build with these flags; keep them in step with the Dockerfile's.
	if got := strings.Join(buildFlags, " "); got != "-trimpath -ldflags -s -w -X main.version="+testVersion {
		t.Errorf("imagetest builds with %q", got)
	}
}

// under reports whether path is dir or inside it.
func under(path, dir string) bool {
	if path == "" || dir == "" {
		return false
	}
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// TestParseDockerfile checks the parser on the constructs the policy depends on.
func TestParseDockerfile(t *testing.T) {
	t.Parallel()
	d, err := parseDockerfileText(`# syntax=docker/dockerfile:1
# check=error=true
# a comment ends the directives
# other=ignored
ARG V=1
FROM --platform=$BUILDPLATFORM golang:1@sha256:` + strings.Repeat("a", 64) + ` AS build
RUN --mount=type=cache,target=/x \
    # a comment inside a continuation
    echo one \
 && echo two
ENV A=1 B="two words" C=3
FROM build AS final
USER 65532:65532
HEALTHCHECK --interval=10s CMD ["/oneshot", "healthcheck"]
ENTRYPOINT ["/oneshot"]
`)
	if err != nil {
		t.Fatal(err)
	}
	if d.directives["syntax"] != "docker/dockerfile:1" || d.directives["check"] != "error=true" || d.directives["other"] != "" {
		t.Errorf("directives = %v", d.directives)
	}
	if len(d.globalArgs) != 1 || len(d.stages) != 2 {
		t.Fatalf("%d global ARGs and %d stages, want 1 and 2", len(d.globalArgs), len(d.stages))
	}
	b := d.stages[0]
	if b.name != "build" || b.platform != "$BUILDPLATFORM" || b.line != 6 {
		t.Errorf("stage 0 = %+v", b)
	}
	run := b.ins[0]
	if v, _ := run.flag("mount"); v != "type=cache,target=/x" || run.args != "echo one && echo two" || run.line != 7 {
		t.Errorf("RUN = %+v", run)
	}
	if env := b.env(t); env["A"] != "1" || env["B"] != "two words" || env["C"] != "3" {
		t.Errorf("ENV = %v", env)
	}
	f := d.stages[1]
	if hc := f.last("HEALTHCHECK"); hc == nil || !hc.exec || !slices.Equal(hc.json, []string{"/oneshot", "healthcheck"}) {
		t.Errorf("HEALTHCHECK = %+v", hc)
	}
	if _, err := parseDockerfileText("FROM x\nRUN a \\\n"); err == nil {
		t.Error("a file ending inside a continuation parsed")
	}
	if _, err := parseDockerfileText(`FROM x` + "\n" + `CMD ["a",` + "\n"); err == nil {
		t.Error("a broken JSON CMD parsed")
	}
}
