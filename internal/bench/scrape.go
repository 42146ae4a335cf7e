package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// PromAccept is the Accept header Prometheus 3 sends with its default
// scrape protocols: each server answers in the format it would give
// Prometheus.
const PromAccept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4," +
	"text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"

// Scrape is how a scrape was measured: Scrapes GETs of /metrics one after
// another, gzipped, after Warm for the server to report every target, with
// Idle before and after to measure what the server costs without them.
type Scrape struct {
	Targets       int
	Scrapes       int
	Warm, Idle    time.Duration
	MaxPacketRate int
}

// ScrapeSample is one server's scrape cost: its own process's CPU (not
// its children's) per scrape, less what it spent probing meanwhile (the
// idle windows' CPU per second times the scrapes' wall time).
type ScrapeSample struct {
	Tool              string
	Series            int     // sample lines of one uncompressed scrape
	Bytes, Gzipped    int     // one scrape's body, uncompressed and as sent
	CPU               float64 // ms per scrape
	Wall              float64 // ms per scrape, curl's start to its end
	IdleCPU           float64 // ms of CPU per second without scrapes
	RSS               int64   // the server's peak RSS, bytes
	Ready             time.Duration
	IdleA, IdleB, Raw float64 // the two idle rates, and the scrapes' CPU before subtracting (ms)
}

// RunScrapeServer starts a server in the client namespace (args: the
// command), waits until url shows want (a series of every target), then
// measures p's scrapes. It stops the server with SIGTERM.
func (l *Lab) RunScrapeServer(ctx context.Context, tool, url, want string, p Scrape, args ...string) (s ScrapeSample, err error) {
	s.Tool = tool
	sv, err := l.startServer(ctx, args)
	if err != nil {
		return s, err
	}
	pid, stderr := sv.pid, &sv.stderr
	stopWatch := Watch(pid, "", "", 100*time.Millisecond)
	defer func() {
		sv.stop()
		kb, _ := stopWatch()
		s.RSS = kb << 10 // (s is the result)
	}()
	start := time.Now()
	for {
		body, _, err := l.scrape(ctx, url, false)
		if err == nil && strings.Count(body, want) >= p.Targets {
			break
		}
		if time.Since(start) > 3*p.Warm {
			return s, fmt.Errorf("%s: %d of %d targets' %q in /metrics after %v: %s", tool, strings.Count(body, want), p.Targets, want, time.Since(start), firstLines(stderr.String()))
		}
		time.Sleep(time.Second)
	}
	s.Ready = time.Since(start)
	time.Sleep(p.Warm)
	body, _, err := l.scrape(ctx, url, false)
	if err != nil {
		return s, err
	}
	s.Bytes = len(body)
	for line := range strings.Lines(body) {
		if !strings.HasPrefix(line, "#") && strings.TrimSpace(line) != "" {
			s.Series++
		}
	}
	idle := func() (float64, error) {
		a, ok1 := ticksCPU(pid)
		t := time.Now()
		time.Sleep(p.Idle)
		b, ok2 := ticksCPU(pid)
		if !ok1 || !ok2 {
			return 0, fmt.Errorf("%s: no /proc/%d/stat", tool, pid)
		}
		return float64((b - a).Milliseconds()) / time.Since(t).Seconds(), nil
	}
	if s.IdleA, err = idle(); err != nil {
		return s, err
	}
	a, _ := ticksCPU(pid)
	t := time.Now()
	for range p.Scrapes {
		_, n, err := l.scrape(ctx, url, true)
		if err != nil {
			return s, err
		}
		s.Gzipped = n
	}
	wall := time.Since(t)
	b, _ := ticksCPU(pid)
	if s.IdleB, err = idle(); err != nil {
		return s, err
	}
	s.IdleCPU = (s.IdleA + s.IdleB) / 2
	s.Raw = float64((b - a).Milliseconds())
	s.CPU = (s.Raw - s.IdleCPU*wall.Seconds()) / float64(p.Scrapes)
	s.Wall = float64(wall.Milliseconds()) / float64(p.Scrapes)
	return s, nil
}

// server is a process the bench scrapes, run in the client namespace.
type server struct {
	pid    int
	stderr testbin.Buffer
	stop   func() // SIGTERM, then its tree's end
}

func (l *Lab) startServer(ctx context.Context, args []string) (*server, error) {
	sv := &server{}
	cmd := l.Command(ctx, args[0], args[1:]...)
	cmd.Stderr = &sv.stderr
	tree, err := StartTree(cmd)
	if err != nil {
		return nil, err
	}
	sv.pid = cmd.Process.Pid
	sv.stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_, _ = tree.Wait()
	}
	return sv, nil
}

// scrape GETs url from inside the client namespace with curl, as
// Prometheus asks (its Accept; gzip when gzipped), and returns the body
// (uncompressed scrapes only) and its size as sent.
func (l *Lab) scrape(ctx context.Context, url string, gzipped bool) (string, int, error) {
	args := []string{"-sS", "--fail", "-H", "Accept: " + PromAccept}
	if gzipped {
		args = append(args, "-H", "Accept-Encoding: gzip", "-o", os.DevNull, "-w", "%{size_download}")
	}
	out, err := l.Command(ctx, "curl", append(args, url)...).Output()
	if err != nil {
		return "", 0, fmt.Errorf("GET %s: %v", url, err)
	}
	if gzipped {
		n, err := strconv.Atoi(strings.TrimSpace(string(out)))
		return "", n, err
	}
	return string(out), len(out), nil
}

// SmokepingConfig writes smokeping_prober's configuration: the targets
// pinged every interval, privileged ICMP.
func SmokepingConfig(dir string, targets []string, interval time.Duration) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "targets:\n- interval: %s\n  network: ip4\n  protocol: icmp\n  hosts:\n", interval)
	for _, t := range targets {
		fmt.Fprintf(&b, "  - %s\n", t)
	}
	path := fmt.Sprintf("%s/smokeping-%d.yml", dir, len(targets))
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// LookSmokeping finds smokeping_prober: given, or on PATH.
func LookSmokeping(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	return exec.LookPath("smokeping_prober")
}
