package hping3

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// The errors below are what an hping3 run that measured nothing means, each
// with its fix where one is known. Both engines return them, so a user sees
// one wording whichever engine ran (docs/troubleshooting.md lists
// them).

// PermissionError is hping3 without CAP_NET_RAW: it could not open its raw
// socket or its capture.
type PermissionError struct {
	Binary string // hping3 itself (never stdbuf), for the setcap command
	Detail string // what failed, when known: "capturing on eth0: ..."
}

func (e *PermissionError) Error() string {
	detail := ""
	if e.Detail != "" {
		detail = " (" + e.Detail + ")"
	}
	return "hping3 has no permission to open raw sockets" + detail +
		": run the plugin as root, or grant the capability with `setcap cap_net_raw+ep " + e.Binary + "`"
}

// ErrFirewall is the kernel refusing hping3's packet on output (sendto
// EPERM). The raw socket opened, so the capability is there: the refusal
// is a local firewall's output rule.
var ErrFirewall = errors.New("this host refused to send hping3's packet (sendto: Operation not permitted): a local firewall rule (nftables or iptables output) drops it; allow the probe's traffic to this target")

// ErrCancelled is a run cut short because the plugin is stopping (its
// context ended), not because of anything hping3 did.
var ErrCancelled = errors.New("probe cancelled: the plugin is stopping")

// KilledError is hping3 still running at its Plan's kill deadline.
type KilledError struct {
	After time.Duration // the Plan's Kill
}

func (e *KilledError) Error() string {
	return fmt.Sprintf("hping3 did not finish within %v and was killed", e.After.Round(time.Millisecond))
}

// SignalError is hping3 ended by a signal the plugin did not send at its
// kill deadline (out of memory, an administrator).
type SignalError struct {
	Signal syscall.Signal
}

func (e *SignalError) Error() string {
	return fmt.Sprintf("hping3 was killed by signal %v", e.Signal)
}

// ExitError is hping3 exiting without printing its statistics.
type ExitError struct {
	Code   int
	Output string // hping3's first line of output, cut to 200 bytes; "" for none
}

func (e *ExitError) Error() string {
	out := e.Output
	if out == "" {
		out = "no output"
	}
	return fmt.Sprintf("hping3 exited with status %d without statistics: %s", e.Code, out)
}

// Failure classifies a finished run: nil when hping3 printed its
// statistics and nothing says its packets never left, else one of the
// errors above. hping3's own messages (stderr and "[...]" lines on stdout,
// docs/hping3.md) tell a missing capability from a firewall.
func (ex *Execution) Failure() error {
	out := ex.stderr
	for _, l := range ex.Lines {
		if l.Kind == Message {
			out += "\n" + l.Text
		}
	}
	switch {
	case ex.Cancelled:
		return ErrCancelled
	case strings.Contains(out, "sendto: Operation not permitted"):
		return ErrFirewall
	case strings.Contains(out, "Operation not permitted") || strings.Contains(out, "can't open raw socket"):
		return &PermissionError{Binary: ex.Binary}
	case ex.HasSummary:
		return nil
	case ex.Killed:
		return &KilledError{After: ex.Plan.Kill}
	case ex.Signal != 0:
		return &SignalError{Signal: ex.Signal}
	}
	return &ExitError{Code: ex.ExitCode, Output: firstLine(out)}
}

// firstLine is the first non-blank line of s, cut to 200 bytes.
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
