package otel

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

// ServiceName is the service.name of the resource unless OTEL_SERVICE_NAME
// or OTEL_RESOURCE_ATTRIBUTES set one.
const ServiceName = "hping3-plugin"

// reconnectMax caps gRPC's reconnection backoff (120 s by default), so
// data flows again within seconds of a Collector coming back.
const reconnectMax = 5 * time.Second

// DefaultEndpoint is where the plugin exports when neither --otlp-endpoint
// nor any OTEL_EXPORTER_OTLP_* endpoint, insecure or TLS variable is set:
// the OTLP specification's default for gRPC, a Collector on this host in
// plain text. (The Go exporter's own default is TLS to localhost:4317,
// which a Collector with a default configuration does not speak.)
const DefaultEndpoint = "http://localhost:4317"

// envConfiguresEndpoint reports whether the environment says where or how
// to connect; the exporter then follows it alone.
func envConfiguresEndpoint(getenv func(string) string) bool {
	for _, v := range []string{"ENDPOINT", "INSECURE", "CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"} {
		if getenv("OTEL_EXPORTER_OTLP_"+v) != "" || getenv("OTEL_EXPORTER_OTLP_METRICS_"+v) != "" {
			return true
		}
	}
	return false
}

// newExporter returns the OTLP gRPC exporter. Everything not given here
// comes from the standard OTEL_EXPORTER_OTLP_* variables (endpoint,
// insecure, headers, timeout, compression, TLS files, temporality), which
// the exporter reads itself; endpoint, when not empty, overrides theirs.
//
// A failed export is retried quickly, and only until the next round is
// due: a newer round makes the old one worthless, since only the latest is
// exported. (The exporter's default waits 5 s before its first retry, which
// holds back the first round after a Collector comes back.)
func newExporter(ctx context.Context, endpoint string, poll time.Duration) (*otlpmetricgrpc.Exporter, error) {
	opts := []otlpmetricgrpc.Option{
		otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{
			Enabled: true, InitialInterval: 250 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: poll,
		}),
		otlpmetricgrpc.WithDialOption(grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: time.Second, Multiplier: 1.6, Jitter: 0.2, MaxDelay: reconnectMax},
			MinConnectTimeout: 5 * time.Second,
		})),
	}
	if endpoint == "" && !envConfiguresEndpoint(os.Getenv) {
		endpoint = DefaultEndpoint
	}
	if endpoint != "" {
		o, err := endpointOption(endpoint)
		if err != nil {
			return nil, err
		}
		opts = append(opts, o)
	}
	return otlpmetricgrpc.New(ctx, opts...)
}

// CheckEndpoint reports whether --otlp-endpoint is usable, so that a bad
// value is refused with the other configuration errors, before probing.
func CheckEndpoint(endpoint string) error {
	_, err := endpointOption(endpoint)
	return err
}

// CheckEnvironment reports an OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT that
// is not an http:// or https:// URL with a host. The exporter silently
// ignores such a value (HOST:PORT alone included) and sends to its own
// default instead, so it is refused with the other configuration errors.
// An endpoint given with --otlp-endpoint overrides these: they are then
// not checked.
func CheckEnvironment(getenv func(string) string) error {
	var errs []error
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"} {
		v := getenv(k)
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("invalid %s %q: give http://HOST:PORT (plain text) or https://HOST:PORT (TLS); the exporter ignores anything else", k, v))
		}
	}
	return errors.Join(errs...)
}

// endpointOption reads --otlp-endpoint: a URL (http:// for plain text,
// https:// for TLS) or a bare host:port, which keeps the TLS choice of
// OTEL_EXPORTER_OTLP_INSECURE.
func endpointOption(endpoint string) (otlpmetricgrpc.Option, error) {
	if !strings.Contains(endpoint, "://") {
		return otlpmetricgrpc.WithEndpoint(endpoint), nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid --otlp-endpoint %q: give http://HOST:PORT (plain text), https://HOST:PORT (TLS) or HOST:PORT", endpoint)
	}
	return otlpmetricgrpc.WithEndpointURL(endpoint), nil
}

// newResource describes this process: service.name hping3-plugin and the
// host name, then OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, which win.
func newResource(ctx context.Context, log *logger.Logger) *resource.Resource {
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", ServiceName)),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithFromEnv())
	if err != nil {
		// A malformed OTEL_RESOURCE_ATTRIBUTES still yields the rest.
		log.Warnf("otlp: resource: %v", err)
	}
	if res == nil {
		res = resource.Default()
	}
	return res
}
