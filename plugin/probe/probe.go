package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3"
)

// Timing margins around hping3's own schedule.
const (
	// startAllowance covers hping3's start-up (pcap open, interface
	// lookup) when it never printed its header line.
	startAllowance = 200 * time.Millisecond
	// killGrace is how long hping3 gets after SIGINT to print its
	// statistics before it is killed.
	killGrace = 2 * time.Second
	// glitchSlack absorbs scheduling noise when checking that a reply's
	// rtt fits between its packet's earliest send time and its arrival.
	glitchSlack = 50 * time.Millisecond
)

// DefaultBinary is where Debian installs hping3; used when it is not on PATH.
const DefaultBinary = "/usr/sbin/hping3"

// Binary returns the hping3 program to run for the configured path.
func Binary(configured string) (string, error) {
	if configured == "" {
		if p, err := exec.LookPath("hping3"); err == nil {
			return p, nil
		}
		configured = DefaultBinary
	}
	if !strings.Contains(configured, "/") {
		// A bare name means a program on PATH, as in a shell, never a file
		// in whatever directory the plugin was started from.
		p, err := exec.LookPath(configured)
		if err != nil {
			return "", fmt.Errorf("hping3 %q not found on PATH: install it (apt-get install hping3) or set hping3 = \"/path/to/hping3\"", configured)
		}
		return p, nil
	}
	st, err := os.Stat(configured)
	switch {
	case err != nil:
		return "", fmt.Errorf("hping3 not found at %s: install it (apt-get install hping3) or set hping3 = \"/path/to/hping3\"", configured)
	case st.IsDir() || st.Mode()&0o111 == 0:
		return "", fmt.Errorf("hping3 at %s is not an executable file: check the hping3 setting and its permissions (chmod +x)", configured)
	}
	return configured, nil
}

// Target is a resolved target ready to probe.
type Target struct {
	Name string // as configured
	Res  Resolution
	Tags map[string]string
}

// NewResult is the Result of t before anything is measured: its name,
// address, tags and the outcome of its lookup.
func NewResult(t Target, s config.Settings, start time.Time) Result {
	r := Result{
		Target: t.Name, IP: t.Res.IP, Protocol: s.Protocol, Tags: t.Tags,
		Code: t.Res.Code, Err: t.Res.Err, DNS: t.Res.DNS, TTL: -1, Start: start,
	}
	if s.Protocol != config.ICMP {
		r.Port = s.Port
	}
	return r
}

// Run probes one resolved target with hping3 using source ports from
// basePort, and returns its Result. It never returns without a Result.
func Run(ctx context.Context, t Target, s config.Settings, basePort int) (res Result) {
	start := time.Now()
	r := NewResult(t, s, start)
	defer func() { res.Duration = time.Since(start) + res.DNS }()
	if r.Code != OK {
		return r
	}
	fail := func(err error) Result {
		r.Code, r.Err = Failed, err
		return r
	}
	bin, err := Binary(s.HPing3)
	if err != nil {
		return fail(err)
	}
	args, err := hping3.Args(s, r.IP, basePort)
	if err != nil {
		return fail(err)
	}
	r.Argv = append([]string{bin}, args...)
	ex, err := hping3.Execute(ctx, bin, args, plan(s))
	if ex != nil {
		r.Ran = true
		r.Argv = ex.Argv
		r.Start = ex.Start
	}
	if err != nil {
		return fail(fmt.Errorf("running %s: %w", bin, err))
	}
	sum, hasSum := hping3.ParseSummary(ex.Stderr)
	if err := failure(ex, hasSum, s); err != nil {
		return fail(err)
	}
	measure(&r, ex, sum, s)
	switch {
	// Nothing sent, or nothing given its timeout, measures nothing: 0%
	// loss would be a lie.
	case sum.Transmitted == 0:
		return fail(fmt.Errorf("hping3 sent no packet (exit status %d)", ex.ExitCode))
	case r.Transmitted == 0:
		return fail(fmt.Errorf("hping3 stopped before any of its %d packets had its %v timeout (it counts ICMP errors and duplicates as replies): nothing to measure", sum.Transmitted, s.Timeout))
	}
	return r
}

// plan bounds one hping3 run: the kill deadline allows the packets a
// quarter more than their nominal spacing (hping3 drifts under load) and
// hping3's own one-second wait after the last packet.
func plan(s config.Settings) hping3.Plan {
	sending := time.Duration(s.Count-1) * s.Interval
	return hping3.Plan{
		Count: s.Count, Interval: s.Interval, Timeout: s.Timeout,
		Kill:     startAllowance + sending + sending/4 + time.Second + killGrace,
		MaxLines: 4*s.Count + 16,
	}
}

// failure explains an execution that measured nothing, with the fix where
// one is known; nil when hping3 ran and printed its statistics.
func failure(ex *hping3.Execution, hasSum bool, s config.Settings) error {
	out := ex.Stderr
	for _, l := range ex.Lines {
		if l.Kind == hping3.Message {
			out += "\n" + l.Text
		}
	}
	switch {
	case ex.Cancelled:
		return errors.New("probe cancelled: the plugin is stopping")
	case strings.Contains(out, "sendto: Operation not permitted"):
		// The raw socket opened, so the capability is there: the kernel
		// refused the packet itself, which is a local firewall's output rule.
		return errors.New("this host refused to send hping3's packet (sendto: Operation not permitted): a local firewall rule (nftables or iptables output) drops it; allow the probe's traffic to this target")
	case strings.Contains(out, "Operation not permitted") || strings.Contains(out, "can't open raw socket"):
		return errors.New("hping3 has no permission to open raw sockets: run the plugin as root, or grant the capability with `setcap cap_net_raw+ep " + ex.Argv[indexOfBinary(ex.Argv)] + "`")
	case hasSum:
		return nil
	case ex.Killed:
		return fmt.Errorf("hping3 did not finish within %v and was killed", plan(s).Kill.Round(time.Millisecond))
	case ex.Signal != 0:
		return fmt.Errorf("hping3 was killed by signal %v", ex.Signal)
	}
	msg := firstLine(out)
	if msg == "" {
		msg = "no output"
	}
	return fmt.Errorf("hping3 exited with status %d without statistics: %s", ex.ExitCode, msg)
}

// indexOfBinary finds hping3 itself in an argv that may start with stdbuf.
func indexOfBinary(argv []string) int {
	if len(argv) > 2 && argv[0] == hping3.Stdbuf && argv[1] == "-oL" {
		return 2
	}
	return 0
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if len(l) > 200 {
				l = l[:200] + "..."
			}
			return l
		}
	}
	return ""
}
