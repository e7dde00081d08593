package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/oneshot-run/oneshot/internal/store"
)

// EMF (CloudWatch Embedded Metric Format) lets the worker publish autoscaling figures as
// a JSON log line: CloudWatch Logs extracts the metrics, so no agent or Lambda is needed.
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetadata struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

type emfLine struct {
	AWS                    emfMetadata `json:"_aws"`
	Environment            string      `json:"Environment"`
	QueueDepth             int         `json:"QueueDepth"`
	InFlight               int         `json:"InFlight"`
	WorkersAlive           int         `json:"WorkersAlive"`
	BacklogPerWorker       float64     `json:"BacklogPerWorker"`
	OldestQueuedAgeSeconds float64     `json:"OldestQueuedAgeSeconds"`
}

// writeEMF writes one EMF line with the queue figures of st. BacklogPerWorker is
// (queued + in-flight) ÷ live workers, counting at least one worker so that a service
// scaled to zero still reports its backlog (and scales out from zero).
func writeEMF(w io.Writer, namespace, environment string, st *store.Status, now time.Time) error {
	workers := max(st.WorkersAlive, 1)
	line := emfLine{
		AWS: emfMetadata{
			Timestamp: now.UnixMilli(),
			CloudWatchMetrics: []emfDirective{{
				Namespace:  namespace,
				Dimensions: [][]string{{"Environment"}},
				Metrics: []emfMetric{
					{Name: "QueueDepth", Unit: "Count"},
					{Name: "InFlight", Unit: "Count"},
					{Name: "WorkersAlive", Unit: "Count"},
					{Name: "BacklogPerWorker", Unit: "Count"},
					{Name: "OldestQueuedAgeSeconds", Unit: "Seconds"},
				},
			}},
		},
		Environment:            environment,
		QueueDepth:             st.QueueDepth,
		InFlight:               st.InFlight,
		WorkersAlive:           st.WorkersAlive,
		BacklogPerWorker:       float64(st.QueueDepth+st.InFlight) / float64(workers),
		OldestQueuedAgeSeconds: st.OldestQueuedAge.Seconds(),
	}
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("encode EMF line: %w", err)
	}
	// One Write per line, so concurrent log lines on the same stream never split it.
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write EMF line: %w", err)
	}
	return nil
}

// PublishEMF prints the queue figures as one EMF line every interval until ctx ends. An
// API process with no workers runs it, so the queue depth is still published while the
// worker service is scaled to zero, which is what lets autoscaling start it again.
func PublishEMF(ctx context.Context, src interface {
	Status(context.Context) (*store.Status, error)
}, namespace, environment string, interval time.Duration, w io.Writer, log *slog.Logger) {
	if environment == "" {
		environment = "local"
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := src.Status(ctx)
		if err == nil {
			err = writeEMF(w, namespace, environment, st, time.Now())
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("emf failed; retrying at the next interval", "error", err)
		}
	}
}
