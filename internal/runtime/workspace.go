package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/oneshot-run/oneshot/internal/store"
)

// Workspaces are private temporary directories, one per task attempt. A task's workspace
// lives only as long as the attempt: it is removed when the attempt ends, whatever the
// outcome. Workspace state is never carried between workers or attempts: a task that is
// released or rescued continues from its loop checkpoint (results, verdicts, feedback)
// in a fresh workspace with a fresh clone of its repository.

// workspaceOptions configures how workspaces are made.
type workspaceOptions struct {
	Base         string        // parent directory ("" = os.TempDir())
	Allowlist    []string      // https URL prefixes a repo must start with (empty = any https URL)
	CloneTimeout time.Duration // bound on one git clone
}

// newWorkspace makes a private directory for task and, when repo is set, clones it there.
// The returned cleanup removes the directory.
func newWorkspace(ctx context.Context, o workspaceOptions, task string, repo *store.Repo) (dir string, cleanup func(), err error) {
	if o.Base != "" {
		if err := os.MkdirAll(o.Base, 0o700); err != nil {
			return "", nil, fmt.Errorf("create the workspace directory %s: %w", o.Base, err)
		}
	}
	dir, err = os.MkdirTemp(o.Base, "oneshot-"+safeName(task)+"-")
	if err != nil {
		return "", nil, fmt.Errorf("create a workspace for task %s: %w", task, err)
	}
	// MkdirTemp already uses 0700; say so explicitly in case a umask or filesystem differs.
	if err := os.Chmod(dir, 0o700); err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, fmt.Errorf("make the workspace of task %s private: %w", task, err)
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	if repo == nil || repo.URL == "" {
		return dir, cleanup, nil
	}
	if err := checkRepoURL(repo.URL, o.Allowlist); err != nil {
		cleanup()
		return "", nil, err
	}
	if err := clone(ctx, o, repo, dir); err != nil {
		cleanup()
		return "", nil, err
	}
	return dir, cleanup, nil
}

// checkRepoURL accepts https URLs without credentials that start with an allow-list prefix
// (when an allow-list is set).
func checkRepoURL(raw string, allow []string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("repository URL %q is not a valid URL: %w", raw, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("repository URL %q is not allowed: only https:// URLs can be cloned", raw)
	}
	if u.User != nil {
		return fmt.Errorf("repository URL of host %s carries credentials: remove them from the URL (credentials are never stored with tasks)", u.Host)
	}
	if len(allow) == 0 {
		return nil
	}
	for _, prefix := range allow {
		if prefix != "" && strings.HasPrefix(raw, prefix) {
			return nil
		}
	}
	return fmt.Errorf("repository URL %q is not allowed: it matches none of the repo_allowlist prefixes %s", raw, strings.Join(allow, ", "))
}

// clone runs a shallow `git clone` of repo into dir, without prompts, limited to https.
func clone(ctx context.Context, o workspaceOptions, repo *store.Repo, dir string) error {
	if strings.HasPrefix(repo.Ref, "-") {
		return fmt.Errorf("repository ref %q is not a branch or tag name", repo.Ref)
	}
	timeout := o.CloneTimeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := []string{
		// No other transport, even through redirects or submodules.
		"-c", "protocol.allow=never", "-c", "protocol.https.allow=always",
		"-c", "credential.helper=",
	}
	args = append(args, "clone", "--quiet", "--depth", "1", "--no-tags")
	if repo.Ref != "" {
		args = append(args, "--branch", repo.Ref)
	}
	args = append(args, "--", repo.URL, dir)
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=true", "SSH_ASKPASS=true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err == nil {
		return nil
	}
	ref := repo.Ref
	if ref == "" {
		ref = "its default branch"
	}
	msg := strings.TrimSpace(stderr.String())
	if len(msg) > 2000 {
		msg = msg[:2000] + "…"
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("cloning %s (%s) took longer than %s and was stopped: check the repository's size and the network", repo.URL, ref, timeout)
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Errorf("cloning %s: git is not installed on this worker: %w", repo.URL, err)
	case msg != "":
		return fmt.Errorf("cloning %s (%s) failed: %s: check the URL, the ref and that the repository is public or reachable by this worker", repo.URL, ref, msg)
	default:
		return fmt.Errorf("cloning %s (%s) failed: %w", repo.URL, ref, err)
	}
}

// safeName keeps a task id usable inside a file name.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		}
		if b.Len() >= 40 {
			break
		}
	}
	return b.String()
}
