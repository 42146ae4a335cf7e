package otel

import (
	"strings"
	"testing"
)

func TestEnvConfiguresEndpoint(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "a=b", "OTEL_EXPORTER_OTLP_TIMEOUT": "500"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://collector:4317"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "false"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE": "/etc/ca.pem"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_KEY": "/etc/key.pem"}, true},
	} {
		if got := envConfiguresEndpoint(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.env, got, tc.want)
		}
	}
}

func TestEndpointOption(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:4317", "https://collector.example:4317", "collector:4317"} {
		if _, err := endpointOption(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"grpc://collector:4317", "http://", "http://[::1"} {
		_, err := endpointOption(bad)
		if err == nil || !strings.Contains(err.Error(), "--otlp-endpoint") {
			t.Errorf("%q: error %v, want one naming --otlp-endpoint", bad, err)
		}
	}
}

func TestCheckEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string // "" for accepted
	}{
		{nil, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://collector:4317/"}, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}, `invalid OTEL_EXPORTER_OTLP_ENDPOINT "collector:4317": give http://HOST:PORT`},
		{map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "127.0.0.1:4317"}, `invalid OTEL_EXPORTER_OTLP_METRICS_ENDPOINT "127.0.0.1:4317"`},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "grpc://collector:4317"}, "the exporter ignores anything else"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://"}, `invalid OTEL_EXPORTER_OTLP_ENDPOINT "http://"`},
	} {
		err := CheckEnvironment(func(k string) string { return tc.env[k] })
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
	}
}
