package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/oneshot-run/oneshot/internal/config"
	"github.com/oneshot-run/oneshot/internal/executor"
	"github.com/oneshot-run/oneshot/internal/store"
)

// createRequest is the body of POST /api/v1/tasks.
type createRequest struct {
	Prompt        string            `json:"prompt"`
	Profile       string            `json:"profile,omitempty"`
	Model         *string           `json:"model,omitempty"`
	MaxIterations *int              `json:"max_iterations,omitempty"`
	Repo          *repoRequest      `json:"repo,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Priority      *int              `json:"priority,omitempty"`
}

type repoRequest struct {
	URL string `json:"url"`
	Ref string `json:"ref,omitempty"`
}

const requestFields = "prompt, profile, model, max_iterations, repo (url, ref), labels, priority"

// Limits on what a task may carry.
const (
	maxLabels        = 20
	maxLabelKeyLen   = 63
	maxLabelValueLen = 256
	maxModelLen      = 128
	maxRepoURLLen    = 2048
	maxRefLen        = 255
	defaultPriority  = 1
	lowestPriority   = 4 // River's range is 1 (highest) to 4
	defaultIters     = 3
)

var (
	labelKeyRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$`)
	// modelRE keeps model names to what providers use, and never lets one start with
	// '-': CLI executors pass the model as an argument, where it must not become a flag.
	modelRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$`)
	refRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/+-]*$`)
)

// decodeCreate reads and strictly decodes the body of a create request: one JSON object,
// known fields only, within the size limit.
func (s *server) decodeCreate(w http.ResponseWriter, r *http.Request) (*createRequest, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, newError(http.StatusUnsupportedMediaType, codeUnsupportedMediaType,
				"the request body must be JSON: send the header \"Content-Type: application/json\" (got %q)", ct)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, newError(http.StatusRequestEntityTooLarge, codePayloadTooLarge,
			"the request body is larger than %d bytes: shorten the prompt (at most %d bytes) and put long material in the repository", s.maxBody, s.maxPrompt)
	}
	if err != nil {
		return nil, errInvalid("could not read the request body: %v", err)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errInvalid(`the request body is empty: send a JSON object such as {"prompt": "fix the failing test", "profile": "default"}`)
	}
	if trimmed[0] != '{' {
		return nil, errInvalid(`the request body must be a JSON object such as {"prompt": "fix the failing test"}`)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	var req createRequest
	if err := dec.Decode(&req); err != nil {
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errInvalid("the request body must hold exactly one JSON object, but more follows it")
	}
	return &req, nil
}

// jsonError words a decoding error for the client.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return errInvalid("the request body is not valid JSON (at byte %d): %v", syntax.Offset, err)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the request body"
		}
		return errInvalid("field %s must be %s, not a JSON %s", field, jsonTypeName(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errInvalid("the request body ends in the middle of a JSON value: send a complete JSON object")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return errInvalid("unknown field %s in the request body: remove it; the fields are %s", name, requestFields)
	}
	return errInvalid("the request body could not be read as a task: %v", err)
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "int", "int64", "int32":
		return "a whole number"
	case "map", "struct", "ptr":
		return "an object"
	case "slice":
		return "an array"
	case "bool":
		return "true or false"
	}
	return "a " + kind
}

// taskPlan is a validated create request, resolved against the server's profiles.
type taskPlan struct {
	spec          store.TaskSpec
	worker        executor.Spec
	auditor       executor.Spec
	maxIterations int
}

// validate checks a create request and resolves its profile. Every error names the field
// and says what is allowed.
func (s *server) validate(req *createRequest) (*taskPlan, error) {
	if strings.TrimSpace(req.Prompt) == "" {
		return nil, errInvalid(`field prompt is required: say what the agent should do, e.g. {"prompt": "fix the failing test"}`)
	}
	if len(req.Prompt) > s.maxPrompt {
		return nil, errInvalid("field prompt is %d bytes, more than the limit of %d: shorten it and put long material in the repository", len(req.Prompt), s.maxPrompt)
	}
	if strings.ContainsRune(req.Prompt, 0) {
		return nil, errInvalid("field prompt contains a NUL character (\\u0000): remove it")
	}

	name := req.Profile
	if name == "" {
		name = "default"
	}
	profile, ok := s.profiles[name]
	if !ok {
		if req.Profile == "" {
			return nil, errInvalid("field profile is required on this server (it has no profile named default): use one of %s", s.profileNames())
		}
		return nil, errInvalid("unknown profile %q in field profile: use one of %s", clip(req.Profile), s.profileNames())
	}

	spec := store.TaskSpec{Prompt: req.Prompt, Profile: name, Priority: defaultPriority}
	worker, auditor := agentSpec(s.cfg, profile.Worker), agentSpec(s.cfg, profile.Auditor)
	if req.Model != nil && *req.Model != "" {
		m := *req.Model
		if len(m) > maxModelLen || !modelRE.MatchString(m) {
			return nil, errInvalid("field model %q is not a model name: use at most %d letters, digits and . _ : / @ + -, starting with a letter or digit", clip(m), maxModelLen)
		}
		spec.Model, worker.Model = m, m
	}

	maxIter := profile.MaxIterations
	if maxIter <= 0 {
		maxIter = defaultIters
	}
	if req.MaxIterations != nil {
		n := *req.MaxIterations
		if n < 1 || n > s.iterationsCap {
			return nil, errInvalid("field max_iterations is %d: use a number from 1 to %d (the server's cap)", n, s.iterationsCap)
		}
		spec.MaxIterations, maxIter = n, n
	}

	if req.Priority != nil {
		p := *req.Priority
		if p < 1 || p > lowestPriority {
			return nil, errInvalid("field priority is %d: use 1 (highest) to %d (lowest)", p, lowestPriority)
		}
		spec.Priority = p
	}

	if req.Repo != nil {
		repo, err := s.validateRepo(req.Repo)
		if err != nil {
			return nil, err
		}
		spec.Repo = repo
	}

	if len(req.Labels) > 0 {
		labels, err := validateLabels(req.Labels)
		if err != nil {
			return nil, err
		}
		spec.Labels = labels
	}
	return &taskPlan{spec: spec, worker: worker, auditor: auditor, maxIterations: maxIter}, nil
}

func (s *server) validateRepo(in *repoRequest) (*store.Repo, error) {
	raw := in.URL
	if raw == "" {
		return nil, errInvalid(`field repo.url is required when repo is given: use an https URL such as {"url": "https://github.com/org/repo", "ref": "main"}`)
	}
	if len(raw) > maxRepoURLLen {
		return nil, errInvalid("field repo.url is longer than %d bytes", maxRepoURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errInvalid("field repo.url is not a URL (%v): use an https:// URL such as https://github.com/org/repo", errors.Unwrap(err))
	}
	switch {
	case u.Scheme != "https":
		return nil, errInvalid("field repo.url must be an https:// URL (got %q): other schemes are not allowed", clip(u.Scheme+":"))
	case u.User != nil:
		return nil, errInvalid("field repo.url must not contain a user name or password: credentials never go into task records; the workers get repository access from their own configuration")
	case u.Host == "" || u.Opaque != "":
		return nil, errInvalid("field repo.url must name a host, like https://github.com/org/repo")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, errInvalid("field repo.url must not have a query (?) or fragment (#): use the repository's plain clone URL")
	case hasDotSegment(u.Path) || strings.ContainsAny(u.Path, "\\") || hasControl(raw):
		return nil, errInvalid("field repo.url has . or .. path segments, backslashes or control characters: use the repository's plain clone URL")
	}
	if s.restricted && !s.repoAllowed(u) {
		return nil, errInvalid("field repo.url %s is not allowed on this server: repositories must be under one of %s", clip(raw), s.allowlistText())
	}
	repo := &store.Repo{URL: raw}
	if in.Ref != "" {
		ref := in.Ref
		if len(ref) > maxRefLen || !refRE.MatchString(ref) || strings.Contains(ref, "..") || strings.HasSuffix(ref, "/") || strings.HasSuffix(ref, ".lock") {
			return nil, errInvalid("field repo.ref %q is not a branch, tag or commit name: use letters, digits and . _ / + -, starting with a letter or digit", clip(ref))
		}
		repo.Ref = ref
	}
	return repo, nil
}

func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

func validateLabels(in map[string]string) (map[string]string, error) {
	if len(in) > maxLabels {
		return nil, errInvalid("field labels has %d keys, more than the limit of %d", len(in), maxLabels)
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		if len(k) > maxLabelKeyLen || !labelKeyRE.MatchString(k) {
			return nil, errInvalid("label key %q is not allowed: use 1 to %d letters, digits and . _ / -, starting and ending with a letter or digit", clip(k), maxLabelKeyLen)
		}
		if len(v) > maxLabelValueLen || hasControl(v) || !utf8.ValidString(v) {
			return nil, errInvalid("label %s has a value that is longer than %d bytes or contains control characters", k, maxLabelValueLen)
		}
		out[k] = v
	}
	return out, nil
}

// allowedRepo is a parsed repo_allowlist entry: a host and a path prefix that matches
// whole path segments (https://github.com/org allows /org/x, not /organisation).
type allowedRepo struct {
	host string
	path string
	text string
}

func parseAllowlist(entries []string) (allowed []allowedRepo, invalid []string) {
	for _, e := range entries {
		u, err := url.Parse(strings.TrimSpace(e))
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			invalid = append(invalid, e)
			continue
		}
		allowed = append(allowed, allowedRepo{host: strings.ToLower(u.Host), path: strings.TrimSuffix(u.Path, "/"), text: e})
	}
	return allowed, invalid
}

func (s *server) repoAllowed(u *url.URL) bool {
	host := strings.ToLower(u.Host)
	for _, a := range s.allowlist {
		if host != a.host {
			continue
		}
		if a.path == "" || u.Path == a.path || strings.HasPrefix(u.Path, a.path+"/") {
			return true
		}
	}
	return false
}

func (s *server) allowlistText() string {
	if len(s.allowlist) == 0 {
		return "(none: the server's repo_allowlist has no valid https URL; ask the operator)"
	}
	texts := make([]string, len(s.allowlist))
	for i, a := range s.allowlist {
		texts[i] = a.text
	}
	return strings.Join(texts, ", ")
}

func (s *server) profileNames() string {
	if len(s.profiles) == 0 {
		return "(none: the operator must define profiles in the server configuration)"
	}
	names := make([]string, 0, len(s.profiles))
	for n := range s.profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// agentSpec resolves a profile's agent to the spec stored with the run. It never holds
// an API key: workers resolve keys from their own environment when they run the task.
func agentSpec(c *config.Config, a config.Agent) executor.Spec {
	return executor.Spec{
		Executor: a.Executor, Model: a.Model, Endpoint: a.Endpoint,
		Command: slices.Clone(a.Command), ExtraArgs: slices.Clone(a.ExtraArgs),
		InactivityTimeout: c.InactivityTimeout, MaxTimeout: c.MaxTimeout,
	}
}

// clip shortens a client's value quoted back in an error message.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
