package hping3

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

func planSettings(count int, interval time.Duration) config.Settings {
	s := config.DefaultSettings()
	s.Count, s.Interval, s.Timeout = count, interval, 500*time.Millisecond
	return s
}

// The kill deadline, worked by hand from the documented margins: 200ms
// start, the packets' spacing plus a quarter, hping3's 1s wait, 2s grace.
func TestNewPlanKillDeadline(t *testing.T) {
	cases := []struct {
		count    int
		interval time.Duration
		kill     time.Duration
		lines    int
	}{
		{1, time.Second, 3200 * time.Millisecond, 20},              // nothing to space
		{2, 10 * time.Millisecond, 3212500 * time.Microsecond, 24}, // 0.2 + 0.01 + 0.0025 + 1 + 2
		{2, 100 * time.Millisecond, 3325 * time.Millisecond, 24},   // 0.2 + 0.1 + 0.025 + 1 + 2
		{10, time.Second, 14450 * time.Millisecond, 56},            // 0.2 + 9 + 2.25 + 1 + 2
	}
	for _, c := range cases {
		p := NewPlan(planSettings(c.count, c.interval))
		if p.Kill != c.kill || p.MaxLines != c.lines || p.Count != c.count || p.Interval != c.interval || p.Timeout != 500*time.Millisecond {
			t.Errorf("NewPlan(%d x %v) = %+v, want kill %v, %d lines", c.count, c.interval, p, c.kill, c.lines)
		}
	}
}

func TestFailureClassifiesWhatHPing3Printed(t *testing.T) {
	msg := func(text string) []TimedLine { return []TimedLine{{Line: Line{Kind: Message, Text: text}}} }
	const noPerm = "hping3 has no permission to open raw sockets: run the plugin as root, or grant the capability with `setcap cap_net_raw+ep "
	cases := []struct {
		name string
		ex   Execution
		want string
	}{
		{"socket EPERM on stderr", Execution{Binary: "/usr/sbin/hping3", Argv: []string{"/usr/sbin/hping3"}, stderr: "[open_sockraw] socket(): Operation not permitted\n"},
			noPerm + "/usr/sbin/hping3`"},
		// Under stdbuf the setcap command still names hping3, not stdbuf.
		{"raw socket message on stdout under stdbuf", Execution{Binary: "/opt/h", Argv: []string{"/usr/bin/stdbuf", "-oL", "/opt/h"}, Lines: msg("[main] can't open raw socket")},
			noPerm + "/opt/h`"},
		{"sendto EPERM", Execution{Binary: "/usr/sbin/hping3", ExitCode: 1, stderr: "[send_ip] sendto: Operation not permitted\n"},
			"this host refused to send hping3's packet (sendto: Operation not permitted): a local firewall rule (nftables or iptables output) drops it; allow the probe's traffic to this target"},
		{"killed at the plan's deadline", Execution{Killed: true, Signal: syscall.SIGKILL, ExitCode: -1, Plan: NewPlan(planSettings(2, 100*time.Millisecond))},
			"hping3 did not finish within 3.325s and was killed"},
		{"signal from elsewhere", Execution{Signal: syscall.SIGTERM, ExitCode: -1}, "hping3 was killed by signal terminated"},
		{"other message", Execution{ExitCode: 1, stderr: "\n  [send_ip] sendto: Network is unreachable\nmore\n"},
			"hping3 exited with status 1 without statistics: [send_ip] sendto: Network is unreachable"},
		{"silent", Execution{ExitCode: 3}, "hping3 exited with status 3 without statistics: no output"},
		{"cancelled, statistics or not", Execution{Cancelled: true, HasSummary: true}, "probe cancelled: the plugin is stopping"},
	}
	for _, c := range cases {
		if err := c.ex.Failure(); err == nil || err.Error() != c.want {
			t.Errorf("%s: %v\nwant %s", c.name, err, c.want)
		}
	}
	// 100% loss exits 1, with statistics: a measurement, not a failure.
	if err := (&Execution{ExitCode: 1, HasSummary: true}).Failure(); err != nil {
		t.Errorf("statistics present: %v", err)
	}
}

// The engine hands out typed errors, so callers branch without reading
// the text.
func TestFailureTypes(t *testing.T) {
	var perm *PermissionError
	if err := (&Execution{Binary: "/b", stderr: "socket(): Operation not permitted"}).Failure(); !errors.As(err, &perm) || perm.Binary != "/b" {
		t.Errorf("no permission: %#v", err)
	}
	if err := (&Execution{stderr: "[send_ip] sendto: Operation not permitted"}).Failure(); !errors.Is(err, ErrFirewall) {
		t.Errorf("firewall: %#v", err)
	}
	var killed *KilledError
	if err := (&Execution{Killed: true, Plan: Plan{Kill: 5 * time.Second}}).Failure(); !errors.As(err, &killed) || killed.After != 5*time.Second {
		t.Errorf("killed: %#v", err)
	}
	var exit *ExitError
	if err := (&Execution{ExitCode: 2, stderr: "x"}).Failure(); !errors.As(err, &exit) || exit.Code != 2 || exit.Output != "x" {
		t.Errorf("exit: %#v", err)
	}
}

func TestPermissionErrorDetail(t *testing.T) {
	err := &PermissionError{Binary: "/usr/sbin/hping3", Detail: "capturing on eth0: Unable to open the interface"}
	want := "hping3 has no permission to open raw sockets (capturing on eth0: Unable to open the interface): run the plugin as root, or grant the capability with `setcap cap_net_raw+ep /usr/sbin/hping3`"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}
