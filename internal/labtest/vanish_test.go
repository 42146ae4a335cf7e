package labtest

import (
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
)

// TestTclCaptureInterfaceVanishes: an interface a target's probes leave by is
// removed while the plugin captures on it (continuous mode). The plugin's
// capture there ends with one E! naming it, the engine starts again, the
// target on the removed interface says it has no route, the lab's target
// keeps being measured in the windows after, and the plugin still answers
// every request and stops when asked: nothing hangs.
func TestTclCaptureInterfaceVanishes(t *testing.T) {
	l := lab(t)
	ip := vanishing(t, l)
	good := netlab.Target(1)
	d := startDaemon(t, l, `mode = "continuous"
[[inputs.hping3]]
  targets = ["`+good.String()+`", "10.77.0.2"]
  interval = "100ms"
  timeout = "300ms"
`)
	first := d.ask()
	if p := first.line(t, 0, good.String()); p.int(t, "result_code") != 0 {
		t.Fatalf("before: %s fields %v", good, p.fields)
	}
	if k := first.round.int(t, "kernel_stamped"); k == 0 {
		t.Fatalf("before: no packet kernel-stamped: %v (stderr:\n%s)", first.round.fields, d.stderr.String())
	}
	ip("link", "del", "vx0")
	removed := time.Now()
	var reps []report
	for k := 1; k <= 3; k++ {
		reps = append(reps, d.askAt(removed.Add(time.Duration(k)*time.Second)))
	}
	logged := d.stderr.String()
	if n := strings.Count(logged, "capture on vx0 ended"); n != 1 {
		t.Errorf("%d lines about vx0's capture ending, want 1:\n%s", n, logged)
	}
	// The last window: the good target measured as ever, the other
	// without a route.
	last := reps[len(reps)-1]
	if p := last.line(t, len(reps), good.String()); p.int(t, "result_code") != 0 || p.int(t, "packets_received") < 5 {
		t.Errorf("after: %s fields %v, want result_code 0 and its packets", good, p.fields)
	}
	if p := last.line(t, len(reps), "10.77.0.2"); p.int(t, "result_code") != 2 {
		t.Errorf("after: 10.77.0.2 fields %v, want result_code 2 (no route)", p.fields)
	}
}

// vanishing adds to the lab's client a veth pair whose far end has no
// address: probes to 10.77.0.2 leave by vx0 (its neighbour entry is
// static) and nothing answers. It returns a runner of ip commands in the
// client namespace.
func vanishing(t *testing.T, l *netlab.Lab) func(args ...string) {
	ip := func(args ...string) {
		t.Helper()
		if err := netlab.Run("ip", append([]string{"-n", l.Client}, args...)...); err != nil {
			t.Error(err)
		}
	}
	ip("link", "add", "vx0", "type", "veth", "peer", "name", "vx1")
	ip("addr", "add", "10.77.0.1/24", "dev", "vx0")
	ip("link", "set", "vx0", "up")
	ip("link", "set", "vx1", "up")
	ip("neigh", "add", "10.77.0.2", "lladdr", "02:00:00:00:77:02", "dev", "vx0")
	return ip
}

// TestTclCaptureInterfaceVanishesMidRound: in a round, the targets probed
// through the removed interface fail with the reason, and the others keep
// every packet.
func TestTclCaptureInterfaceVanishesMidRound(t *testing.T) {
	l := lab(t)
	ip := vanishing(t, l)
	good := netlab.Target(1)
	removed := make(chan struct{})
	go func() {
		defer close(removed)
		time.Sleep(500 * time.Millisecond) // the round sends for 1.9 s
		ip("link", "del", "vx0")
	}()
	r := round(t, l, `[[inputs.hping3]]
  targets = ["`+good.String()+`", "10.77.0.2"]
  count = 20
  interval = "100ms"
  timeout = "300ms"
`)
	<-removed
	if p := r.get(t, good.String()); p.int(t, "packets_received") != 20 {
		t.Errorf("%s: fields %v, want every packet of 20 answered", good, p.fields)
	}
	p := r.points["10.77.0.2"]
	if p.int(t, "result_code") != 2 || !strings.Contains(r.stderr, "capture on vx0 ended") {
		t.Errorf("10.77.0.2: fields %v, want result_code 2; stderr:\n%s", p.fields, r.stderr)
	}
	if n := strings.Count(r.stderr, "E! capture on vx0 ended"); n != 1 {
		t.Errorf("%d E! lines about vx0, want 1:\n%s", n, r.stderr)
	}
}
