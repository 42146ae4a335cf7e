package execd_test

import (
	"testing"
)

// pathConf probes 127.0.0.1 with path probes: its path is one hop, the
// target itself.
const pathConf = `
[[inputs.hping3]]
  targets = ["nonexistent.invalid", "127.0.0.1"]
  interval = "100ms"
  timeout = "500ms"
  count = 3
  path = true
  max_hops = 5
  [inputs.hping3.tags]
    lab = "e2e"
`

// A real Telegraf receives the hop lines through inputs.execd, in the
// default continuous mode and in rounds: every report of 127.0.0.1 has one
// hping3_hop line, hop 1 answered by 127.0.0.1 itself, with Telegraf's host
// tag and the table's tags beside ours, and the target's line says
// hop_count 1 and the same path_id every time.
func TestTelegrafPathHops(t *testing.T) {
	for _, mode := range []string{"continuous", "rounds"} {
		t.Run(mode, func(t *testing.T) {
			run := runTelegrafWith(t, pathConf, "STDIN", 3, "--mode", mode)
			checkPathHops(t, run, 3)
		})
	}
}

func checkPathHops(t *testing.T, run telegrafRun, n int) {
	t.Helper()
	hops := map[int64][]metric{}
	for _, m := range run.out {
		if m.name == "hping3_hop" {
			hops[m.time.UnixNano()] = append(hops[m.time.UnixNano()], m)
		}
	}
	ids := map[string]bool{}
	reports := 0
	for ns, lines := range byRound(run.out) {
		for _, m := range lines {
			if m.tags["target"] != "127.0.0.1" {
				if _, ok := m.fields["hop_count"]; ok {
					t.Errorf("%s: hop_count on a target that did not resolve: %v", m.tags["target"], m.fields)
				}
				continue
			}
			reports++
			if hc := m.fields["hop_count"]; hc.IntV() != 1 {
				t.Errorf("127.0.0.1: hop_count %v, want 1", hc)
			}
			ids[m.fields["path_id"].StringV()] = true
			hs := hops[ns]
			if len(hs) != 1 {
				t.Fatalf("report at %d: %d hping3_hop lines, want 1 (loopback is one hop): %v", ns, len(hs), hs)
			}
			h := hs[0]
			if h.tags["hop"] != "1" || h.tags["hop_ip"] != "127.0.0.1" || h.tags["target"] != "127.0.0.1" || h.tags["protocol"] != "icmp" ||
				h.tags["lab"] != "e2e" || h.tags["host"] == "" {
				t.Errorf("hop line tags %v", h.tags)
			}
			tx, rx := h.fields["packets_transmitted"].IntV(), h.fields["packets_received"].IntV()
			if tx < 1 || rx != tx || h.fields["percent_packet_loss"].FloatV() != 0 {
				t.Errorf("hop line fields %v: want every packet answered", h.fields)
			}
			if _, ok := h.fields["average_response_ms"]; !ok {
				t.Errorf("hop line without RTT: %v", h.fields)
			}
		}
	}
	if reports < n || len(ids) != 1 {
		t.Errorf("%d reports of 127.0.0.1 with path ids %v, want at least %d with one id", reports, ids, n)
	}
}
