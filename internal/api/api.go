// Package api serves Oneshot's HTTP API: tasks (create, list, get, cancel), their live
// activity streams over Server-Sent Events, the service status, health and readiness,
// Prometheus metrics and the OpenAPI document that describes all of it.
//
// Everything under /api/v1 needs an API token (Authorization: Bearer); /healthz, /readyz
// and /metrics do not, so load balancers and scrapers can reach them. Errors are JSON,
// {"error": {"code": "...", "message": "..."}}, with a message that says what to fix.
package api

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"time"

	"github.com/oneshot-run/oneshot/internal/config"
	"github.com/oneshot-run/oneshot/internal/store"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes      = 1 << 20
	DefaultMaxPromptBytes    = 256 << 10
	DefaultHeartbeatInterval = 15 * time.Second
	DefaultPollInterval      = 5 * time.Second
)

// Options configures the API handler. Store is required; everything else has a default.
type Options struct {
	Store store.Store
	// Config supplies the profiles, the max_iterations cap and the repo allow-list.
	// Nil means config.Defaults().
	Config *config.Config
	// Metrics is mounted at /metrics; nil answers 404.
	Metrics http.Handler
	// Ready reports whether the process should receive traffic (store reachable, schema
	// current, not draining). Nil means Store.Ping.
	Ready func(ctx context.Context) error
	// BootstrapToken (ONESHOT_BOOTSTRAP_TOKEN) is accepted as an admin token besides the
	// tokens in the store. Empty disables it.
	BootstrapToken string
	Logger         *slog.Logger
	Now            func() time.Time
	// NewID makes task ids; the default is time-ordered with 48 random bits.
	NewID func() string
	// MaxBodyBytes bounds a request body, MaxPromptBytes the prompt inside it.
	MaxBodyBytes   int64
	MaxPromptBytes int
	// Dashboard, when set, serves everything outside /api, /healthz, /readyz and /metrics.
	// It handles its own authentication; the API calls it makes need a token like any other.
	Dashboard http.Handler

	// HeartbeatInterval is how often an idle event stream sends a comment, so proxies
	// keep it open (default 15s).
	HeartbeatInterval time.Duration
	// PollInterval is how often an event stream re-reads the store even when no change
	// was signalled, as a safety net (default 5s).
	PollInterval time.Duration

	// Version is the binary's version, reported by /healthz so that a deployment's smoke
	// test can check which release answered.
	Version string
}

// server holds the handlers' shared state. It is immutable after New.
type server struct {
	store         store.Store
	cfg           *config.Config
	profiles      map[string]config.Profile
	metrics       http.Handler
	ready         func(ctx context.Context) error
	bootstrapHash []byte // sha256 of the bootstrap token; nil when disabled
	log           *slog.Logger
	now           func() time.Time
	newID         func() string
	maxBody       int64
	maxPrompt     int
	heartbeat     time.Duration
	poll          time.Duration
	dashboard     http.Handler
	version       string
	iterationsCap int
	allowlist     []allowedRepo
	// restricted: the operator set an allow-list. It stays in force even when none of
	// its entries could be parsed, so a typo never opens every host.
	restricted bool
}

// New returns the API as an http.Handler, ready to be served by an http.Server.
//
// Event streams last as long as their task runs: the server's WriteTimeout does not cut
// them (they clear their write deadline), and http.Server.Shutdown waits for them. To
// end them when the process drains, give the http.Server a BaseContext that is cancelled
// when draining starts; clients reconnect elsewhere and resume with Last-Event-ID.
func New(o Options) http.Handler {
	if o.Store == nil {
		panic("api.New: Options.Store is required")
	}
	s := &server{
		store: o.Store, cfg: o.Config, metrics: o.Metrics, ready: o.Ready,
		log: o.Logger, now: o.Now, newID: o.NewID,
		maxBody: o.MaxBodyBytes, maxPrompt: o.MaxPromptBytes,
		heartbeat: o.HeartbeatInterval, poll: o.PollInterval, dashboard: o.Dashboard,
		version: o.Version,
	}
	if s.cfg == nil {
		s.cfg = config.Defaults()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newID == nil {
		s.newID = func() string { return newTaskID(s.now()) }
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.maxPrompt <= 0 {
		s.maxPrompt = DefaultMaxPromptBytes
	}
	if s.heartbeat <= 0 {
		s.heartbeat = DefaultHeartbeatInterval
	}
	if s.poll <= 0 {
		s.poll = DefaultPollInterval
	}
	if s.ready == nil {
		s.ready = s.store.Ping
	}
	if o.BootstrapToken != "" {
		h := sha256.Sum256([]byte(o.BootstrapToken))
		s.bootstrapHash = h[:]
		if len(o.BootstrapToken) < 16 {
			s.log.Warn("the bootstrap token is shorter than 16 characters and easy to guess: use oneshot token create or a long random secret")
		}
	}
	s.profiles = s.cfg.Profiles
	s.iterationsCap = s.cfg.MaxIterationsCap
	if s.iterationsCap <= 0 {
		s.iterationsCap = 10
	}
	allowlist, invalid := parseAllowlist(s.cfg.RepoAllowlist)
	s.allowlist, s.restricted = allowlist, len(s.cfg.RepoAllowlist) > 0
	for _, e := range invalid {
		s.log.Warn("ignoring a repo_allowlist entry that is not an https URL", "entry", e)
	}
	return s.logRequests(s.mux())
}

// route is one endpoint. The OpenAPI test checks that every route is documented.
type route struct {
	method  string
	path    string
	public  bool // served without a token
	handler func(w http.ResponseWriter, r *http.Request) error
}

func (s *server) routes() []route {
	return []route{
		{http.MethodPost, "/api/v1/tasks", false, s.createTask},
		{http.MethodGet, "/api/v1/tasks", false, s.listTasks},
		{http.MethodGet, "/api/v1/tasks/{id}", false, s.getTask},
		{http.MethodPost, "/api/v1/tasks/{id}/cancel", false, s.cancelTask},
		{http.MethodGet, "/api/v1/tasks/{id}/events", false, s.taskEvents},
		{http.MethodGet, "/api/v1/status", false, s.status},
		{http.MethodGet, "/api/v1/openapi.json", false, s.openAPI},
		{http.MethodGet, "/healthz", true, s.healthz},
		{http.MethodGet, "/readyz", true, s.readyz},
		{http.MethodGet, "/metrics", true, s.serveMetrics},
	}
}

func (s *server) mux() *http.ServeMux {
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range s.routes() {
		mux.Handle(rt.method+" "+rt.path, s.endpoint(rt))
		if _, ok := allowed[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
		if rt.method == http.MethodGet {
			allowed[rt.path] = append(allowed[rt.path], http.MethodHead)
		}
	}
	// A path served for other methods answers 405 in JSON rather than the mux's text.
	for _, p := range paths {
		methods := allowed[p]
		mux.Handle(p, s.endpoint(route{path: p, public: true, handler: func(w http.ResponseWriter, r *http.Request) error {
			return errMethodNotAllowed(r.Method, methods)
		}}))
	}
	notFound := s.endpoint(route{path: "/", public: true, handler: func(w http.ResponseWriter, r *http.Request) error {
		return errNotFound("there is no endpoint at %s: see /api/v1/openapi.json for the API", r.URL.Path)
	}})
	mux.Handle("/api/", notFound)
	if s.dashboard != nil {
		mux.Handle("/", s.dashboard)
	} else {
		mux.Handle("/", notFound)
	}
	return mux
}

// endpoint adapts a handler that returns an error: it authenticates the request unless
// the route is public and turns a returned error into the JSON error response.
func (s *server) endpoint(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := requestInfoFrom(r.Context())
		if info != nil {
			info.pattern = r.Pattern
		}
		err := func() error {
			if !rt.public {
				p, err := s.authenticate(r)
				if err != nil {
					return err
				}
				if info != nil {
					info.token = p.name
				}
				r = r.WithContext(withPrincipal(r.Context(), p))
			}
			return rt.handler(w, r)
		}()
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}
