package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Sources says where to look for configuration.
type Sources struct {
	// UserFile defaults to $XDG_CONFIG_HOME/oneshot/config.yaml (~/.config/...).
	UserFile string
	// ProjectFile defaults to ./oneshot.yaml (or ./oneshot.json).
	ProjectFile string
	// ExplicitFile is --config; unlike the others it must exist.
	ExplicitFile string
	// Environ defaults to os.Environ().
	Environ []string
}

// DefaultSources returns the standard locations for the current user and directory.
func DefaultSources() Sources {
	s := Sources{Environ: os.Environ()}
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, ".config")
		}
	}
	if dir != "" {
		s.UserFile = filepath.Join(dir, "oneshot", "config.yaml")
	}
	s.ProjectFile = "oneshot.yaml"
	if _, err := os.Stat(s.ProjectFile); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat("oneshot.json"); err == nil {
			s.ProjectFile = "oneshot.json"
		}
	}
	return s
}

// Load builds the configuration from defaults, files and the environment. Flags are
// applied afterwards by the caller with Config.Set. Warnings (unknown keys) are returned
// for the caller to print.
func Load(src Sources) (*Config, []string, error) {
	c := Defaults()
	var warnings []string
	for _, f := range []struct {
		path     string
		required bool
	}{{src.UserFile, false}, {src.ProjectFile, false}, {src.ExplicitFile, true}} {
		if f.path == "" {
			continue
		}
		b, err := os.ReadFile(f.path)
		if errors.Is(err, os.ErrNotExist) && !f.required {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read config file: %w", err)
		}
		w, err := c.apply(b, f.path)
		warnings = append(warnings, w...)
		if err != nil {
			return nil, warnings, err
		}
	}
	env := map[string]string{}
	for _, kv := range src.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	if doc := env["ONESHOT_CONFIG_YAML"]; doc != "" {
		w, err := c.apply([]byte(doc), "ONESHOT_CONFIG_YAML")
		warnings = append(warnings, w...)
		if err != nil {
			return nil, warnings, err
		}
	}
	if err := c.databaseFromParts(env); err != nil {
		return nil, warnings, err
	}
	for _, f := range fields() {
		name := EnvName(f.key)
		if v, ok := env[name]; ok && v != "" {
			if err := c.Set(f.key, v, "env "+name); err != nil {
				return nil, warnings, err
			}
		}
	}
	return c, warnings, nil
}

// EnvName is the environment variable for key: ONESHOT_ + upper case, dots as underscores.
func EnvName(key string) string {
	return "ONESHOT_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// apply merges one YAML or JSON document into c.
func (c *Config) apply(doc []byte, origin string) ([]string, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("%s: not valid YAML or JSON: %w", origin, err)
	}
	if len(root.Content) == 0 {
		return nil, nil // empty file
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: the top level must be a mapping of keys to values", origin)
	}
	known := map[string]bool{}
	for _, f := range fields() {
		known[f.key] = true
	}
	var warnings []string
	var walk func(prefix string, n *yaml.Node) error
	walk = func(prefix string, n *yaml.Node) error {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := prefix + k.Value
			where := fmt.Sprintf("%s:%d", origin, k.Line)
			if origin == "ONESHOT_CONFIG_YAML" {
				where = fmt.Sprintf("%s line %d", origin, k.Line)
			}
			switch {
			case key == "profiles":
				w, err := c.applyProfiles(v, origin, where)
				warnings = append(warnings, w...)
				if err != nil {
					return err
				}
			case v.Kind == yaml.MappingNode && (key == "worker" || key == "auditor"):
				if err := walk(key+".", v); err != nil {
					return err
				}
			case !known[key]:
				warnings = append(warnings, fmt.Sprintf("%s: unknown key %q ignored", where, key))
			case v.Kind == yaml.SequenceNode:
				var items []string
				if err := v.Decode(&items); err != nil {
					return fmt.Errorf("%s: %s must be a list of strings", where, key)
				}
				val := strings.Join(items, ",")
				if strings.HasSuffix(key, "command") || strings.HasSuffix(key, "extra_args") {
					val = joinArgv(items)
				}
				if err := c.Set(key, val, origin); err != nil {
					return fmt.Errorf("%s: %s: %w", where, key, errors.Unwrap(err))
				}
			case v.Kind == yaml.ScalarNode:
				if err := c.Set(key, v.Value, origin); err != nil {
					return fmt.Errorf("%s: %s = %q: %w", where, key, v.Value, errors.Unwrap(err))
				}
			default:
				return fmt.Errorf("%s: %s must be a single value", where, key)
			}
		}
		return nil
	}
	return warnings, walk("", top)
}

var profileKeys = map[string]bool{"worker": true, "auditor": true, "max_iterations": true}
var agentKeys = map[string]bool{"executor": true, "model": true, "endpoint": true, "command": true, "extra_args": true, "api_key_env": true}

func (c *Config) applyProfiles(n *yaml.Node, origin, where string) ([]string, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: profiles must be a mapping of profile names to profiles", where)
	}
	var warnings []string
	unknown := func(m *yaml.Node, allowed map[string]bool, what string) {
		if m.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			if !allowed[m.Content[i].Value] {
				warnings = append(warnings, fmt.Sprintf("%s:%d: unknown key %q in %s ignored", origin, m.Content[i].Line, m.Content[i].Value, what))
			}
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, body := n.Content[i].Value, n.Content[i+1]
		unknown(body, profileKeys, "profile "+name)
		for j := 0; j+1 < len(body.Content); j += 2 {
			if k := body.Content[j].Value; k == "worker" || k == "auditor" {
				unknown(body.Content[j+1], agentKeys, "profile "+name+" "+k)
			}
		}
		var p Profile
		if err := body.Decode(&p); err != nil {
			return warnings, fmt.Errorf("%s:%d: profile %q: %w", origin, body.Line, name, err)
		}
		if p.Worker.Executor == "" || p.Auditor.Executor == "" {
			return warnings, fmt.Errorf("%s:%d: profile %q needs worker.executor and auditor.executor", origin, body.Line, name)
		}
		for _, a := range []*Agent{&p.Worker, &p.Auditor} {
			if err := setURL(&a.Endpoint, a.Endpoint); err != nil {
				return warnings, fmt.Errorf("%s:%d: profile %q endpoint %q: %w", origin, body.Line, name, a.Endpoint, err)
			}
		}
		c.Profiles[name] = p
		c.origin["profiles."+name] = origin
	}
	return warnings, nil
}

// ProfileNames lists the profiles in name order.
func (c *Config) ProfileNames() []string {
	out := make([]string, 0, len(c.Profiles))
	for n := range c.Profiles {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// databaseFromParts composes database_url from ONESHOT_DATABASE_HOST, _PORT, _NAME, _USER
// and _PASSWORD when ONESHOT_DATABASE_URL is not set. On ECS the user name and password
// come from the RDS-managed secret as separate values, so no one has to store a URL with
// the password in it. TLS is required.
func (c *Config) databaseFromParts(env map[string]string) error {
	host := env["ONESHOT_DATABASE_HOST"]
	if host == "" || env["ONESHOT_DATABASE_URL"] != "" {
		return nil
	}
	user, pass := env["ONESHOT_DATABASE_USER"], env["ONESHOT_DATABASE_PASSWORD"]
	if user == "" {
		return fmt.Errorf("env ONESHOT_DATABASE_HOST is set but ONESHOT_DATABASE_USER is not: set both (and ONESHOT_DATABASE_PASSWORD), or set ONESHOT_DATABASE_URL")
	}
	port := env["ONESHOT_DATABASE_PORT"]
	if port == "" {
		port = "5432"
	}
	name := env["ONESHOT_DATABASE_NAME"]
	if name == "" {
		name = "oneshot"
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, pass),
		Host:     net.JoinHostPort(host, port),
		Path:     "/" + name,
		RawQuery: "sslmode=require",
	}
	c.DatabaseURL = u.String()
	c.origin["database_url"] = "env ONESHOT_DATABASE_HOST, _PORT, _NAME, _USER, _PASSWORD"
	return nil
}
