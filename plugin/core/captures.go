package core

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3/tcl"
)

// listenTimeout bounds how long the engine may take to open its captures.
const listenTimeout = 3 * time.Second

// openCaptures opens one capture per outgoing interface of targets,
// filtered in the kernel to what can answer their probes: packets to our
// source addresses that are ICMP (but no echo request, and echo replies
// only with our id), or TCP and UDP to the session's reserved ports. It
// returns the interfaces whose capture failed, with the reason, and an
// error when the engine itself failed.
func openCaptures(eng engine, bin string, icmpID int, targets []*target, ports sessionPorts) (map[string]error, error) {
	type capture struct {
		srcs  []string
		icmp  bool
		ready bool
	}
	caps := map[string]*capture{}
	var order []string
	for _, t := range targets {
		c := caps[t.route.iface]
		if c == nil {
			c = &capture{}
			caps[t.route.iface] = c
			order = append(order, t.route.iface)
		}
		if src := t.route.src.String(); !slices.Contains(c.srcs, src) {
			c.srcs = append(c.srcs, src)
		}
		c.icmp = c.icmp || t.s.Protocol == config.ICMP
	}
	for _, ifname := range order {
		c := caps[ifname]
		hosts := make([]string, len(c.srcs))
		for i, s := range c.srcs {
			hosts[i] = "dst host " + s
		}
		icmp := "icmp[0] != 0 and icmp[0] != 8"
		if c.icmp {
			icmp = fmt.Sprintf("icmp[0] != 8 and (icmp[0] != 0 or icmp[4:2] = %d)", icmpID)
		}
		terms := []string{"icmp and " + icmp}
		if b := ports.tcp; b != nil {
			terms = append(terms, fmt.Sprintf("tcp dst portrange %d-%d", b.lo, b.hi))
		}
		if b := ports.udp; b != nil {
			terms = append(terms, fmt.Sprintf("udp dst portrange %d-%d", b.lo, b.hi))
		}
		filter := fmt.Sprintf("ip and (%s) and ((%s))", strings.Join(hosts, " or "), strings.Join(terms, ") or ("))
		if err := eng.Listen(ifname, filter); err != nil {
			return nil, err
		}
	}
	failed := map[string]error{}
	timer := time.NewTimer(listenTimeout)
	defer timer.Stop()
	for pending := len(order); pending > 0; {
		select {
		case evs, ok := <-eng.Events():
			if !ok {
				return failed, eng.Err()
			}
			for _, ev := range evs {
				if ev.Kind == tcl.Captured {
					continue // a capture already open: nothing was sent yet
				}
				c := caps[ev.Iface]
				if c == nil || c.ready || (ev.Kind != tcl.Listening && ev.Kind != tcl.ListenFailed) {
					return failed, fmt.Errorf("the hping3 engine answered out of turn while opening captures")
				}
				c.ready = true
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
