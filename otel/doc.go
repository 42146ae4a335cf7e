// Package otel is the OpenTelemetry front end of the standalone modes
// (--otlp, --prometheus-listen, or both). It reads reports from a
// core.Source on the poll schedule (or takes a continuous window each
// poll), counts each report's packets and RTTs into totals it holds per
// series (counters.go, exphist.go, native.go), keeps the latest report's
// gauges (instruments.go), and serves them through one meter provider to
// two readers:
//
//   - OTLP: a periodic export over gRPC to a Collector (otlp.go, setup.go),
//     on a pipeline that never blocks probing and logs an outage once
//     (pipeline.go, outage.go);
//   - Prometheus: a /metrics endpoint with classic and native histogram
//     buckets (histogram.go), health, readiness and POST /-/reload, behind
//     the exporter-toolkit's TLS and basic auth (prometheus.go). Its text
//     format is written straight from the data (exposition.go), the gauges
//     straight from the callbacks that observe them (gauges.go); in mode
//     continuous a scrape adds the window so far to the totals.
//
// Run (run.go) wires them and takes reloads (reload.go): a new
// configuration goes to the source, the series of removed targets leave.
//
// The package is named after its directory, as Go's convention has it, though
// the OpenTelemetry API's global package go.opentelemetry.io/otel has the same
// name: the one file that also needs that package (otlp.go, for the error
// handler) imports it as otelapi, and no importer of this package needs it.
package otel
