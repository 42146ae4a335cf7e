package otel

import (
	"context"
	"fmt"
	"net/url"
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

// newExporter returns the OTLP gRPC exporter. Everything not given here
// comes from the standard OTEL_EXPORTER_OTLP_* variables (endpoint,
// insecure, headers, timeout, compression, TLS files, temporality), which
// the exporter reads itself; endpoint, when not empty, overrides theirs.
func newExporter(ctx context.Context, endpoint string) (*otlpmetricgrpc.Exporter, error) {
	opts := []otlpmetricgrpc.Option{
		otlpmetricgrpc.WithDialOption(grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: time.Second, Multiplier: 1.6, Jitter: 0.2, MaxDelay: reconnectMax},
			MinConnectTimeout: 5 * time.Second,
		})),
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
