package labtest

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// The plugin as Telegraf's inputs.execd runs it (no --once): one process for
// the whole test, a report per line the test writes to its stdin, at times
// the test chooses and records.

// daemon is one running plugin process in the client namespace.
type daemon struct {
	t       *testing.T
	pid     int
	stdin   io.WriteCloser
	reports chan report
	stderr  *testbin.Buffer
	done    chan struct{}
}

// report is what one request got back: its lines by target (as round
// decodes them), the hping3_round line, and when the request was written
// (Asked, just before the write) and its last line read (Got). The plugin
// cut its window at some instant between the two.
type report struct {
	points     map[string]point
	hops       []point // hping3_hop lines, in the order written
	round      point
	Asked, Got time.Time
}

// startDaemon starts `hping3-plugin --engine tcl --config FILE ARGS...`
// with toml in the client namespace, in its default (execd) mode. It is
// stopped (stdin closed, then killed) when the test ends.
func startDaemon(t *testing.T, l network, toml string, args ...string) *daemon {
	t.Helper()
	bin := testbin.Plugin(t)
	file := filepath.Join(t.TempDir(), "daemon.toml")
	if err := os.WriteFile(file, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// `ip netns exec` execs the plugin: the process is the plugin itself.
	cmd := l.Command(ctx, bin, append([]string{"--engine", "tcl", "--config", file}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, stdin: stdin, reports: make(chan report, 64), stderr: &testbin.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.pid = cmd.Process.Pid
	go d.read(stdout)
	go func() { _ = cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-d.done:
		case <-time.After(3 * time.Second):
			t.Errorf("the plugin did not exit within 3 s of its stdin closing")
		}
		cancel()
		<-d.done
		t.Logf("plugin stderr:\n%s", d.stderr.String())
	})
	return d
}

// read splits stdout into reports: each ends with its hping3_round line
// (the plugin writes a report in one write, that line last).
func (d *daemon) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	cur := report{points: map[string]point{}}
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		name, p, err := decodeLine(line)
		if err != nil {
			d.t.Errorf("undecodable line %q: %v", line, err)
			continue
		}
		if name == "hping3_hop" {
			cur.hops = append(cur.hops, p)
			continue
		}
		if name == "hping3_round" {
			cur.round, cur.Got = p, time.Now()
			d.reports <- cur
			cur = report{points: map[string]point{}}
			continue
		}
		cur.points[p.key()] = p
	}
	close(d.reports)
}

func decodeLine(b []byte) (string, point, error) {
	p := point{tags: map[string]string{}, fields: map[string]any{}}
	dec := lineprotocol.NewDecoderWithBytes(b)
	if !dec.Next() {
		return "", p, io.ErrUnexpectedEOF
	}
	m, err := dec.Measurement()
	if err != nil {
		return "", p, err
	}
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			return "", p, err
		}
		if k == nil {
			break
		}
		p.tags[string(k)] = string(v)
	}
	for {
		k, v, err := dec.NextField()
		if err != nil {
			return "", p, err
		}
		if k == nil {
			break
		}
		p.fields[string(k)] = v.Interface()
	}
	_, err = dec.Time(lineprotocol.Nanosecond, time.Time{})
	return string(m), p, err
}

// request writes one request line at once and returns the moment just
// before the write; await returns its report.
func (d *daemon) request() time.Time {
	d.t.Helper()
	asked := time.Now()
	if _, err := io.WriteString(d.stdin, "\n"); err != nil {
		d.t.Fatalf("writing a request: %v; stderr:\n%s", err, d.stderr.String())
	}
	return asked
}

// await returns the next report, which the caller's request asked for at
// asked.
func (d *daemon) await(asked time.Time) report {
	d.t.Helper()
	select {
	case r, ok := <-d.reports:
		if !ok {
			d.t.Fatalf("the plugin closed its stdout; stderr:\n%s", d.stderr.String())
		}
		r.Asked = asked
		return r
	case <-time.After(30 * time.Second):
		d.t.Fatalf("no report within 30 s of a request; stderr:\n%s", d.stderr.String())
	}
	return report{}
}

// ask requests a report and waits for it.
func (d *daemon) ask() report {
	d.t.Helper()
	return d.await(d.request())
}

// askAt sleeps until at, then asks.
func (d *daemon) askAt(at time.Time) report {
	d.t.Helper()
	time.Sleep(time.Until(at))
	return d.ask()
}

// engines returns the plugin's hping3 children (the Tcl engine) that are
// alive, from /proc/PID/task/*/children.
func (d *daemon) engines() []int {
	var out []int
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(d.pid) + "/task/*/children")
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(s)
			if err != nil {
				continue
			}
			st, _ := os.ReadFile("/proc/" + s + "/stat")
			comm, _ := os.ReadFile("/proc/" + s + "/comm")
			if strings.TrimSpace(string(comm)) == "hping3" && !zombie(st) {
				out = append(out, pid)
			}
		}
	}
	return out
}

// engineUp waits for the plugin's first engine and returns when it saw it.
func (d *daemon) engineUp() time.Time {
	d.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if len(d.engines()) > 0 {
			return time.Now()
		}
	}
	d.t.Fatalf("no hping3 engine under the plugin after 10 s; stderr:\n%s", d.stderr.String())
	return time.Time{}
}

func zombie(stat []byte) bool {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || len(s) < i+3 || s[i+2] == 'Z'
}

// kill sends SIGKILL to pid.
func kill(t *testing.T, pid int) time.Time {
	t.Helper()
	at := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %d: %v", pid, err)
	}
	return at
}
