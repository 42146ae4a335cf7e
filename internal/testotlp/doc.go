// Package testotlp is for tests only: the harness the end-to-end tests of
// otel and internal/deploy share to run real programs and see what they
// export over OTLP. It holds
//
//   - Start and Proc: a child process (the plugin, a Collector, Telegraf)
//     whose output the test reads line by line (Lines), stopped with
//     SIGTERM within a deadline;
//   - StartCollector and ForwardingConfig: a real OpenTelemetry Collector,
//     waited for until it is ready;
//   - StartSink and Sink: an OTLP gRPC metrics server inside the test, the
//     end of the line that shows what really arrived (requests, headers,
//     client certificate, compression), with Points, AttrMap and Value to
//     read the data points;
//   - FreePort: a loopback address to listen on.
//
// It is a plain package rather than _test.go files so that the test
// packages of both can import it; nothing outside tests does.
package testotlp
