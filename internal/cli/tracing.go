package cli

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// tracerProvider returns an OTLP/HTTP trace exporter configured by the standard OTEL_*
// variables, or nil when no endpoint is set: tracing is off unless configured. The
// returned shutdown flushes pending spans.
func tracerProvider(ctx context.Context, e *Env, version string) (trace.TracerProvider, func(context.Context) error, error) {
	if e.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && e.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return nil, func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("OpenTelemetry exporter (check OTEL_EXPORTER_OTLP_* variables): %w", err)
	}
	name := e.Getenv("OTEL_SERVICE_NAME")
	if name == "" {
		name = "oneshot"
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(name), semconv.ServiceVersion(version)))
	if err != nil {
		return nil, nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return tp, tp.Shutdown, nil
}
