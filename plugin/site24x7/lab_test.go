package site24x7

import (
	"testing"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// The built binary on a real failure, not a rendered one: a name that does
// not resolve is Down with the resolver's reason and nothing else.
func TestBinaryUnresolvable(t *testing.T) {
	m := runPlugin(t, nil, testbin.Plugin(t), "--site24x7", "--host", "nonexistent.invalid", "--plugin-version", "1", "--heartbeat", "True")
	wantDown(t, m, `"nonexistent.invalid" did not resolve`, `check the host="..." value in hping3.cfg`)
	if m["host"] != "nonexistent.invalid" || m["packets transmitted"] != nil || m["ip"] != nil {
		t.Errorf("host %v, packets transmitted %v, ip %v: want the host and no probe keys", m["host"], m["packets transmitted"], m["ip"])
	}
}

// A silent host (the network lab's target behind an nftables drop), probed
// with the old plugin's defaults (TCP SYN to 8040, 2 packets): Down with the
// counts kept, so loss thresholds still fire, and no RTT key at all (the old
// plugin reported 0 ms here).
func TestBinaryTotalLoss(t *testing.T) {
	l := netlab.New(t)
	testbin.RequireTool(t, "hping3")
	target := netlab.Target(100)
	dropped, err := l.Silent(target)
	if err != nil {
		t.Fatal(err)
	}
	m := runPlugin(t, nil, "ip", "netns", "exec", l.Client, testbin.Plugin(t),
		"--site24x7", "--host", target.String(), "--plugin-version", "1", "--heartbeat", "True", "--interval", "200ms")
	wantDown(t, m, "no reply from "+target.String(), "on tcp port 8040: 2 of 2 packets lost")
	if m["packets transmitted"] != 2.0 || m["packets received"] != 0.0 || m["packets loss"] != 100.0 || m["port state"] != "none" {
		t.Errorf("transmitted %v received %v loss %v port state %v; want 2, 0, 100, none",
			m["packets transmitted"], m["packets received"], m["packets loss"], m["port state"])
	}
	if n, err := dropped.Packets(); err != nil || n != 2 {
		t.Errorf("nftables dropped %d packets (%v), want 2", n, err)
	}
}
