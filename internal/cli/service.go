package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/oneshot-run/oneshot/internal/api"
	"github.com/oneshot-run/oneshot/internal/config"
	"github.com/oneshot-run/oneshot/internal/metrics"
	"github.com/oneshot-run/oneshot/internal/runtime"
	"github.com/oneshot-run/oneshot/internal/store"
)

// serviceFlags declares the flags serve, worker, migrate and token share.
func serviceFlags(e *Env, name, usageLine string) (*flagSet, *string) {
	fs := newFlagSet(e, name, usageLine)
	fs.config("database-url", "database_url", "PostgreSQL URL (or ONESHOT_DATABASE_URL); empty: SQLite in --data-dir")
	fs.config("data-dir", "data_dir", "where the embedded SQLite database lives (default $XDG_DATA_HOME/oneshot)")
	cfgFile := fs.String("config", "", "configuration file (YAML or JSON)")
	return fs, cfgFile
}

// openBackend opens the configured database. With migrate set (the embedded SQLite
// default, or `oneshot migrate`) it brings the schema up to date; otherwise it refuses a
// schema that is not exactly current, saying what to do.
func openBackend(ctx context.Context, cfg *config.Config, log *slog.Logger, migrate bool) (store.Backend, error) {
	if cfg.DatabaseURL == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir %s: %w (pass --data-dir)", cfg.DataDir, err)
		}
	}
	b, err := store.Open(ctx, store.Options{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir, Logger: log})
	if err != nil {
		return nil, err
	}
	if migrate {
		err = b.Migrate(ctx)
	} else {
		err = b.CheckSchema(ctx)
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func newLogger(e *Env) *slog.Logger {
	return slog.New(slog.NewJSONHandler(e.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func serveCmd(ctx context.Context, e *Env, args []string) int {
	fs, cfgFile := serviceFlags(e, "serve", "serve [flags]")
	fs.config("addr", "addr", "listen address (default 127.0.0.1:8080)")
	fs.config("workers", "workers", "in-process task slots; 0 = API only (default 4)")
	fs.config("drain-timeout", "drain_timeout", "time in-flight tasks get on SIGTERM (default 90s, below 120s)")
	fs.config("emf-namespace", "emf_namespace", "publish queue metrics in CloudWatch EMF under this namespace")
	return runService(ctx, e, fs, cfgFile, args, true)
}

func workerCmd(ctx context.Context, e *Env, args []string) int {
	fs, cfgFile := serviceFlags(e, "worker", "worker [flags]")
	fs.config("addr", "addr", "health and metrics listen address (default 127.0.0.1:8081)")
	fs.config("concurrency", "workers", "tasks this process runs at once (default 4)")
	fs.config("drain-timeout", "drain_timeout", "time in-flight tasks get on SIGTERM (default 90s, below 120s)")
	fs.config("emf-namespace", "emf_namespace", "publish queue metrics in CloudWatch EMF under this namespace")
	return runService(ctx, e, fs, cfgFile, args, false)
}

// runService runs serve (withAPI) or worker until SIGTERM/SIGINT, then drains.
func runService(ctx context.Context, e *Env, fs *flagSet, cfgFile *string, args []string, withAPI bool) int {
	if _, err := fs.parse(args); err != nil {
		return usageError(e, err)
	}
	cfg, err := fs.loadConfig(e, *cfgFile)
	if err != nil {
		return usageError(e, err)
	}
	if !withAPI && cfg.Origin("addr") == "default" {
		cfg.Addr = "127.0.0.1:8081"
	}
	log := newLogger(e)
	embedded := cfg.DatabaseURL == ""
	b, err := openBackend(ctx, cfg, log, embedded)
	if err != nil {
		fmt.Fprintf(e.Stderr, "oneshot: %v\n", err)
		return ExitUsage
	}
	defer b.Close()

	m := metrics.New(b)
	tp, stopTracing, err := tracerProvider(ctx, e, e.Version)
	if err != nil {
		fmt.Fprintf(e.Stderr, "oneshot: %v\n", err)
		return ExitUsage
	}
	defer func() { _ = stopTracing(context.WithoutCancel(ctx)) }()
	var rt *runtime.Runtime
	if cfg.Workers > 0 || !withAPI {
		rt, err = runtime.New(b, runtime.Options{Config: cfg, Logger: log, Metrics: m, Getenv: e.Getenv, TracerProvider: tp})
		if err != nil {
			fmt.Fprintf(e.Stderr, "oneshot: %v\n", err)
			return ExitUsage
		}
	}

	var draining atomic.Bool
	ready := func(ctx context.Context) error {
		if draining.Load() {
			return errors.New("draining: this process is shutting down")
		}
		return b.Ping(ctx)
	}
	var handler http.Handler
	if withAPI {
		if embedded {
			if err := ensureLocalToken(ctx, e, b); err != nil {
				fmt.Fprintf(e.Stderr, "oneshot: %v\n", err)
				return ExitFailed
			}
		}
		handler = api.New(api.Options{
			Store: b, Config: cfg, Metrics: m.Handler(), Ready: ready, Logger: log,
			BootstrapToken: e.Getenv("ONESHOT_BOOTSTRAP_TOKEN"), Version: e.Version,
		})
	} else {
		handler = api.Health(ready, m.Handler(), e.Version, log)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		fmt.Fprintf(e.Stderr, "oneshot: listen on %s: %v (pass --addr)\n", cfg.Addr, err)
		return ExitUsage
	}
	// Event streams live as long as their task; cancelling the base context at shutdown
	// ends them so Shutdown does not wait for them (clients resume with Last-Event-ID).
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return baseCtx },
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	if rt != nil {
		if err := rt.Start(ctx); err != nil {
			fmt.Fprintf(e.Stderr, "oneshot: start workers: %v\n", err)
			return ExitFailed
		}
	}
	if rt == nil && cfg.EMFNamespace != "" {
		// No workers here: publish the queue figures anyway, so the worker service can
		// scale up from zero on them.
		emfCtx, stopEMF := context.WithCancel(context.WithoutCancel(ctx))
		defer stopEMF()
		interval := cfg.EMFInterval
		if interval <= 0 {
			interval = time.Minute
		}
		go runtime.PublishEMF(emfCtx, b, cfg.EMFNamespace, e.Getenv("ONESHOT_ENVIRONMENT"), interval, e.Stdout, log)
	}
	mode := "worker"
	if withAPI {
		mode = "serve"
	}
	log.Info("oneshot started", "mode", mode, "addr", ln.Addr().String(), "store", b.Kind(), "workers", cfg.Workers, "version", e.Version)
	if withAPI && e.Stderr != nil {
		fmt.Fprintf(e.Stderr, "oneshot %s listening on http://%s (store: %s, workers: %d)\n", mode, ln.Addr(), b.Kind(), cfg.Workers)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sigs)
	select {
	case sig := <-sigs:
		log.Info("shutting down", "signal", sig.String(), "drain_timeout", cfg.DrainTimeout.String())
	case <-ctx.Done():
	case err := <-serveErr:
		log.Error("HTTP server stopped", "err", err)
		return ExitFailed
	}
	// Readiness goes false first, so load balancers stop sending work while tasks drain.
	draining.Store(true)
	deadline := time.Now().Add(cfg.DrainTimeout)
	drainCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	status := 0
	if rt != nil {
		if err := rt.Shutdown(drainCtx); err != nil {
			log.Error("drain incomplete", "err", err)
			status = ExitFailed
		}
	}
	// Whatever is left of the deadline goes to in-flight HTTP requests; event streams
	// are cut, and clients resume them with Last-Event-ID.
	cancelBase()
	httpCtx, cancelHTTP := context.WithTimeout(drainCtx, 5*time.Second)
	defer cancelHTTP()
	if err := srv.Shutdown(httpCtx); err != nil {
		_ = srv.Close()
	}
	log.Info("stopped")
	return status
}

// ensureLocalToken gives a brand-new embedded installation an admin token, printed once,
// so the first `oneshot serve` is usable without another step.
func ensureLocalToken(ctx context.Context, e *Env, b store.Backend) error {
	if e.Getenv("ONESHOT_BOOTSTRAP_TOKEN") != "" {
		return nil
	}
	has, err := b.HasTokens(ctx)
	if err != nil || has {
		return err
	}
	secret, hash := api.NewToken()
	if _, err := b.CreateToken(ctx, "local-admin", true, hash); err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "Created an admin API token (shown only this once; create more with oneshot token create):\n\n  %s\n\n", secret)
	return nil
}

func migrateCmd(ctx context.Context, e *Env, args []string) int {
	fs, cfgFile := serviceFlags(e, "migrate", "migrate [flags]")
	if _, err := fs.parse(args); err != nil {
		return usageError(e, err)
	}
	cfg, err := fs.loadConfig(e, *cfgFile)
	if err != nil {
		return usageError(e, err)
	}
	b, err := openBackend(ctx, cfg, newLogger(e), true)
	if err != nil {
		fmt.Fprintf(e.Stderr, "oneshot: migrate: %v\n", err)
		return ExitFailed
	}
	defer b.Close()
	fmt.Fprintf(e.Stdout, "schema is up to date (%s)\n", b.Kind())
	return 0
}

func healthcheckCmd(ctx context.Context, e *Env, args []string) int {
	fs := newFlagSet(e, "healthcheck", "healthcheck [--url URL]")
	url := fs.String("url", defaultHealthURL(e), "readiness URL to probe (default from ONESHOT_HEALTHCHECK_URL or the port of ONESHOT_ADDR)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if _, err := fs.parse(args); err != nil {
		return usageError(e, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return usageError(e, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(e.Stderr, "unhealthy: %v\n", err)
		return ExitFailed
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(e.Stderr, "unhealthy: %s answered %s\n", *url, resp.Status)
		return ExitFailed
	}
	return 0
}

// defaultHealthURL lets one image-level health check serve both serve and worker: it
// probes the port the process was told to listen on.
func defaultHealthURL(e *Env) string {
	if u := e.Getenv("ONESHOT_HEALTHCHECK_URL"); u != "" {
		return u
	}
	port := "8080"
	if _, p, err := net.SplitHostPort(e.Getenv("ONESHOT_ADDR")); err == nil && p != "" {
		port = p
	}
	return "http://127.0.0.1:" + port + "/readyz"
}

func tokenCmd(ctx context.Context, e *Env, args []string) int {
	if len(args) == 0 || (args[0] != "create" && args[0] != "revoke") {
		return usageError(e, errors.New("usage: oneshot token create --name NAME [--admin] | oneshot token revoke ID"))
	}
	sub := args[0]
	fs, cfgFile := serviceFlags(e, "token "+sub, "token "+sub+" [flags]")
	name := fs.String("name", "", "who or what the token is for")
	admin := fs.Bool("admin", false, "allow administrative calls")
	pos, err := fs.parse(args[1:])
	if err != nil {
		return usageError(e, err)
	}
	cfg, err := fs.loadConfig(e, *cfgFile)
	if err != nil {
		return usageError(e, err)
	}
	b, err := openBackend(ctx, cfg, slog.New(slog.DiscardHandler), cfg.DatabaseURL == "")
	if err != nil {
		fmt.Fprintf(e.Stderr, "oneshot: %v\n", err)
		return ExitFailed
	}
	defer b.Close()
	if sub == "revoke" {
		if len(pos) != 1 {
			return usageError(e, errors.New("oneshot token revoke needs the token ID"))
		}
		if err := b.RevokeToken(ctx, pos[0]); err != nil {
			fmt.Fprintf(e.Stderr, "oneshot: revoke token %s: %v\n", pos[0], err)
			return ExitFailed
		}
		fmt.Fprintf(e.Stdout, "revoked %s\n", pos[0])
		return 0
	}
	if *name == "" {
		return usageError(e, errors.New("oneshot token create needs --name (who or what the token is for)"))
	}
	secret, hash := api.NewToken()
	tok, err := b.CreateToken(ctx, *name, *admin, hash)
	if err != nil {
		fmt.Fprintf(e.Stderr, "oneshot: create token: %v\n", err)
		return ExitFailed
	}
	fmt.Fprintf(e.Stderr, "token %s (id %s) created; it is shown only this once:\n", tok.Name, tok.ID)
	fmt.Fprintln(e.Stdout, secret)
	return 0
}
