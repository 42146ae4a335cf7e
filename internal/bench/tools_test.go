package bench

import (
	"context"
	"net/netip"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

func TestParseFping(t *testing.T) {
	// fping 5.1 -C 3 -q on stderr: times in ms, "-" for a lost packet;
	// other lines (errors, ICMP notes) are not per-target results.
	out := "198.19.0.1 : 0.066 0.053 0.070\n" +
		"198.19.0.2 : 0.023 - 0.018\n" +
		"198.19.0.3 : - - -\n" +
		"ICMP Host Unreachable from 198.18.0.2 for ICMP Echo sent to 198.19.0.9\n" +
		"198.19.0.4 : 0.1 0.2\n"
	got := ParseFping(out, 3)
	want := map[string]int{"198.19.0.1": 3, "198.19.0.2": 2, "198.19.0.3": 0}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestParseTelegraf(t *testing.T) {
	out := "ping,url=198.19.0.1 average_response_ms=0.05,maximum_response_ms=0.06,minimum_response_ms=0.04,packets_received=3i,packets_transmitted=3i,percent_packet_loss=0,result_code=0i,standard_deviation_ms=0.01,ttl=64i 1700000000000000000\n" +
		"ping,url=198.19.0.2 packets_received=1i,packets_transmitted=3i,percent_packet_loss=66.66666666666667,result_code=0i 1700000000000000000\n" +
		"other,url=198.19.0.3 packets_received=3i 1\n"
	got := ParseTelegraf(out)
	want := map[string]int{"198.19.0.1": 3, "198.19.0.2": 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestCountLoss(t *testing.T) {
	var s Sample
	s.countLoss([]string{"a", "b", "c"}, map[string]int{"a": 3, "b": 2}, 3)
	if s.FalseLoss != 2 || !reflect.DeepEqual(s.Lossy, []string{"b: 2/3 received", "c: 0/3 received"}) {
		t.Errorf("false loss %d, lossy %q", s.FalseLoss, s.Lossy)
	}
}

func TestTargets(t *testing.T) {
	got := Targets(1022)
	if len(got) != 1022 || got[0] != "198.19.0.1" || got[255] != "198.19.1.0" || got[1021] != "198.19.3.254" {
		t.Errorf("targets: %d, first %s, 256th %s, last %s", len(got), got[0], got[255], got[len(got)-1])
	}
	// The lab answers a /18: runs of 10,000 fit.
	all := Targets(MaxTargets)
	if len(all) != 16382 || all[2999] != "198.19.11.184" || all[9999] != "198.19.39.16" || all[16381] != "198.19.63.254" || !TargetRange.Contains(netip.MustParseAddr(all[16381])) {
		t.Errorf("targets: %d, 3000th %s, last %s", len(all), all[2999], all[len(all)-1])
	}
}

func TestTelegrafConfig(t *testing.T) {
	c := TelegrafConfig([]string{"198.19.0.1", "198.19.0.2"}, Params{Count: 3, Interval: 200 * time.Millisecond})
	for _, want := range []string{`method = "native"`, "count = 3\n", "ping_interval = 0.2\n", `urls = ["198.19.0.1", "198.19.0.2"]`, "omit_hostname = true"} {
		if !strings.Contains(c, want) {
			t.Errorf("config lacks %q:\n%s", want, c)
		}
	}
}

// TestLabTools builds the lab and runs fping and Telegraf on five targets of
// the lossless path: each must report all 15 replies, and the client must
// have no route out of the lab.
func TestLabTools(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "ip")
	testbin.RequireTool(t, "fping")
	telegraf := testbin.Telegraf(t)
	lab, err := NewLab()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lab.Close)
	ctx := context.Background()

	// `ip route get` sends nothing: it asks the routing table.
	out, err := lab.Command(ctx, "ip", "route", "get", "192.0.2.1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unreachable") {
		t.Errorf("client has a route out of the lab: %q %v", out, err)
	}

	p := Params{Targets: 5, Count: 3, Interval: 50 * time.Millisecond}
	f, err := lab.RunFping(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if f.FalseLoss != 0 || f.Wall < 100*time.Millisecond || f.TotalCPU <= 0 || f.PeakRSS <= 0 {
		t.Errorf("fping: %+v", f)
	}
	tg, err := lab.RunTelegraf(ctx, telegraf, t.TempDir(), p)
	if err != nil {
		t.Fatal(err)
	}
	if tg.FalseLoss != 0 || tg.Wall < 100*time.Millisecond || tg.PeakRSS <= 0 {
		t.Errorf("telegraf: %+v", tg)
	}

	lab.Close()
	if err := exec.Command("ip", "netns", "pids", lab.Client).Run(); err == nil {
		t.Errorf("namespace %s still exists after Close", lab.Client)
	}
}
