// Package metrics exposes the service's Prometheus metrics on a registry of its own (never
// the global default one, so tests and embedders can create as many as they like).
//
// Two kinds of figures live here. Cluster-wide ones (tasks by state, queue depth, oldest
// queued age, in-flight tasks, live workers) are read from the store's Status when
// Prometheus scrapes, through a short cache so that several scrapers cannot hammer the
// database. Process-local ones (durations, iterations, executor errors, tokens, cost,
// ingested events, rescued jobs) are counted by the runtime as it works through calls to
// the methods of Metrics. Every method is safe on a nil *Metrics, which counts nothing.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/oneshot-run/oneshot/internal/executor"
	"github.com/oneshot-run/oneshot/internal/loop"
	"github.com/oneshot-run/oneshot/internal/store"
)

// StatusSource is what the cluster-wide gauges are read from; store.Store satisfies it.
type StatusSource interface {
	Status(ctx context.Context) (*store.Status, error)
}

// Options tune New. The zero value is fine.
type Options struct {
	// CacheFor is how long one Status answer serves scrapes (default 2s).
	CacheFor time.Duration
	// StatusTimeout bounds one Status call during a scrape (default 5s).
	StatusTimeout time.Duration
	Logger        *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// Metrics holds the registry and the process-local series.
type Metrics struct {
	reg *prometheus.Registry

	running        prometheus.Gauge
	taskDuration   *prometheus.HistogramVec
	phaseDuration  *prometheus.HistogramVec
	iterations     *prometheus.HistogramVec
	executorErrors *prometheus.CounterVec
	tokens         *prometheus.CounterVec
	cost           *prometheus.CounterVec
	events         prometheus.Counter
	eventsDropped  prometheus.Counter
	rescued        prometheus.Counter
	released       prometheus.Counter
}

// Names of the series, for tests and dashboards.
const (
	namespace = "oneshot"
)

// New returns metrics whose cluster-wide gauges come from src (nil: none of them).
func New(src StatusSource, opts ...Options) *Metrics {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.CacheFor <= 0 {
		o.CacheFor = 2 * time.Second
	}
	if o.StatusTimeout <= 0 {
		o.StatusTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Metrics{reg: prometheus.NewRegistry()}
	durations := []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}
	m.running = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "worker_running_tasks",
		Help: "Tasks this process is running now.",
	})
	m.taskDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "task_duration_seconds",
		Help:    "Time from a task's first start to its final state, by outcome (final state).",
		Buckets: durations,
	}, []string{"outcome"})
	m.phaseDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "phase_duration_seconds",
		Help:    "Duration of one agent run (a worker or an audit phase), by role and outcome (ok, failed, cancelled, released).",
		Buckets: durations,
	}, []string{"role", "outcome"})
	m.iterations = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "task_iterations",
		Help:    "Worker iterations a task used before its final state, by outcome.",
		Buckets: []float64{1, 2, 3, 4, 5, 7, 10, 15, 20},
	}, []string{"outcome"})
	m.executorErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "executor_errors_total",
		Help: "Agent runs that failed, by role and kind (inactivity, timeout, exit, agent, not_found, model_api, other).",
	}, []string{"role", "kind"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "tokens_total",
		Help: "Tokens the agents reported, by profile, role and direction (input, output).",
	}, []string{"profile", "role", "direction"})
	m.cost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "cost_usd_total",
		Help: "Cost in US dollars the agents reported, by profile and role.",
	}, []string{"profile", "role"})
	m.events = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "events_ingested_total",
		Help: "Activity events this process stored.",
	})
	m.eventsDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "events_dropped_total",
		Help: "Activity events this process dropped because the store refused them for too long.",
	})
	m.rescued = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "jobs_rescued_total",
		Help: "Tasks this process made available again because their worker stopped heartbeating.",
	})
	m.released = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "tasks_released_total",
		Help: "Tasks this process released unfinished for another worker (drain).",
	})
	m.reg.MustRegister(m.running, m.taskDuration, m.phaseDuration, m.iterations,
		m.executorErrors, m.tokens, m.cost, m.events, m.eventsDropped, m.rescued, m.released,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if src != nil {
		m.reg.MustRegister(newStatusCollector(src, o))
	}
	return m
}

// Registry is the registry every series is on, for callers that add their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the Prometheus exposition of the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// TaskStarted and TaskStopped keep the count of tasks this process runs.
func (m *Metrics) TaskStarted() {
	if m != nil {
		m.running.Inc()
	}
}

// TaskStopped is the counterpart of TaskStarted.
func (m *Metrics) TaskStopped() {
	if m != nil {
		m.running.Dec()
	}
}

// TaskFinished records a task that reached a final state after running for d.
func (m *Metrics) TaskFinished(outcome loop.State, d time.Duration, iterations int) {
	if m == nil {
		return
	}
	m.taskDuration.WithLabelValues(string(outcome)).Observe(d.Seconds())
	m.iterations.WithLabelValues(string(outcome)).Observe(float64(iterations))
}

// PhaseFinished records one agent run of role (worker or auditor).
func (m *Metrics) PhaseFinished(role, outcome string, d time.Duration) {
	if m != nil {
		m.phaseDuration.WithLabelValues(role, outcome).Observe(d.Seconds())
	}
}

// ExecutorError counts a failed agent run; kind is executor.Kind of its error.
func (m *Metrics) ExecutorError(role, kind string) {
	if m != nil && kind != "" {
		m.executorErrors.WithLabelValues(role, kind).Inc()
	}
}

// Usage adds what one agent run of role reported.
func (m *Metrics) Usage(profile, role string, u executor.Usage) {
	if m == nil {
		return
	}
	if u.InputTokens > 0 {
		m.tokens.WithLabelValues(profile, role, "input").Add(float64(u.InputTokens))
	}
	if u.OutputTokens > 0 {
		m.tokens.WithLabelValues(profile, role, "output").Add(float64(u.OutputTokens))
	}
	if u.CostUSD > 0 {
		m.cost.WithLabelValues(profile, role).Add(u.CostUSD)
	}
}

// EventsIngested counts n events stored.
func (m *Metrics) EventsIngested(n int) {
	if m != nil && n > 0 {
		m.events.Add(float64(n))
	}
}

// EventsDropped counts n events given up on.
func (m *Metrics) EventsDropped(n int) {
	if m != nil && n > 0 {
		m.eventsDropped.Add(float64(n))
	}
}

// JobsRescued counts n tasks made available again after their worker died.
func (m *Metrics) JobsRescued(n int) {
	if m != nil && n > 0 {
		m.rescued.Add(float64(n))
	}
}

// TaskReleased counts a task released unfinished on drain.
func (m *Metrics) TaskReleased() {
	if m != nil {
		m.released.Inc()
	}
}

// statusCollector turns store.Status into gauges at scrape time.
type statusCollector struct {
	src  StatusSource
	opts Options

	byState, queueDepth, oldest, inFlight, workers, up *prometheus.Desc

	mu      sync.Mutex
	cached  *store.Status
	fetched time.Time
}

func newStatusCollector(src StatusSource, o Options) *statusCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
	}
	return &statusCollector{
		src: src, opts: o,
		byState:    d("tasks", "Tasks in the store by state.", "state"),
		queueDepth: d("queue_depth", "Tasks waiting for a worker."),
		oldest:     d("queue_oldest_age_seconds", "Age of the oldest task waiting for a worker (0 when none waits)."),
		inFlight:   d("tasks_in_flight", "Tasks a worker is running, across all workers."),
		workers:    d("workers_alive", "Worker processes with a recent heartbeat."),
		up:         d("store_up", "1 when the last status query of the store succeeded, else 0."),
	}
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.byState, c.queueDepth, c.oldest, c.inFlight, c.workers, c.up} {
		ch <- d
	}
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.status()
	if err != nil {
		c.opts.Logger.Warn("metrics: reading the store's status failed; cluster gauges are missing from this scrape", "error", err)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, s := range allStates {
		ch <- prometheus.MustNewConstMetric(c.byState, prometheus.GaugeValue, float64(st.Counts[s]), string(s))
	}
	ch <- prometheus.MustNewConstMetric(c.queueDepth, prometheus.GaugeValue, float64(st.QueueDepth))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, st.OldestQueuedAge.Seconds())
	ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(st.InFlight))
	ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(st.WorkersAlive))
}

// status returns the cached Status, refreshing it when older than CacheFor. Concurrent
// scrapes wait for one query rather than each sending their own.
func (c *statusCollector) status() (*store.Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Now()
	if c.cached != nil && now.Sub(c.fetched) < c.opts.CacheFor {
		return c.cached, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.StatusTimeout)
	defer cancel()
	st, err := c.src.Status(ctx)
	if err != nil {
		return nil, err
	}
	c.cached, c.fetched = st, now
	return st, nil
}

// allStates are exported even when zero, so a dashboard's series never disappear.
var allStates = []loop.State{
	loop.Queued, loop.WorkerRunning, loop.AuditPending, loop.AuditorRunning, loop.ReiterationPending,
	loop.Completed, loop.Rejected, loop.Failed, loop.Cancelled, loop.Interrupted,
}
