package runtime

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/oneshot-run/oneshot/internal/store"
)

// Tracing: one span per task attempt ("oneshot.task"), a child of the trace context the
// API stored with the task (so the submitting request and the worker's spans share one
// trace), and one child span per agent run ("oneshot.worker" / "oneshot.auditor").
// Spans are recorded only when Options.TracerProvider is set: the process wires an
// OTLP exporter there when OTEL_EXPORTER_OTLP_ENDPOINT is configured. Prompts, answers
// and keys never become span attributes.

const tracerName = "github.com/oneshot-run/oneshot/internal/runtime"

func newTracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer(tracerName)
}

// startTaskSpan starts the span of one attempt of task.
func (r *Runtime) startTaskSpan(ctx context.Context, task *store.Task) (context.Context, trace.Span) {
	if len(task.TraceContext) > 0 {
		ctx = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier(task.TraceContext))
	}
	return r.tracer.Start(ctx, "oneshot.task",
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("oneshot.task.id", task.ID),
			attribute.Int("oneshot.task.attempt", task.Attempts),
			attribute.String("oneshot.task.profile", task.Spec.Profile),
			attribute.String("oneshot.worker.id", r.opts.WorkerID),
		))
}

// traceIDOf is the trace id to log: the span's when one is recorded, else the stored
// traceparent's.
func traceIDOf(span trace.Span, stored map[string]string) string {
	if sc := span.SpanContext(); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return traceID(stored)
}

// endSpan ends span with an error status when outcome is not "ok".
func endSpan(span trace.Span, outcome, msg string) {
	if span == nil {
		return
	}
	span.SetAttributes(attribute.String("oneshot.outcome", outcome))
	if outcome == "failed" {
		span.SetStatus(codes.Error, msg)
	}
	span.End()
}
