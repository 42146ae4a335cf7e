package testprom

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/internal/testotlp"
)

// Job is the job name of the one scrape job: every series scraped from the
// targets has job="hping3".
const Job = "hping3"

// readyWithin is how long Start waits for Prometheus to answer /-/ready.
const readyWithin = 30 * time.Second

// Config is what Start's Prometheus scrapes, and how.
type Config struct {
	// Targets are the host:port addresses to scrape; the instance label of
	// their series.
	Targets []string
	// Interval is the scrape and evaluation interval, and the scrape
	// timeout; 1 s when zero. Prometheus keeps milliseconds.
	Interval time.Duration
	// MetricsPath is the path scraped; /metrics when empty.
	MetricsPath string

	// Scheme is "http" (when empty) or "https".
	Scheme string
	// CAFile is the PEM file of the CAs that verify the targets'
	// certificates (tls_config ca_file); the system's when empty.
	CAFile string
	// InsecureSkipVerify scrapes over HTTPS without verifying the
	// certificate (tls_config insecure_skip_verify).
	InsecureSkipVerify bool
	// ServerName is the name the certificate must be valid for
	// (tls_config server_name); the target's host when empty.
	ServerName string
	// CertFile and KeyFile are a client certificate and its key, for a
	// target that asks for one (tls_config cert_file, key_file).
	CertFile, KeyFile string

	// Username and Password, when Username is not empty, are sent as basic
	// auth with every scrape.
	Username, Password string

	// RuleFiles are rule files Prometheus loads (rule_files), evaluated
	// every Interval.
	RuleFiles []string

	// Flags are more flags for Prometheus, such as
	// --enable-feature=native-histograms.
	Flags []string

	// Namespace, when set, is the network namespace (a netlab lab's
	// client) Prometheus runs in: it scrapes targets there, and the
	// harness reaches its API there.
	Namespace string
}

// Server is a running Prometheus.
type Server struct {
	// URL is its base URL, http://127.0.0.1:PORT.
	URL string
	// ConfigFile is the prometheus.yml it runs with, LogFile where its
	// output goes, both in the test's temporary directory.
	ConfigFile, LogFile string

	cfg    Config
	client *http.Client
}

// Start runs /usr/bin/prometheus (any prometheus on PATH) with one scrape
// job, "hping3", over cfg.Targets, its configuration and TSDB in
// t.TempDir() and its web API on a free loopback port. It returns once
// /-/ready answers 200; the test's cleanup kills it and waits for it, and
// shows its log if the test failed. A missing prometheus skips the test
// (fails it under CI).
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	bin := testbin.RequireTool(t, "prometheus")
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	dir := t.TempDir()
	s := &Server{
		ConfigFile: filepath.Join(dir, "prometheus.yml"),
		cfg:        cfg,
		client:     &http.Client{Timeout: 10 * time.Second},
	}
	if ns := cfg.Namespace; ns != "" {
		s.client.Transport = &http.Transport{DisableKeepAlives: true, DialContext: netlab.Dialer(ns)}
	}
	conf, err := configFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.ConfigFile, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	// The free port may be taken between choosing it and Prometheus
	// binding it: then try another.
	for attempt := 1; ; attempt++ {
		addr := testotlp.FreePort(t)
		s.URL = "http://" + addr
		s.LogFile = filepath.Join(dir, fmt.Sprintf("prometheus-%d.log", attempt))
		err := s.run(t, bin, addr, filepath.Join(dir, fmt.Sprintf("data-%d", attempt)))
		if err == nil {
			return s
		}
		log, _ := os.ReadFile(s.LogFile)
		if attempt < 3 && strings.Contains(string(log), "address already in use") {
			continue
		}
		t.Fatalf("prometheus: %v\n%s (%s):\n%s", err, s.LogFile, s.ConfigFile, log)
	}
}

// run starts Prometheus listening on addr and waits until it is ready, or
// has exited, or readyWithin has passed. Once started, the test's cleanup
// stops it whatever run returns.
func (s *Server) run(t testing.TB, bin, addr, data string) error {
	log, err := os.Create(s.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{bin,
		"--config.file=" + s.ConfigFile,
		"--storage.tsdb.path=" + data,
		"--web.listen-address=" + addr,
		"--log.level=info",
	}
	args = append(args, s.cfg.Flags...)
	if s.cfg.Namespace != "" {
		// ip netns exec enters the namespace and execs Prometheus itself.
		args = append([]string{"ip", "netns", "exec", s.cfg.Namespace}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	// Prometheus dies with the test binary even when no cleanup runs (a
	// test timeout's panic, a killed go test).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if s.cfg.Namespace != "" {
		// Started through ip netns exec with a parent-death signal,
		// Prometheus was killed at once: there the cleanup alone stops it.
		cmd.SysProcAttr = nil
	}
	if err := cmd.Start(); err != nil {
		log.Close()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	logFile := s.LogFile
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("prometheus log %s:\n%s", logFile, b)
		}
	})

	deadline := time.Now().Add(readyWithin)
	for {
		select {
		case <-exited:
			return fmt.Errorf("exited before it was ready: %v", waitErr)
		default:
		}
		if resp, err := s.client.Get(s.URL + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s", readyWithin)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// configFile is the prometheus.yml of cfg. It is JSON, which is YAML too:
// every string is quoted right whatever it holds.
func configFile(cfg Config) ([]byte, error) {
	// Prometheus durations take no fractions: whole milliseconds.
	interval := fmt.Sprintf("%dms", max(cfg.Interval.Milliseconds(), 1))
	job := map[string]any{
		"job_name":        Job,
		"scrape_interval": interval,
		"scrape_timeout":  interval,
		"static_configs":  []any{map[string]any{"targets": nonNil(cfg.Targets)}},
	}
	if cfg.MetricsPath != "" {
		job["metrics_path"] = cfg.MetricsPath
	}
	switch cfg.Scheme {
	case "", "http":
	case "https":
		job["scheme"] = "https"
		tls := map[string]any{}
		if cfg.CAFile != "" {
			tls["ca_file"] = cfg.CAFile
		}
		if cfg.InsecureSkipVerify {
			tls["insecure_skip_verify"] = true
		}
		if cfg.ServerName != "" {
			tls["server_name"] = cfg.ServerName
		}
		if cfg.CertFile != "" {
			tls["cert_file"] = cfg.CertFile
			tls["key_file"] = cfg.KeyFile
		}
		job["tls_config"] = tls
	default:
		return nil, fmt.Errorf("testprom: scheme %q is neither http nor https", cfg.Scheme)
	}
	if cfg.Username != "" {
		job["basic_auth"] = map[string]any{"username": cfg.Username, "password": cfg.Password}
	}
	return json.MarshalIndent(map[string]any{
		"rule_files": nonNil(cfg.RuleFiles),
		"global": map[string]any{
			"scrape_interval":     interval,
			"scrape_timeout":      interval,
			"evaluation_interval": interval,
		},
		"scrape_configs": []any{job},
	}, "", "  ")
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
