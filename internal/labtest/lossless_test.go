package labtest

import (
	"testing"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
)

// TestLossless200 runs 200 targets on a lossless path in one round with
// the default settings (count 5, interval 1s, timeout 1s, default
// concurrency): any loss reported is the plugin's own doing (hping3
// instances starving each other), so the bound is exact: 0%.
func TestLossless200(t *testing.T) {
	l := lab(t)
	var targets []string
	for i := 1; i <= 200; i++ {
		targets = append(targets, netlab.Target(i).String())
	}
	r := round(t, l, "[[inputs.hping3]]\ntargets = "+quoted(targets)+"\n")
	bad := 0
	for _, tg := range targets {
		p := r.get(t, tg)
		tx, rx := p.int(t, "packets_transmitted"), p.int(t, "packets_received")
		if tx != 5 || rx != 5 || p.float(t, "percent_packet_loss") != 0 {
			bad++
			t.Errorf("%s: %d/%d received, loss %v%%; want 5/5, 0%%", tg, rx, tx, p.fields["percent_packet_loss"])
		}
	}
	t.Logf("200 targets, default settings: round took %v, %d targets with false loss", r.wall, bad)
}
