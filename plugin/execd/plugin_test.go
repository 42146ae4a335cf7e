package execd_test

import (
	"bufio"
	"errors"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// These tests run the real plugin binary with the real hping3 against
// 127.0.0.1, without Telegraf: stdin, signals and stdout as a process sees them.

func requireProbing(t *testing.T) string {
	t.Helper()
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	becomeSubreaper(t)
	return testbin.Plugin(t)
}

type running struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // stdout lines
	stderr *testbin.Buffer
	exited chan struct{}
	err    error // from Wait, valid once exited is closed
}

func startPlugin(t *testing.T, bin string, args ...string) *running {
	t.Helper()
	r := &running{cmd: exec.Command(bin, args...), lines: make(chan string, 100), stderr: &testbin.Buffer{}, exited: make(chan struct{})}
	r.cmd.Stderr = r.stderr
	var err error
	if r.stdin, err = r.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
		r.err = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-r.exited:
		default:
			r.cmd.Process.Kill()
			<-r.exited
		}
	})
	return r
}

func (r *running) line(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-r.lines:
		if !ok {
			t.Fatalf("stdout closed; stderr: %s", r.stderr)
		}
		return l
	case <-time.After(within):
		t.Fatalf("no line within %v; stderr: %s", within, r.stderr)
		return ""
	}
}

// waitExit waits for the process and returns how long it took from since.
func (r *running) waitExit(t *testing.T, since time.Time, within time.Duration) time.Duration {
	t.Helper()
	select {
	case <-r.exited:
		return time.Since(since)
	case <-time.After(within):
		t.Fatalf("still running %v after the stop; stderr: %s", within, r.stderr)
		return 0
	}
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hasHping3Child() bool {
	for _, p := range descendants() {
		if p.comm == "hping3" {
			return true
		}
	}
	return false
}

// A stop in the middle of a 2 s probe ends the plugin within 1 s, with exit
// status 0, no output for the cut round, and its hping3 gone.
func TestPluginStopDuringRound(t *testing.T) {
	bin := requireProbing(t)
	for _, how := range []string{"stdin EOF", "SIGTERM", "SIGINT"} {
		t.Run(how, func(t *testing.T) {
			r := startPlugin(t, bin, "--mode", "rounds", "--target", "127.0.0.1", "--count", "20", "--interval", "100ms")
			if _, err := io.WriteString(r.stdin, "\n"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "hping3 started", 5*time.Second, hasHping3Child)
			t0 := time.Now()
			switch how {
			case "stdin EOF":
				r.stdin.Close()
			case "SIGTERM":
				r.cmd.Process.Signal(syscall.SIGTERM)
			case "SIGINT":
				r.cmd.Process.Signal(syscall.SIGINT)
			}
			if took := r.waitExit(t, t0, 5*time.Second); took > time.Second {
				t.Errorf("exited %v after %s, want within 1s", took, how)
			}
			if r.err != nil {
				t.Errorf("exit: %v, want status 0; stderr: %s", r.err, r.stderr)
			}
			if l, ok := <-r.lines; ok {
				t.Errorf("wrote %q for the cut round, want nothing", l)
			}
			if s := r.stderr.String(); strings.Contains(s, "E! ") || strings.Contains(s, "panic") {
				t.Errorf("stderr: %s", s)
			}
			requireAllGone(t, t0, time.Second)
		})
	}
}

// Telegraf's SIGHUP, SIGUSR1 and SIGUSR2 modes each get one round.
func TestPluginSignalsRunRounds(t *testing.T) {
	bin := requireProbing(t)
	r := startPlugin(t, bin, "--mode", "rounds", "--target", "127.0.0.1", "--count", "2", "--interval", "100ms")
	// A first round through stdin shows the loop (and its signal handlers)
	// is up: a signal before that would find the default action.
	io.WriteString(r.stdin, "\n")
	var stamps []time.Time
	// Each round is its target's line, then the round's own line.
	roundLines := func() []metric {
		return decode(t, []byte(r.line(t, 10*time.Second)+"\n"+r.line(t, 10*time.Second)+"\n"))
	}
	stamps = append(stamps, roundLines()[0].time)
	for _, s := range []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2} {
		r.cmd.Process.Signal(s)
		m := roundLines()
		if len(m) != 2 || m[0].tags["target"] != "127.0.0.1" || m[0].fields["result_code"].IntV() != 0 {
			t.Fatalf("after %v: %+v, want one result_code 0 line for 127.0.0.1", s, m)
		}
		if m[1].name != "hping3_round" || m[1].fields["targets"].IntV() != 1 || m[1].fields["processes"].IntV() != 1 ||
			m[1].fields["failures"].IntV() != 0 || m[1].time != m[0].time {
			t.Fatalf("after %v: round line %+v, want 1 target, 1 process, 0 failures at the round's time", s, m[1])
		}
		if !m[0].time.After(stamps[len(stamps)-1]) {
			t.Errorf("after %v: timestamp %v not after the previous round's %v", s, m[0].time, stamps[len(stamps)-1])
		}
		stamps = append(stamps, m[0].time)
	}
	r.stdin.Close()
	r.waitExit(t, time.Now(), 5*time.Second)
	if r.err != nil {
		t.Errorf("exit: %v; stderr: %s", r.err, r.stderr)
	}
	if l, ok := <-r.lines; ok {
		t.Errorf("extra output %q: want one round per signal", l)
	}
}

// With nobody reading stdout any more, the next round's write ends the
// plugin quietly with status 0 instead of a death by SIGPIPE.
func TestPluginBrokenStdoutExitsQuietly(t *testing.T) {
	bin := requireProbing(t)
	cmd := exec.Command(bin, "--mode", "rounds", "--target", "127.0.0.1", "--count", "1", "--interval", "100ms")
	stderr := &testbin.Buffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out.Close() // the reader is gone before the first round
	io.WriteString(stdin, "\n")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("still running after its stdout broke; stderr: %s", stderr)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("exit %v (signal: %v), want status 0; stderr: %s", ee, ee.Sys().(syscall.WaitStatus).Signal(), stderr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if s := withoutEngineLine(stderr.String()); s != "" {
		t.Errorf("stderr %q, want nothing but the engine's I! line", s)
	}
}

// withoutEngineLine drops the I! line saying which engine runs, which every
// plugin start writes.
func withoutEngineLine(s string) string {
	var keep []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(l, "I! engine ") && l != "" {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

// A round longer than --poll-interval is reported on stderr with "W! ".
func TestPluginPollOverrunWarns(t *testing.T) {
	bin := requireProbing(t)
	// 15 packets 100ms apart take about 1.5 s: longer than the 1 s poll.
	r := startPlugin(t, bin, "--mode", "rounds", "--target", "127.0.0.1", "--count", "15", "--interval", "100ms", "--poll-interval", "1s")
	m := decode(t, []byte(r.line(t, 10*time.Second)))
	if len(m) != 1 || m[0].tags["target"] != "127.0.0.1" || m[0].fields["result_code"].IntV() != 0 {
		t.Fatalf("first round %+v, want one result_code 0 line for 127.0.0.1", m)
	}
	waitFor(t, "overrun warning", 5*time.Second, func() bool {
		return strings.Contains(r.stderr.String(), "W! round took")
	})
	r.stdin.Close()
	r.waitExit(t, time.Now(), 5*time.Second)
	for _, l := range strings.Split(strings.TrimSpace(withoutEngineLine(r.stderr.String())), "\n") {
		if !strings.HasPrefix(l, "W! ") {
			t.Errorf("stderr line %q, want only W! lines", l)
		}
	}
}
