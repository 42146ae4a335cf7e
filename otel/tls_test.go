package otel

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/hping3-plugin/hping3-plugin/internal/testotlp"
)

// TestExporterTLSEnvironment: the TLS variables reach the exporter. The
// sink speaks TLS with a certificate from a CA of the test's own and
// requires a client certificate; the plugin is told about both only through
// OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE and _CLIENT_KEY.
func TestExporterTLSEnvironment(t *testing.T) {
	plugin, _ := prerequisites(t)
	dir := t.TempDir()
	ca := newCA(t)
	serverCert := ca.issue(t, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	ca.issue(t, "hping3-plugin-test-client", x509.ExtKeyUsageClientAuth).write(t, dir, "client")
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.cert.Raw)

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	creds := credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{serverCert.tls()},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})
	s := testotlp.StartSlowSink(t, 0, grpc.Creds(creds))
	p := testotlp.Start(t, []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=https://" + s.Addr,
		"OTEL_EXPORTER_OTLP_CERTIFICATE=" + filepath.Join(dir, "ca.pem"),
		"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=" + filepath.Join(dir, "client.pem"),
		"OTEL_EXPORTER_OTLP_CLIENT_KEY=" + filepath.Join(dir, "client-key.pem"),
	}, plugin, probeArgs...)
	rs := waitRounds(t, s, 1, 30*time.Second)
	if code, _ := p.Stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	checkLoopbackRound(t, rs[0], false, nil)
	if got := s.Requests()[0].Client; got != "hping3-plugin-test-client" {
		t.Errorf("client certificate %q verified by the sink, want hping3-plugin-test-client", got)
	}
}

// TestExporterInsecureEnvironment: OTEL_EXPORTER_OTLP_INSECURE=true makes a
// HOST:PORT endpoint (--otlp-endpoint without a scheme) plain text; without
// it the exporter would speak TLS to the plain-text sink and nothing would
// arrive.
func TestExporterInsecureEnvironment(t *testing.T) {
	plugin, _ := prerequisites(t)
	s := testotlp.StartSink(t)
	p := testotlp.Start(t, []string{"OTEL_EXPORTER_OTLP_INSECURE=true"}, plugin, append(probeArgs, "--otlp-endpoint", s.Addr)...)
	rs := waitRounds(t, s, 1, 30*time.Second)
	if code, _ := p.Stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	checkLoopbackRound(t, rs[0], false, nil)
}

// testCert is a certificate and its key.
type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T) testCert {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hping3-plugin test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	return sign(t, tmpl, nil)
}

// issue signs a leaf certificate for name (an IP address becomes an IP SAN).
func (ca testCert) issue(t *testing.T, name string, usage x509.ExtKeyUsage) testCert {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	return sign(t, tmpl, &ca)
}

// sign creates tmpl with a new key, signed by parent (self-signed if nil).
func sign(t *testing.T, tmpl *x509.Certificate, parent *testCert) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{cert, key}
}

func (c testCert) tls() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.cert.Raw}, PrivateKey: c.key, Leaf: c.cert}
}

// write stores the certificate as NAME.pem and its key as NAME-key.pem.
func (c testCert) write(t *testing.T, dir, name string) {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", c.cert.Raw)
	writePEM(t, filepath.Join(dir, name+"-key.pem"), "EC PRIVATE KEY", der)
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
