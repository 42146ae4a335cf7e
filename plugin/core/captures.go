package core

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/capture"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3/tcl"
)

// listenTimeout bounds how long the engine may take to open its captures.
const listenTimeout = 3 * time.Second

// listen has the engine process open one capture per outgoing interface of
// targets (where the plugin cannot capture itself),
// filtered in the kernel to what can answer their probes (the libpcap form
// of the plugin's own filter: capture.Filter.Answers). It returns the
// interfaces whose capture failed, with the reason, and an error when the
// engine itself failed.
func listen(eng engineProcess, bin string, tag uint32, targets []*target, ports sessionPorts) (map[string]error, error) {
	ifaces := captureIfaces(targets)
	ready := map[string]bool{}
	for _, c := range ifaces {
		ready[c.iface] = false
		filter := c.filter(tag, ports).Answers()
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
// (listen) or by the plugin (wireTap.openWire).
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

// filter is the capture filter of c's probes and their answers
// (capture.Filter): the plugin's own capture runs its BPF program, hping3's
// its libpcap expression of the answers.
func (c *captureIface) filter(tag uint32, ports sessionPorts) capture.Filter {
	f := capture.Filter{Srcs: c.srcs, ICMP: c.icmp, ICMPTag: tag}
	if b := ports.tcp; b != nil {
		f.TCP = &capture.Ports{Lo: b.lo, Hi: b.hi}
	}
	if b := ports.udp; b != nil {
		f.UDP = &capture.Ports{Lo: b.lo, Hi: b.hi}
	}
	return f
}
