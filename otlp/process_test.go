package otlp

import (
	"bufio"
	"fmt"
	"io"
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

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

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

// lines collects a process's output line by line with arrival times.
type lines struct {
	mu    sync.Mutex
	lines []line
	added chan struct{}
	eof   chan struct{}
}

type line struct {
	at   time.Time
	text string
}

func readLines(r io.Reader) *lines {
	l := &lines{added: make(chan struct{}, 1), eof: make(chan struct{})}
	go func() {
		defer close(l.eof)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l.mu.Lock()
			l.lines = append(l.lines, line{time.Now(), sc.Text()})
			l.mu.Unlock()
			select {
			case l.added <- struct{}{}:
			default:
			}
		}
	}()
	return l
}

func (l *lines) all() []line {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]line(nil), l.lines...)
}

func (l *lines) matching(prefix string) []line {
	var out []line
	for _, ln := range l.all() {
		if strings.HasPrefix(ln.text, prefix) {
			out = append(out, ln)
		}
	}
	return out
}

func (l *lines) String() string {
	var b strings.Builder
	for _, ln := range l.all() {
		b.WriteString(ln.text + "\n")
	}
	return b.String()
}

// waitFor waits until n lines start with prefix, or fails.
func (l *lines) waitFor(t *testing.T, prefix string, n int, within time.Duration) []line {
	t.Helper()
	deadline := time.After(within)
	for {
		if m := l.matching(prefix); len(m) >= n {
			return m
		}
		select {
		case <-l.added:
		case <-l.eof:
			if m := l.matching(prefix); len(m) >= n {
				return m
			}
			t.Fatalf("output ended with %d lines starting %q, want %d:\n%s", len(l.matching(prefix)), prefix, n, l)
		case <-deadline:
			t.Fatalf("%d lines starting %q within %s, want %d:\n%s", len(l.matching(prefix)), prefix, within, n, l)
		}
	}
}

// proc is a child process whose stderr (with stdout) the test reads.
type proc struct {
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
	p := &proc{cmd: cmd, out: readLines(r), exited: make(chan struct{})}
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
			t.Logf("output of %s:\n%s", filepath.Base(name), p.out)
		}
	})
	return p
}

// stop sends SIGTERM and returns the exit status, failing if the process
// is still running after within.
func (p *proc) stop(t *testing.T, within time.Duration) (int, time.Duration) {
	t.Helper()
	sent := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(within):
		t.Fatalf("%s still running %s after SIGTERM", p.cmd.Path, within)
	}
	took := time.Since(sent)
	if p.err == nil {
		return 0, took
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode(), took
	}
	t.Fatal(p.err)
	return -1, took
}

// rssKiB reads the resident set size of a running process.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// collectorConfig receives OTLP on recv and passes everything on to the
// sink (otlp_grpc exporter) and to the debug exporter, whose output is what
// a user watching the Collector sees.
const collectorConfig = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
exporters:
  otlp_grpc:
    endpoint: %s
    tls:
      insecure: true
  debug:
    verbosity: detailed
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [otlp_grpc, debug]
`

// startCollector runs a real Collector receiving on recv and forwarding to
// the sink, and waits until it is ready.
func startCollector(t *testing.T, bin, recv string, s *sink) *proc {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "otelcol.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, collectorConfig, recv, s.addr), 0o644); err != nil {
		t.Fatal(err)
	}
	c := start(t, nil, bin, "--config", cfg)
	waitReady(t, c)
	return c
}

func waitReady(t *testing.T, c *proc) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		for _, ln := range c.out.all() {
			if strings.Contains(ln.text, "Everything is ready. Begin running and processing data.") {
				return
			}
		}
		select {
		case <-c.out.added:
		case <-c.exited:
			t.Fatalf("collector exited before it was ready:\n%s", c.out)
		case <-deadline:
			t.Fatalf("collector not ready within 30 s:\n%s", c.out)
		}
	}
}

// prerequisites skips (fails in CI) without root or hping3, and returns
// the plugin and Collector binaries.
func prerequisites(t *testing.T) (plugin, collector string) {
	t.Helper()
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	return testbin.Plugin(t), testbin.Otelcol(t)
}
