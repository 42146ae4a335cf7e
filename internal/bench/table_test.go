package bench

import (
	"strings"
	"testing"
	"time"
)

// TestTables pins every column of the printed tables, ratios included.
func TestTables(t *testing.T) {
	p := Params{Targets: 300, Count: 3, Interval: 200 * time.Millisecond}
	row := Row{P: p,
		Plugin: Sample{Tool: "hping3-plugin", Wall: 4500 * time.Millisecond, MaxRTT: 10 * time.Millisecond, SelfCPU: 200 * time.Millisecond,
			TotalCPU: 1500 * time.Millisecond, PeakRSS: 13 * 1024, Processes: 300, MeanProbe: 444 * time.Millisecond},
		Fping:    []Sample{{Tool: "fping", Wall: 900 * time.Millisecond, TotalCPU: 30 * time.Millisecond, PeakRSS: 6 * 1024}},
		Telegraf: &Sample{Tool: "telegraf", Wall: 500 * time.Millisecond, FalseLoss: 2, TotalCPU: 150 * time.Millisecond, PeakRSS: 30 * 1024},
	}
	var b strings.Builder
	WritePlugin(&b, []Row{row})
	WriteOthers(&b, []Row{row})
	WriteSweep(&b, []Params{{Concurrency: 32, Interval: p.Interval}}, []Sample{row.Plugin})
	got := strings.Fields(b.String())
	for _, want := range []string{
		"300 4500 ms 410 ms 10.98 0 200 ms 13.0 MiB 1500 ms 300 444 ms",
		"300 fping 900 ms 0 30 ms 6.0 MiB 5.00 50.00",
		"300 telegraf 500 ms 2 150 ms 30.0 MiB 9.00 10.00",
		"32 default 200ms 4500 ms 0 200 ms 1500 ms",
	} {
		if !strings.Contains(strings.Join(got, " "), want) {
			t.Errorf("tables lack %q:\n%s", want, b.String())
		}
	}
}
