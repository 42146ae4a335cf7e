package core

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3/tcl"
)

// listenTimeout bounds how long the engine may take to open its captures.
const listenTimeout = 3 * time.Second

// openCaptures opens one capture per outgoing interface of targets,
// filtered in the kernel to what can answer their probes, to our source
// addresses: ICMP (icmpAnswers), or TCP and UDP to the session's reserved
// ports. It
// returns the interfaces whose capture failed, with the reason, and an
// error when the engine itself failed.
func openCaptures(eng engine, bin string, icmpID int, targets []*target, ports sessionPorts) (map[string]error, error) {
	ifaces := captureIfaces(targets)
	ready := map[string]bool{}
	for _, c := range ifaces {
		ready[c.iface] = false
		hosts := make([]string, len(c.srcs))
		for i, s := range c.srcs {
			hosts[i] = "dst host " + s.String()
		}
		terms := []string{"icmp and (" + icmpAnswers(c, icmpID, ports) + ")"}
		if b := ports.tcp; b != nil {
			terms = append(terms, fmt.Sprintf("tcp dst portrange %d-%d", b.lo, b.hi))
		}
		if b := ports.udp; b != nil {
			terms = append(terms, fmt.Sprintf("udp dst portrange %d-%d", b.lo, b.hi))
		}
		filter := fmt.Sprintf("ip and (%s) and ((%s))", strings.Join(hosts, " or "), strings.Join(terms, ") or ("))
		if err := eng.Listen(c.iface, filter); err != nil {
			return nil, err
		}
	}
	failed := map[string]error{}
	timer := time.NewTimer(listenTimeout)
	defer timer.Stop()
	for pending := len(ifaces); pending > 0; {
		select {
		case evs, ok := <-eng.Events():
			if !ok {
				return failed, eng.Err()
			}
			for _, ev := range evs {
				if ev.Kind == tcl.Captured {
					continue // a capture already open: nothing was sent yet
				}
				if done, asked := ready[ev.Iface]; !asked || done || (ev.Kind != tcl.Listening && ev.Kind != tcl.ListenFailed) {
					return failed, fmt.Errorf("the hping3 engine answered out of turn while opening captures")
				}
				ready[ev.Iface] = true
				pending--
				if ev.Kind == tcl.ListenFailed {
					failed[ev.Iface] = tcl.ListenError(bin, ev.Iface, ev.Err)
				}
			}
		case <-timer.C:
			return failed, fmt.Errorf("the hping3 engine did not open its captures within %v", listenTimeout)
		}
	}
	return failed, nil
}

// captureIface is what one interface's capture must let through: the
// source addresses of the targets probed through it, and whether any of
// them is probed over ICMP (so that echo replies are its answers).
type captureIface struct {
	iface string
	srcs  []netip.Addr
	icmp  bool
}

// captureIfaces groups targets by the interface their probes leave by, in
// the order the interfaces first appear: the captures to open, by hping3
// (openCaptures) or by the plugin (kernelClock.openWire).
func captureIfaces(targets []*target) []*captureIface {
	var out []*captureIface
	by := map[string]*captureIface{}
	for _, t := range targets {
		c := by[t.route.iface]
		if c == nil {
			c = &captureIface{iface: t.route.iface}
			by[t.route.iface] = c
			out = append(out, c)
		}
		if !slices.Contains(c.srcs, t.route.src) {
			c.srcs = append(c.srcs, t.route.src)
		}
		c.icmp = c.icmp || t.s.Protocol == config.ICMP
	}
	return out
}

// icmpAnswers is the libpcap expression of the ICMP that can answer the
// probes through c: echo replies with our id, and ICMP errors quoting one
// of our probes, as the plugin's own capture keeps them (capture.Filter):
// the quoted IPv4 header (icmp[8], without options as every probe is
// sent) from one of c's addresses, with our echo id or from the session's
// reserved ports. libpcap's "and" and "or" bind alike, left to right:
// every term is in parentheses.
func icmpAnswers(c *captureIface, icmpID int, ports sessionPorts) string {
	srcs := make([]string, len(c.srcs))
	for i, s := range c.srcs {
		b := s.As4()
		srcs[i] = fmt.Sprintf("icmp[20:4] = 0x%02x%02x%02x%02x", b[0], b[1], b[2], b[3])
	}
	var quoted []string
	if c.icmp {
		quoted = append(quoted, fmt.Sprintf("(icmp[17] = 1 and icmp[28] = 8 and icmp[32:2] = %d)", icmpID))
	}
	for _, q := range []struct {
		proto int
		b     *portBlock
	}{{6, ports.tcp}, {17, ports.udp}} {
		if q.b != nil {
			quoted = append(quoted, fmt.Sprintf("(icmp[17] = %d and icmp[28:2] >= %d and icmp[28:2] <= %d)", q.proto, q.b.lo, q.b.hi))
		}
	}
	errs := fmt.Sprintf("((icmp[0] = 3 or icmp[0] = 4 or icmp[0] = 5 or icmp[0] = 11 or icmp[0] = 12) and icmp[8] = 0x45 and (%s) and (%s))",
		strings.Join(srcs, " or "), strings.Join(quoted, " or "))
	if !c.icmp {
		return errs
	}
	return fmt.Sprintf("(icmp[0] = 0 and icmp[4:2] = %d) or %s", icmpID, errs)
}
