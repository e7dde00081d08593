package runtime

import (
	"context"
	"encoding/pem"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oneshot-run/oneshot/internal/store"
)

func TestCheckRepoURL(t *testing.T) {
	allow := []string{"https://github.com/acme/"}
	cases := []struct {
		url   string
		allow []string
		want  string // substring of the error; "" = accepted
	}{
		{"https://github.com/acme/app.git", nil, ""},
		{"https://github.com/acme/app.git", allow, ""},
		{"https://github.com/other/app.git", allow, "matches none of the repo_allowlist"},
		{"http://github.com/acme/app.git", nil, "only https://"},
		{"ssh://git@github.com/acme/app.git", nil, "only https://"},
		{"file:///etc", nil, "only https://"},
		{"git@github.com:acme/app.git", nil, "not"},
		{"https://user:secret@github.com/acme/app.git", nil, "carries credentials"},
		{"https:///nohost", nil, "only https://"},
	}
	for _, c := range cases {
		err := checkRepoURL(c.url, c.allow)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: rejected: %v", c.url, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error = %v, want it to mention %q", c.url, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error repeats the URL's password: %v", c.url, err)
		}
	}
}

func TestWorkspaceIsPrivateAndRemoved(t *testing.T) {
	base := t.TempDir()
	dir, cleanup, err := newWorkspace(context.Background(), workspaceOptions{Base: base}, "task/../1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(dir) != base {
		t.Fatalf("workspace %s is not under the configured base %s", dir, base)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("workspace mode = %v, want 0700", fi.Mode().Perm())
	}
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte("y"), 0o600); err != nil {
		t.Fatal(err)
	}
	cleanup()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("workspace still exists after cleanup: %v", err)
	}
}

func TestCloneFailureIsClearAndLeavesNothing(t *testing.T) {
	requireGit(t)
	base := t.TempDir()
	// A TLS server that is not a git server: the clone must fail fast and say so.
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	trustServer(t, srv)
	_, _, err := newWorkspace(context.Background(), workspaceOptions{Base: base},
		"t1", &store.Repo{URL: srv.URL + "/nothing.git", Ref: "main"})
	if err == nil || !strings.Contains(err.Error(), "cloning "+srv.URL+"/nothing.git (main) failed") {
		t.Fatalf("error = %v, want a clone failure naming the URL and ref", err)
	}
	entries, _ := os.ReadDir(base)
	if len(entries) != 0 {
		t.Fatalf("a failed clone left %d entries in the workspace directory", len(entries))
	}
}

func TestCloneOverHTTPS(t *testing.T) {
	requireGit(t)
	// A real smart-HTTP git server: git http-backend behind a TLS test server.
	root := t.TempDir()
	src := filepath.Join(root, "src")
	git(t, "", "init", "--quiet", "-b", "main", src)
	if err := os.WriteFile(filepath.Join(src, "README"), []byte("hello from the repo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, src, "add", "README")
	git(t, src, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "first")
	git(t, "", "clone", "--quiet", "--bare", src, filepath.Join(root, "repo.git"))
	backend := filepath.Join(gitExecPath(t), "git-http-backend")
	srv := httptest.NewTLSServer(&cgi.Handler{
		Path: backend,
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	})
	defer srv.Close()
	trustServer(t, srv)

	dir, cleanup, err := newWorkspace(context.Background(), workspaceOptions{Base: t.TempDir()},
		"t1", &store.Repo{URL: srv.URL + "/repo.git", Ref: "main"})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	b, err := os.ReadFile(filepath.Join(dir, "README"))
	if err != nil || string(b) != "hello from the repo\n" {
		t.Fatalf("cloned README = %q, %v", b, err)
	}

	_, _, err = newWorkspace(context.Background(), workspaceOptions{Base: t.TempDir()},
		"t2", &store.Repo{URL: srv.URL + "/repo.git", Ref: "no-such-branch"})
	if err == nil || !strings.Contains(err.Error(), "no-such-branch") {
		t.Fatalf("clone of a missing branch: error = %v, want one naming the branch", err)
	}
}

func requireGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
}

func gitExecPath(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// trustServer makes git trust the test server's certificate (and only it).
func trustServer(t *testing.T, srv *httptest.Server) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GIT_SSL_CAINFO", path)
}
