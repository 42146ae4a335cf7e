package deploy

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // Collectors compress their exports by default
	"google.golang.org/grpc/metadata"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// example reads a file of the repository (relative to its root).
func example(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testbin.RepoRoot(), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// substitute replaces each old string of pairs by its new one, failing when
// an old one is missing: the example changed and the test must follow.
func substitute(t *testing.T, name, text string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(text, pairs[i]) {
			t.Fatalf("%s no longer contains %q", name, pairs[i])
		}
		text = strings.ReplaceAll(text, pairs[i], pairs[i+1])
	}
	return text
}

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// freePort returns a loopback address nobody listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// lines collects a process's output line by line.
type lines struct {
	mu    sync.Mutex
	lines []string
	added chan struct{}
	eof   chan struct{}
}

func readLines(r io.Reader) *lines {
	l := &lines{added: make(chan struct{}, 1), eof: make(chan struct{})}
	go func() {
		defer close(l.eof)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l.mu.Lock()
			l.lines = append(l.lines, sc.Text())
			l.mu.Unlock()
			select {
			case l.added <- struct{}{}:
			default:
			}
		}
	}()
	return l
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func (l *lines) matching(prefix string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

// proc is a child process whose stdout and stderr the test reads.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *lines
	exited chan struct{}
	err    error // valid once exited is closed
}

func start(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: filepath.Base(name), cmd: cmd, out: readLines(r), exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		w.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", p.name, strings.Join(args, " "), p.out)
		}
	})
	return p
}

// stop sends SIGTERM and returns the exit status.
func (p *proc) stop(t *testing.T, within time.Duration) int {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(within):
		t.Fatalf("%s still running %s after SIGTERM", p.name, within)
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatal(p.err)
	return -1
}

// waitFor waits until a line of the output contains s.
func (p *proc) waitFor(t *testing.T, s string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		if strings.Contains(p.out.String(), s) {
			return
		}
		select {
		case <-p.out.added:
		case <-p.exited:
			t.Fatalf("%s exited before printing %q:\n%s", p.name, s, p.out)
		case <-deadline:
			t.Fatalf("%s did not print %q within %s:\n%s", p.name, s, within, p.out)
		}
	}
}

// startCollector runs a real Collector with the configuration file cfg and
// waits until it is ready.
func startCollector(t *testing.T, cfg string, env ...string) *proc {
	t.Helper()
	c := start(t, env, testbin.Otelcol(t), "--config", cfg)
	c.waitFor(t, "Everything is ready. Begin running and processing data.", 30*time.Second)
	return c
}

// sink is an OTLP gRPC metrics server inside the test: the backend at the
// end of a chain of Collectors.
type sink struct {
	colmetricpb.UnimplementedMetricsServiceServer
	addr string

	mu      sync.Mutex
	points  []point
	headers []metadata.MD
	arrived chan struct{}
}

// point is one received data point with its metric, resource and
// attributes flattened to strings.
type point struct {
	metric   string
	value    float64
	attrs    map[string]string
	resource map[string]string
}

func startSink(t *testing.T) *sink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{addr: l.Addr().String(), arrived: make(chan struct{}, 1)}
	srv := grpc.NewServer()
	colmetricpb.RegisterMetricsServiceServer(srv, s)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return s
}

func (s *sink) Export(ctx context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var got []point
	for _, rm := range req.ResourceMetrics {
		res := attrMap(rm.GetResource().GetAttributes())
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				for _, dp := range m.GetGauge().GetDataPoints() {
					got = append(got, point{metric: m.Name, value: value(dp), attrs: attrMap(dp.Attributes), resource: res})
				}
			}
		}
	}
	s.mu.Lock()
	s.points = append(s.points, got...)
	s.headers = append(s.headers, md)
	s.mu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default:
	}
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

// waitPoint waits for a point that ok accepts and returns it.
func (s *sink) waitPoint(t *testing.T, within time.Duration, what string, ok func(point) bool) point {
	t.Helper()
	deadline := time.After(within)
	for {
		s.mu.Lock()
		for _, p := range s.points {
			if ok(p) {
				s.mu.Unlock()
				return p
			}
		}
		n := len(s.points)
		s.mu.Unlock()
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("no point %s within %s (%d points arrived)", what, within, n)
		}
	}
}

func (s *sink) all() ([]point, []metadata.MD) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]point(nil), s.points...), append([]metadata.MD(nil), s.headers...)
}

func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		switch x := kv.Value.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = x.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = strconv.FormatInt(x.IntValue, 10)
		default:
			m[kv.Key] = kv.Value.String()
		}
	}
	return m
}

func value(dp *metricpb.NumberDataPoint) float64 {
	switch x := dp.Value.(type) {
	case *metricpb.NumberDataPoint_AsInt:
		return float64(x.AsInt)
	case *metricpb.NumberDataPoint_AsDouble:
		return x.AsDouble
	}
	return -1
}

// testCA is a certificate authority of the test's own.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hping3-plugin deploy test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert: cert, key: key}
}

// serverFiles writes the CA certificate and a server certificate for
// 127.0.0.1 with its key into dir, and returns their paths.
func (ca testCA) serverFiles(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	writeFile(t, caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})))
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})))
	return caFile, certFile, keyFile
}

// probePoint accepts a point of metric that came from the plugin probing
// 127.0.0.1 from vantage.
func probePoint(metric, vantage string) func(point) bool {
	return func(p point) bool {
		return p.metric == metric && p.attrs["server.address"] == "127.0.0.1" && p.attrs["vantage"] == vantage
	}
}

func must(t *testing.T, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

// TestDeployTools builds what this package's tests cache (the Debian base
// for the container, Telegraf with outputs.influxdb_v2): `make tools` runs
// it first, so that no compilation or debootstrap runs beside the other
// packages' timing-sensitive tests.
func TestDeployTools(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "debootstrap")
	debianRootfs(t)
	telegrafInflux(t)
}
