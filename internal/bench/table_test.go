package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// TestTables pins every column of the printed tables, ratios included: both
// engines of the plugin beside fping and Telegraf, a row the CLI engine was
// not measured at, and a row at other packets.
func TestTables(t *testing.T) {
	p := Params{Targets: 300, Count: 3, Interval: 200 * time.Millisecond}
	tcl := Sample{Tool: PluginTool(config.EngineTcl), Wall: 1000 * time.Millisecond, MaxRTT: 10 * time.Millisecond, SelfCPU: 100 * time.Millisecond,
		TotalCPU: 300 * time.Millisecond, PeakRSS: 12 * 1024, ChildRSS: 8 * 1024, Processes: 1, MeanProbe: 420 * time.Millisecond}
	cli := Sample{Tool: PluginTool(config.EngineCLI), Wall: 4500 * time.Millisecond, MaxRTT: 10 * time.Millisecond, SelfCPU: 200 * time.Millisecond,
		TotalCPU: 1500 * time.Millisecond, PeakRSS: 13 * 1024, ChildRSS: 4 * 1024, Processes: 300, MeanProbe: 444 * time.Millisecond}
	row := Row{P: p,
		Plugin:   []Sample{tcl, cli},
		Fping:    []Sample{{Tool: "fping", Wall: 900 * time.Millisecond, SelfCPU: 30 * time.Millisecond, TotalCPU: 30 * time.Millisecond, PeakRSS: 6 * 1024}},
		Telegraf: &Sample{Tool: "telegraf", Wall: 500 * time.Millisecond, FalseLoss: 2, SelfCPU: 150 * time.Millisecond, TotalCPU: 150 * time.Millisecond, PeakRSS: 30 * 1024},
	}
	big := Row{P: Params{Targets: 1000, Count: 5, Interval: time.Second},
		Plugin: []Sample{{Tool: PluginTool(config.EngineTcl), Wall: 5100 * time.Millisecond, MaxRTT: 20 * time.Millisecond, SelfCPU: 400 * time.Millisecond,
			TotalCPU: 1000 * time.Millisecond, PeakRSS: 20 * 1024, ChildRSS: 10 * 1024, Processes: 1, MeanProbe: 4500 * time.Millisecond}},
		Fping: []Sample{{Tool: "fping", Wall: 5000 * time.Millisecond, SelfCPU: 100 * time.Millisecond, TotalCPU: 100 * time.Millisecond, PeakRSS: 7 * 1024}},
	}
	rows := []Row{row, big}
	var b strings.Builder
	WritePlugin(&b, rows)
	WriteOthers(&b, rows)
	WriteSweep(&b, []Params{{Concurrency: 32, Interval: p.Interval}}, []Sample{cli})
	got := strings.Join(strings.Fields(b.String()), " ")
	for _, want := range []string{
		// floor: max(400 ms, 900 packets / 1000/s) + 10 ms
		"300 3 x 200ms tcl 1000 ms 410 ms 910 ms 1.10 0 100 ms 300 ms 12.0 MiB 8.0 MiB 1 420 ms",
		"300 3 x 200ms cli 4500 ms 410 ms 910 ms 4.95 0 200 ms 1500 ms 13.0 MiB 4.0 MiB 300 444 ms",
		"1000 5 x 1s tcl 5100 ms 4020 ms 5020 ms 1.02 0 400 ms 1000 ms 20.0 MiB 10.0 MiB 1 4500 ms",
		"300 3 x 200ms hping3-plugin tcl 1000 ms 0 100 ms 300 ms 12.0 MiB 1.00 1.00 4.50 5.00",
		"300 3 x 200ms hping3-plugin cli 4500 ms 0 200 ms 1500 ms 13.0 MiB 0.22 0.20 1.00 1.00",
		"300 3 x 200ms fping 900 ms 0 30 ms 30 ms 6.0 MiB 1.11 10.00 5.00 50.00",
		"300 3 x 200ms telegraf 500 ms 2 150 ms 150 ms 30.0 MiB 2.00 2.00 9.00 10.00",
		"1000 5 x 1s fping 5000 ms 0 100 ms 100 ms 7.0 MiB 1.02 10.00 - -",
		"32 default 200ms 4500 ms 0 200 ms 1500 ms",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("tables lack %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(got, "1000 5 x 1s cli") || strings.Contains(got, "1000 5 x 1s telegraf") {
		t.Errorf("tables print a tool that was not measured:\n%s", b.String())
	}
}

func TestEngineOf(t *testing.T) {
	for log, want := range map[string]config.Engine{
		"I! engine tcl: one /usr/sbin/hping3 exec process probes every target of a round (engine = \"tcl\")\n":                                                               config.EngineTcl,
		"W! target \"x\" is listed twice in the same group; probing it once\nI! engine cli: one hping3 process per target (engine = \"cli\"), at most concurrency at once\n": config.EngineCLI,
	} {
		if got, err := EngineOf(log); err != nil || got != want {
			t.Errorf("EngineOf(%q) = %q, %v; want %q", log, got, err, want)
		}
	}
	if got, err := EngineOf("I! something else\n"); err == nil {
		t.Errorf("EngineOf without an engine line = %q, want an error", got)
	}
}
