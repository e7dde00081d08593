package imagetest

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dockerignore matches paths the way Docker and BuildKit read .dockerignore: patterns in
// order, the last one that matches a path or one of its parent directories decides, "!"
// re-includes; "*" and "?" stay within one path element, "**" crosses them.
type dockerignore []ignorePattern

type ignorePattern struct {
	text      string // cleaned, without "!"
	exclusion bool   // "!pattern"
	kind      int    // how to match, see compile
	re        *regexp.Regexp
}

const (
	matchExact = iota
	matchPrefix
	matchSuffix
	matchRegexp
)

func readDockerignore(r io.Reader) (dockerignore, error) {
	var out dockerignore
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			line = strings.TrimPrefix(line, "\ufeff")
			first = false
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		p := ignorePattern{}
		if line[0] == '!' {
			p.exclusion = true
			line = strings.TrimSpace(line[1:])
			if line == "" {
				return nil, fmt.Errorf(`illegal exclusion pattern "!"`)
			}
		}
		line = path.Clean(filepath.ToSlash(line))
		if len(line) > 1 && line[0] == '/' {
			line = line[1:]
		}
		p.text = line
		if err := p.compile(); err != nil {
			return nil, fmt.Errorf("pattern %q: %w", line, err)
		}
		out = append(out, p)
	}
	return out, sc.Err()
}

// compile decides how the pattern matches: a literal path, "dir/**" (a prefix),
// "**/name" (a suffix) or, with any other wildcard, a regular expression.
func (p *ignorePattern) compile() error {
	var re strings.Builder
	re.WriteString("^")
	kind := matchExact
	rs := []rune(p.text)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; {
		case c == '*' && i+1 < len(rs) && rs[i+1] == '*':
			atStart := i == 0
			i++
			if i+1 < len(rs) && rs[i+1] == '/' {
				i++
			}
			switch {
			case i+1 == len(rs) && kind == matchExact:
				kind = matchPrefix
			case i+1 == len(rs):
				re.WriteString(".*")
				kind = matchRegexp
			default:
				re.WriteString("(.*/)?")
				kind = matchRegexp
			}
			if atStart {
				kind = matchSuffix
			}
		case c == '*':
			re.WriteString("[^/]*")
			kind = matchRegexp
		case c == '?':
			re.WriteString("[^/]")
			kind = matchRegexp
		case c == '\\' && i+1 < len(rs):
			i++
			re.WriteString(regexp.QuoteMeta(string(rs[i])))
			kind = matchRegexp
		case c == '[' || c == ']':
			re.WriteRune(c)
			kind = matchRegexp
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	p.kind = kind
	if kind == matchRegexp {
		re.WriteString("$")
		r, err := regexp.Compile(re.String())
		if err != nil {
			return err
		}
		p.re = r
	}
	return nil
}

func (p *ignorePattern) match(rel string) bool {
	switch p.kind {
	case matchExact:
		return rel == p.text
	case matchPrefix:
		return strings.HasPrefix(rel, strings.TrimSuffix(p.text, "**"))
	case matchSuffix:
		suffix := strings.TrimPrefix(p.text, "**")
		return strings.HasSuffix(rel, suffix) || (strings.HasPrefix(suffix, "/") && rel == suffix[1:])
	default:
		return p.re.MatchString(rel)
	}
}

// excluded reports whether .dockerignore keeps rel (slash-separated, relative to the
// context) out of the build context.
func (d dockerignore) excluded(rel string) bool {
	excluded := false
	parents := strings.Split(path.Dir(rel), "/")
	for i := range d {
		p := &d[i]
		if p.exclusion != excluded {
			continue // cannot change the outcome
		}
		m := p.match(rel)
		if !m && path.Dir(rel) != "." {
			for j := range parents {
				if p.match(strings.Join(parents[:j+1], "/")) {
					m = true
					break
				}
			}
		}
		if m {
			excluded = !p.exclusion
		}
	}
	return excluded
}

func loadDockerignore(t *testing.T) dockerignore {
	t.Helper()
	f, err := os.Open(filepath.Join(build.root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := readDockerignore(f)
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	return d
}

func TestDockerignoreMatching(t *testing.T) {
	t.Parallel()
	d, err := readDockerignore(strings.NewReader(`# comment
*
!cmd/
!docs/keep.md
/docs/keep.md/../x
**/*_test.go
**/testdata/
build/**
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]bool{
		"go.mod":                       true,
		"cmd/oneshot/main.go":          false,
		"cmd/oneshot/main_test.go":     true,
		"cmd/x/testdata/a.txt":         true,
		"cmd/testdata":                 true,
		"docs/keep.md":                 false,
		"docs/other.md":                true,
		"docs/x":                       true,
		"build/out/file":               true,
		"cmd/oneshot/testdata_not.go":  false,
		"cmd/oneshot/sub/x_test.go.md": false,
	}
	for p, want := range tests {
		if got := d.excluded(p); got != want {
			t.Errorf("excluded(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestDockerignore checks what the repository's .dockerignore lets into the build.
func TestDockerignore(t *testing.T) {
	t.Parallel()
	d := loadDockerignore(t)
	tests := []struct {
		path     string
		included bool
	}{
		{"go.mod", true},
		{"go.sum", true},
		{"cmd/oneshot/main.go", true},
		{"internal/api/openapi.json", true},
		{"internal/prompt/templates/worker.tmpl", true},
		{"internal/store/migrations/0001_init.sql", true},
		{"internal/api/server_test.go", false},
		{"internal/executor/testdata/streams/claude-basic.out", false},
		{".git/config", false},
		{".env", false},
		{"infra/bootstrap/main.tf", false},
		{"infra/envs/dev/terraform.tfstate", false},
		{"bin/oneshot", false},
		{"docs/container.md", false},
		{"Dockerfile", false},
		{"tools/dockerfilelint/main.go", false},
	}
	for _, tt := range tests {
		if got := !d.excluded(tt.path); got != tt.included {
			t.Errorf("%s: in the build context = %v, want %v", tt.path, got, tt.included)
		}
	}
}

// TestBuildContextBuilds copies what the build stage's COPY instructions take from the
// context, filtered through .dockerignore, and builds the binary from that alone: a
// file the build needs (an embedded template, a migration) that .dockerignore or the
// COPY lines leave out breaks this test instead of the image build.
func TestBuildContextBuilds(t *testing.T) {
	t.Parallel()
	ignore := loadDockerignore(t)
	st := parseDockerfile(t).stage(t, "build")
	ctx := t.TempDir()
	copied := 0
	for _, c := range st.all("COPY") {
		if _, ok := c.flag("from"); ok {
			continue
		}
		f := strings.Fields(c.args)
		for _, src := range f[:len(f)-1] {
			root := filepath.Join(build.root, filepath.FromSlash(src))
			err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, err := filepath.Rel(build.root, p)
				if err != nil {
					return err
				}
				rel = filepath.ToSlash(rel)
				if e.IsDir() {
					return nil
				}
				if ignore.excluded(rel) {
					if !strings.HasSuffix(rel, "_test.go") && !strings.Contains(rel, "/testdata/") && !strings.HasSuffix(rel, ".test") && path.Base(rel) != ".DS_Store" {
						t.Logf("left out of the context: %s", rel)
					}
					return nil
				}
				if strings.HasSuffix(rel, "_test.go") || strings.Contains(rel, "/testdata/") {
					t.Errorf("%s is in the build context", rel)
				}
				copied++
				return copyFile(p, filepath.Join(ctx, filepath.FromSlash(rel)))
			})
			if err != nil {
				t.Fatalf("COPY %s: %v", src, err)
			}
		}
	}
	if copied == 0 {
		t.Fatal("the build stage copies nothing from the context")
	}
	if err := goBuild(ctx, filepath.Join(t.TempDir(), "oneshot")); err != nil {
		t.Fatalf("the binary does not build from what the image build sees (%d files): %v", copied, err)
	}
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
