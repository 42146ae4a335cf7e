package hardening

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// TestOTLPCollectorFaults runs the OTLP mode against a Collector address
// that refuses connections, one that accepts and never answers, and one that
// resets every connection. Rounds keep their one-second schedule, and the
// log says once that exporting fails, not once per export.
func TestOTLPCollectorFaults(t *testing.T) {
	faults := map[string]func(t *testing.T) string{
		"refused": func(t *testing.T) string {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			return addr
		},
		"hangs": func(t *testing.T) string {
			return serve(t, func(c *net.TCPConn) {
				io.Copy(io.Discard, c) // read everything, answer nothing
			})
		},
		"resets": func(t *testing.T) string {
			return serve(t, func(c *net.TCPConn) {
				c.SetLinger(0) // close with RST
				c.Close()
			})
		},
	}
	for name, fault := range faults {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			addr := fault(t)
			dir := testbin.OpenDir(t)
			rec, _ := recorder(t, dir)
			times := filepath.Join(dir, "times")
			bin := script(t, dir, "hping3-timed", "date +%s%N >>"+times+"\nexec "+rec+` "$@"`+"\n")
			// The export timeout (10 s by default) is shortened so that
			// several exports fail within the test.
			cmd, _, stdout, stderr := startPluginEnv(t, []string{"OTEL_EXPORTER_OTLP_TIMEOUT=500"}, "--otlp", "--mode", "rounds", "--otlp-endpoint", "http://"+addr, "--poll-interval", "1s",
				"--hping3", bin, "--target", "127.0.0.1", "--count", "1", "--interval", "10ms", "--timeout", "10ms")
			go io.Copy(io.Discard, stdout)
			time.Sleep(5500 * time.Millisecond)
			cmd.Process.Signal(syscall.SIGTERM)
			code, took := exitWithin(t, cmd, 8*time.Second)
			if code != 0 || took > 5*time.Second {
				t.Errorf("exit %d after %v from SIGTERM; want 0 within the 4s shutdown budget", code, took)
			}
			starts := readTimes(t, times)
			if len(starts) < 5 || len(starts) > 7 {
				t.Errorf("%d rounds in 5.5s with a 1s poll interval", len(starts))
			}
			for i := 1; i < len(starts); i++ {
				if gap := starts[i].Sub(starts[i-1]); gap < 800*time.Millisecond || gap > 1300*time.Millisecond {
					t.Errorf("round %d started %v after the one before; the poll interval is 1s", i, gap)
				}
			}
			log := stderr.String()
			if n := strings.Count(log, "otlp: export failed"); n != 1 || strings.Count(log, "E! ") != 1 {
				t.Errorf("%d export failure lines, %d E! lines; want exactly one:\n%s", n, strings.Count(log, "E! "), log)
			}
			if n := strings.Count(log, "W! "); n > 1 {
				t.Errorf("%d W! lines:\n%s", n, log)
			}
			t.Logf("%d rounds; stderr:\n%s", len(starts), log)
		})
	}
}

// serve accepts connections on loopback and hands each to handle until the
// test ends.
func serve(t *testing.T, handle func(*net.TCPConn)) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go handle(c.(*net.TCPConn))
		}
	}()
	return ln.Addr().String()
}

func readTimes(t *testing.T, file string) []time.Time {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for _, f := range strings.Fields(string(b)) {
		ns, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, time.Unix(0, ns))
	}
	return out
}
