// Package deploy renders the ECS task definitions of a release for one environment.
//
// A release is built once and promoted from environment to environment; what changes
// between environments is infrastructure (roles, log groups, secrets, sizes), which
// Terraform knows. The renderer joins three things:
//
//   - the templates under deploy/templates (what the application needs: commands, ports,
//     health checks, the container's shape), versioned with the code;
//   - the release (release.json: the version stamped into the binary and the image
//     digest per repository), written by the release workflow;
//   - the environment's deploy configuration, the `deploy` output of its Terraform root
//     (either the file `terraform output -json` writes or that output's value alone).
//
// The output is one JSON document per kind (api, worker, migrate) that
// `aws ecs register-task-definition --cli-input-json` accepts. The pipeline registers
// these revisions and points the services at them; Terraform ignores the task definition
// of the services, so neither undoes the other's work.
package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/template"
)

// Kinds are the task definitions of a release, in the order the pipeline uses them.
var Kinds = []string{"migrate", "worker", "api"}

// VersionLabel is the container label that carries the release version. The smoke test
// reads it from the task definition under test to know which version must answer.
const VersionLabel = "org.opencontainers.image.version"

// RevisionLabel carries the commit the release was built from.
const RevisionLabel = "org.opencontainers.image.revision"

var (
	digestPattern  = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	versionPattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._+-]{0,127}$`)
	familyPattern  = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)
	envPattern     = regexp.MustCompile(`^(dev|staging|prod)$`)
)

// Release is release.json: what the release workflow built.
type Release struct {
	// Version is stamped into the binary (-X main.version) and reported by /healthz.
	Version string `json:"version"`
	// Revision is the git commit the images were built from.
	Revision string `json:"revision"`
	// Images maps a repository short name (oneshot, oneshot-agents) to the digest of
	// the image pushed there, "sha256:<64 hex>".
	Images map[string]string `json:"images"`
}

// Validate says what is wrong with a release, if anything.
func (r Release) Validate() error {
	var errs []error
	if !versionPattern.MatchString(r.Version) {
		errs = append(errs, fmt.Errorf("version %q is not a release version (letters, digits, '.', '_', '+', '-')", r.Version))
	}
	if len(r.Images) == 0 {
		errs = append(errs, errors.New("images is empty: release.json must name the digest of at least the oneshot image"))
	}
	for _, name := range sortedKeys(r.Images) {
		if !digestPattern.MatchString(r.Images[name]) {
			errs = append(errs, fmt.Errorf("images.%s = %q is not an image digest (sha256:<64 hex digits>)", name, r.Images[name]))
		}
	}
	return errors.Join(errs...)
}

// Config is an environment's deploy configuration: the value of its Terraform `deploy`
// output.
type Config struct {
	Environment string `json:"environment"`
	Region      string `json:"region"`
	// Repositories maps a repository short name to its URL (<registry>/<name>).
	Repositories map[string]string `json:"repositories"`
	// Services holds one entry per kind: api, worker, migrate.
	Services map[string]Service `json:"services"`
}

// Service is what Terraform knows about one task definition.
type Service struct {
	Family string `json:"family"`
	// Image is the short name of the repository the container runs (default oneshot).
	Image            string `json:"image"`
	CPU              int    `json:"cpu"`
	Memory           int    `json:"memory"`
	CPUArchitecture  string `json:"cpu_architecture"`
	ExecutionRoleARN string `json:"execution_role_arn"`
	TaskRoleARN      string `json:"task_role_arn"`
	LogGroupName     string `json:"log_group_name"`
	ContainerName    string `json:"container_name"`
	// Port the process listens on (api 8080, worker 8081 by default; unused by migrate).
	Port int `json:"port"`
	// User overrides the image's numeric user; empty keeps the image's USER.
	User                string            `json:"user"`
	Environment         map[string]string `json:"environment"`
	Secrets             map[string]string `json:"secrets"`
	EphemeralStorageGiB int               `json:"ephemeral_storage_gib"`
	// ScratchVolumes are task-local volumes, name => mount path: the root filesystem is
	// read-only, so every path the process writes to is one of these.
	ScratchVolumes map[string]string `json:"scratch_volumes"`
	// MetricNamespace is where the worker publishes its EMF metrics (default
	// Oneshot/<environment>).
	MetricNamespace string `json:"metric_namespace"`
}

var defaultPorts = map[string]int{"api": 8080, "worker": 8081}

// withDefaults fills the optional fields.
func (s Service) withDefaults(kind, environment string) Service {
	if s.Image == "" {
		s.Image = "oneshot"
	}
	if s.CPUArchitecture == "" {
		s.CPUArchitecture = "ARM64"
	}
	if s.ContainerName == "" {
		s.ContainerName = "oneshot"
	}
	if s.Port == 0 {
		s.Port = defaultPorts[kind]
	}
	if s.EphemeralStorageGiB == 0 {
		s.EphemeralStorageGiB = 21
	}
	if s.ScratchVolumes == nil {
		s.ScratchVolumes = map[string]string{"tmp": "/tmp"}
	}
	if s.MetricNamespace == "" {
		s.MetricNamespace = "Oneshot/" + environment
	}
	return s
}

// Validate says what is wrong with a configuration, if anything.
func (c Config) Validate() error {
	var errs []error
	if !envPattern.MatchString(c.Environment) {
		errs = append(errs, fmt.Errorf("environment %q must be dev, staging or prod", c.Environment))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("region is empty"))
	}
	for _, kind := range Kinds {
		s, ok := c.Services[kind]
		if !ok {
			errs = append(errs, fmt.Errorf("services.%s is missing", kind))
			continue
		}
		s = s.withDefaults(kind, c.Environment)
		if !familyPattern.MatchString(s.Family) {
			errs = append(errs, fmt.Errorf("services.%s.family %q must be 1-255 letters, digits, '-' and '_'", kind, s.Family))
		}
		if _, ok := c.Repositories[s.Image]; !ok {
			errs = append(errs, fmt.Errorf("services.%s.image %q is not one of repositories (%s)", kind, s.Image, strings.Join(sortedKeys(c.Repositories), ", ")))
		}
		if s.CPU <= 0 || s.Memory <= 0 {
			errs = append(errs, fmt.Errorf("services.%s needs cpu and memory (got %d CPU units, %d MiB)", kind, s.CPU, s.Memory))
		}
		if s.CPUArchitecture != "ARM64" && s.CPUArchitecture != "X86_64" {
			errs = append(errs, fmt.Errorf("services.%s.cpu_architecture %q must be ARM64 or X86_64", kind, s.CPUArchitecture))
		}
		for field, value := range map[string]string{"execution_role_arn": s.ExecutionRoleARN, "task_role_arn": s.TaskRoleARN} {
			if !strings.HasPrefix(value, "arn:") {
				errs = append(errs, fmt.Errorf("services.%s.%s %q is not an ARN", kind, field, value))
			}
		}
		if s.LogGroupName == "" {
			errs = append(errs, fmt.Errorf("services.%s.log_group_name is empty", kind))
		}
		for name, from := range s.Secrets {
			if !strings.HasPrefix(from, "arn:") {
				errs = append(errs, fmt.Errorf("services.%s.secrets.%s %q is not an ARN of a secret or parameter", kind, name, from))
			}
		}
		for name, path := range s.ScratchVolumes {
			if !strings.HasPrefix(path, "/") || path == "/" {
				errs = append(errs, fmt.Errorf("services.%s.scratch_volumes.%s %q must be an absolute path other than /", kind, name, path))
			}
		}
	}
	for kind := range c.Services {
		if !slices.Contains(Kinds, kind) {
			errs = append(errs, fmt.Errorf("services.%s is not a kind the renderer knows (%s)", kind, strings.Join(Kinds, ", ")))
		}
	}
	return errors.Join(errs...)
}

// ParseConfig reads a deploy configuration: either the JSON `terraform output -json`
// writes, from which the output named outputName is taken, or the configuration itself.
func ParseConfig(data []byte, outputName string) (Config, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return Config{}, fmt.Errorf("the deploy configuration is not a JSON object: %w", err)
	}
	raw := json.RawMessage(data)
	if _, plain := probe["services"]; !plain {
		out, ok := probe[outputName]
		if !ok {
			return Config{}, fmt.Errorf("no output %q and no \"services\": pass the file `terraform output -json` writes for an environment root, or the value of its %s output", outputName, outputName)
		}
		var wrapped struct {
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(out, &wrapped); err != nil || len(wrapped.Value) == 0 {
			return Config{}, fmt.Errorf("output %q has no value: is the file from `terraform output -json`?", outputName)
		}
		raw = wrapped.Value
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("read the deploy configuration: %w", err)
	}
	return c, nil
}

// ParseRelease reads release.json.
func ParseRelease(data []byte) (Release, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Release
	if err := dec.Decode(&r); err != nil {
		return Release{}, fmt.Errorf("read release.json: %w", err)
	}
	return r, nil
}

// Templates are the parsed task definition templates: one "<kind>.json.tmpl" per kind,
// plus any "*.tmpl" they share definitions with.
type Templates struct {
	t *template.Template
}

// LoadTemplates parses every *.tmpl file in dir.
func LoadTemplates(dir string) (*Templates, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tmpl"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.tmpl files in %s: pass --templates with the repository's deploy/templates folder", dir)
	}
	t, err := template.New("deploy").Funcs(funcs).Option("missingkey=error").ParseFiles(files...)
	if err != nil {
		return nil, fmt.Errorf("parse the templates in %s: %w", dir, err)
	}
	for _, kind := range Kinds {
		if t.Lookup(kind+".json.tmpl") == nil {
			return nil, fmt.Errorf("%s has no %s.json.tmpl", dir, kind)
		}
	}
	return &Templates{t: t}, nil
}

// data is what a template sees.
type data struct {
	Kind        string
	Environment string
	Region      string
	Service     Service
	Release     Release
	// Image is the full image reference, "<repository URL>@sha256:...".
	Image string
}

// Render renders the task definition of every kind, indented JSON by kind.
func (ts *Templates) Render(cfg Config, rel Release) (map[string][]byte, error) {
	if err := rel.Validate(); err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("deploy configuration: %w", err)
	}
	out := make(map[string][]byte, len(Kinds))
	for _, kind := range Kinds {
		svc := cfg.Services[kind].withDefaults(kind, cfg.Environment)
		digest, ok := rel.Images[svc.Image]
		if !ok {
			return nil, fmt.Errorf("%s runs the %s image, but the release has no digest for it (images: %s)", kind, svc.Image, strings.Join(sortedKeys(rel.Images), ", "))
		}
		d := data{
			Kind: kind, Environment: cfg.Environment, Region: cfg.Region,
			Service: svc, Release: rel,
			Image: cfg.Repositories[svc.Image] + "@" + digest,
		}
		var buf bytes.Buffer
		if err := ts.t.ExecuteTemplate(&buf, kind+".json.tmpl", d); err != nil {
			return nil, fmt.Errorf("render %s: %w", kind, err)
		}
		doc, err := canonical(buf.Bytes())
		if err != nil {
			return nil, fmt.Errorf("render %s: the template produced invalid JSON: %w", kind, err)
		}
		if err := checkTaskDefinition(doc, d); err != nil {
			return nil, fmt.Errorf("render %s: %w", kind, err)
		}
		out[kind] = doc
	}
	return out, nil
}

// canonical re-indents a JSON document so that rendered files and their golden copies
// compare byte for byte whatever the template's whitespace.
func canonical(doc []byte) ([]byte, error) {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// checkTaskDefinition enforces what the pipeline and the smoke test rely on, so that a
// template edit cannot silently drop it.
func checkTaskDefinition(doc []byte, d data) error {
	var td struct {
		Family               string `json:"family"`
		ContainerDefinitions []struct {
			Name                   string            `json:"name"`
			Image                  string            `json:"image"`
			ReadonlyRootFilesystem bool              `json:"readonlyRootFilesystem"`
			DockerLabels           map[string]string `json:"dockerLabels"`
		} `json:"containerDefinitions"`
	}
	if err := json.Unmarshal(doc, &td); err != nil {
		return err
	}
	if td.Family != d.Service.Family {
		return fmt.Errorf("family is %q, want %q", td.Family, d.Service.Family)
	}
	for _, c := range td.ContainerDefinitions {
		if c.Name != d.Service.ContainerName {
			continue
		}
		switch {
		case c.Image != d.Image:
			return fmt.Errorf("container %s runs %q, want the release's image %q", c.Name, c.Image, d.Image)
		case !c.ReadonlyRootFilesystem:
			return fmt.Errorf("container %s must have readonlyRootFilesystem", c.Name)
		case c.DockerLabels[VersionLabel] != d.Release.Version:
			return fmt.Errorf("container %s must carry the label %s=%s (the smoke test reads it)", c.Name, VersionLabel, d.Release.Version)
		}
		return nil
	}
	return fmt.Errorf("no container named %q", d.Service.ContainerName)
}

// WriteFiles renders into dir/<kind>.json and returns the paths written, in Kinds order.
func WriteFiles(dir string, docs map[string][]byte) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, kind := range Kinds {
		doc, ok := docs[kind]
		if !ok {
			continue
		}
		p := filepath.Join(dir, kind+".json")
		if err := os.WriteFile(p, doc, 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

var funcs = template.FuncMap{
	// json writes any value as compact JSON (strings quoted and escaped).
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	// environment writes a map as the sorted [{"name","value"}] list ECS wants.
	"environment": func(m map[string]string) (string, error) {
		type pair struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		}
		list := make([]pair, 0, len(m))
		for _, k := range sortedKeys(m) {
			list = append(list, pair{k, m[k]})
		}
		b, err := json.Marshal(list)
		return string(b), err
	},
	// secrets writes a map as the sorted [{"name","valueFrom"}] list ECS wants.
	"secrets": func(m map[string]string) (string, error) {
		type pair struct {
			Name      string `json:"name"`
			ValueFrom string `json:"valueFrom"`
		}
		list := make([]pair, 0, len(m))
		for _, k := range sortedKeys(m) {
			list = append(list, pair{k, m[k]})
		}
		b, err := json.Marshal(list)
		return string(b), err
	},
	// volumes writes the scratch volumes as task volumes (sorted by name).
	"volumes": func(m map[string]string) (string, error) {
		type volume struct {
			Name string `json:"name"`
		}
		list := make([]volume, 0, len(m))
		for _, k := range sortedKeys(m) {
			list = append(list, volume{k})
		}
		b, err := json.Marshal(list)
		return string(b), err
	},
	// mounts writes the scratch volumes as the container's mount points.
	"mounts": func(m map[string]string) (string, error) {
		type mount struct {
			SourceVolume  string `json:"sourceVolume"`
			ContainerPath string `json:"containerPath"`
			ReadOnly      bool   `json:"readOnly"`
		}
		list := make([]mount, 0, len(m))
		for _, k := range sortedKeys(m) {
			list = append(list, mount{k, m[k], false})
		}
		b, err := json.Marshal(list)
		return string(b), err
	},
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
