package hardening

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// tclConfig probes ten loopback addresses with the Tcl engine run by bin:
// 10 packets 100 ms apart, so a round is surely sending when a test acts.
func tclConfig(t testing.TB, bin string) *config.Config {
	t.Helper()
	s := config.DefaultSettings()
	s.Count, s.Interval, s.Timeout, s.HPing3 = 10, 100*time.Millisecond, 500*time.Millisecond, bin
	var targets []string
	for i := 1; i <= 10; i++ {
		targets = append(targets, fmt.Sprintf("127.0.0.%d", i))
	}
	cfg := &config.Config{MaxPacketRate: config.DefaultMaxPacketRate, Engine: config.EngineTcl,
		Groups: []config.Group{{Targets: targets, Settings: s}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// enginePid waits for the Tcl engine (`hping3 exec /dev/fd/3`) that parent
// started and returns its pid.
func enginePid(t testing.TB, parent int, limit time.Duration) int {
	t.Helper()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, pid := range childrenOf(parent) {
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			if strings.Contains(string(b), "exec\x00/dev/fd/3") && alive(pid) {
				return pid
			}
		}
	}
	t.Fatalf("no hping3 exec child of %d after %v", parent, limit)
	return 0
}

// every checks that all results have code and an error containing msg.
func every(t *testing.T, rd core.Report, code probe.Code, msg string) {
	t.Helper()
	for _, r := range rd.Results {
		if r.Code != code || (msg != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), msg))) {
			t.Errorf("%s: code %d, err %v; want code %d and %q", r.Target, r.Code, r.Err, code, msg)
		}
	}
}

// allReceived checks a lossless loopback round of the tclConfig.
func allReceived(t *testing.T, rd core.Report) {
	t.Helper()
	for _, r := range rd.Results {
		if r.Code != probe.OK || r.Transmitted != 10 || r.Received != 10 {
			t.Errorf("%s: code %d (%v), %d/%d received; want 10/10", r.Target, r.Code, r.Err, r.Received, r.Transmitted)
		}
	}
}

// TestTclEngineKilledOrStopped: the real engine SIGKILLed or SIGSTOPped in
// the middle of a round costs that round only: its unfinished targets get
// result_code 2 with the reason, the round ends within a second of the
// fault, nothing is left running, and the next round (a fresh engine) is
// whole.
func TestTclEngineKilledOrStopped(t *testing.T) {
	testbin.RequireRoot(t)
	bin := testbin.RequireTool(t, "hping3")
	for _, c := range []struct {
		sig   syscall.Signal
		msg   string
		limit time.Duration // from the fault to the round's end
	}{
		{syscall.SIGKILL, "the hping3 engine stopped (signal: killed)", 300 * time.Millisecond},
		// A stopped engine answers nothing: after one second without a
		// send record it is declared hung and killed.
		{syscall.SIGSTOP, "the hping3 engine stopped answering", 1500 * time.Millisecond},
	} {
		t.Run(c.sig.String(), func(t *testing.T) {
			before := take()
			cfg := tclConfig(t, bin)
			runner := core.New(cfg, nil)
			done := make(chan core.Report, 1)
			go func() { done <- runner.Run(context.Background()) }()
			pid := enginePid(t, os.Getpid(), 2*time.Second)
			time.Sleep(300 * time.Millisecond) // a few packets out, most to come
			syscall.Kill(pid, c.sig)
			fault := time.Now()
			var rd core.Report
			select {
			case rd = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the round did not end after the engine fault")
			}
			if took := time.Since(fault); took > c.limit {
				t.Errorf("round ended %v after the fault, want within %v", took, c.limit)
			}
			every(t, rd, probe.Failed, c.msg)
			if !gone(pid, time.Second) {
				t.Errorf("engine %d still there after the round", pid)
			}
			allReceived(t, runner.Run(context.Background()))
			checkNoLeak(t, before, 0)
		})
	}
}

// TestTclEngineStandIns: an engine that is not the real one (it prints
// garbage, floods, or is an hping3 without Tcl) costs the round only, with
// the reason on every target, and is killed with its process group.
func TestTclEngineStandIns(t *testing.T) {
	dir := testbin.OpenDir(t)
	const packet = "ip(ihl=0x5,ver=0x4,tos=0x00,totlen=28,id=1,fragoff=0,mf=0,df=0,rf=0,ttl=64,proto=1,cksum=0x0,saddr=127.0.0.9,daddr=127.0.0.1)+icmp(type=0,code=0,id=1,seq=1)"
	// Each stand-in writes its pid, says it is ready, opens the capture
	// if it is asked for one (as root the plugin captures itself and asks
	// for none: its first command is then a send), then misbehaves.
	prologue := "echo $$ >" + dir + "/PID\necho ready 1700000000000000\nread cmd; set -- $cmd; if [ \"$1\" = listen ]; then echo listening $2; fi\n"
	for _, c := range []struct {
		name, body, msg string
	}{
		{"garbage", "echo 'hping3 segfault: this is no record'\nsleep 30\n", "the hping3 engine printed garbage"},
		{"flood", "while :; do echo 'pkt lo 1700000000000001 " + packet + "'; done\n", "the hping3 engine flooded"},
		{"exits", "exit 3\n", "the hping3 engine stopped (exit status 3)"},
		{"silent", "sleep 30\n", "the hping3 engine stopped answering"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := take()
			pidFile := dir + "/" + c.name + ".pid"
			bin := script(t, dir, "hping3-"+c.name, strings.ReplaceAll(prologue, "PID", c.name+".pid")+c.body)
			start := time.Now()
			rd, _ := runRound(context.Background(), tclConfig(t, bin))
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("round took %v", took)
			}
			every(t, rd, probe.Failed, c.msg)
			if pid := readPID(t, pidFile, time.Second); !gone(pid, time.Second) {
				t.Errorf("stand-in %d still runs: %v", pid, groupMembers(pid))
			}
			checkNoLeak(t, before, 0)
		})
	}
}

// TestHPing3WithoutTcl: an hping3 that cannot run the engine (here a shell
// stand-in that answers like the CLI) makes engine = "auto" fall back to
// the CLI engine with its I! line, and measures, except a target whose
// timeout only the Tcl engine keeps, which fails saying why rather than
// count replies past 1s as lost; engine = "tcl" gives every target
// result_code 2 saying why.
func TestHPing3WithoutTcl(t *testing.T) {
	dir := testbin.OpenDir(t)
	bin, _ := recorder(t, dir)

	cfg := oneTarget(t, bin)
	rd, log := runRound(context.Background(), cfg)
	if !oneLineHasAll(log, "I! ", []string{"engine cli: one hping3 process per target, because " + bin + " cannot run the Tcl engine", "is not an ELF program"}) {
		t.Errorf("auto: no I! line for the fallback:\n%s", log)
	}
	if r := rd.Results[0]; r.Code != probe.OK || r.Received != 2 || rd.Processes != 1 {
		t.Errorf("auto: %+v, %d processes; want 2 received by one CLI hping3", r, rd.Processes)
	}

	cfg = oneTarget(t, bin)
	cfg.Groups[0].Settings.Timeout = 3 * time.Second
	if rd, _ = runRound(context.Background(), cfg); rd.Processes != 0 {
		t.Errorf("auto, timeout 3s: %d hping3 processes, want none", rd.Processes)
	}
	every(t, rd, probe.Failed, "a timeout over 1s needs the tcl engine (the CLI hping3 stops listening 1s after its last packet), and "+bin+" has no Tcl API (engine auto fell back to cli)")

	cfg = oneTarget(t, bin)
	cfg.Engine = config.EngineTcl
	rd, log = runRound(context.Background(), cfg)
	if !oneLineHasAll(log, "I! ", []string{"engine tcl: one " + bin + " exec process", `engine = "tcl"`}) {
		t.Errorf("tcl: no I! line:\n%s", log)
	}
	every(t, rd, probe.Failed, "starting the hping3 engine ("+bin+" exec): hping3 exec did not start the engine script: first line \"HPING ")
}

// TestHPing3DiesWithThePlugin: whatever kills the plugin, its hping3
// processes go too, with either engine (a parent-death signal; the Tcl
// engine also exits when its input closes). The target is silent, so hping3
// prints nothing and no broken pipe would end it: 50 packets 100 ms apart,
// surely running when the plugin is SIGKILLed.
func TestHPing3DiesWithThePlugin(t *testing.T) {
	l := netlab.New(t)
	testbin.RequireTool(t, "hping3")
	target := netlab.Target(5)
	if _, err := l.Silent(target); err != nil {
		t.Fatal(err)
	}
	for _, engine := range []string{"cli", "tcl"} {
		t.Run(engine, func(t *testing.T) {
			var stderr strings.Builder
			cmd := l.Command(context.Background(), testbin.Plugin(t), "--once", "--engine", engine, "--target", target.String(), "--count", "50", "--interval", "100ms")
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var kids []int
			for deadline := time.Now().Add(3 * time.Second); len(kids) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				for _, pid := range childrenOf(cmd.Process.Pid) {
					if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); strings.TrimSpace(string(b)) == "hping3" {
						kids = append(kids, pid)
					}
				}
			}
			if len(kids) == 0 {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("no hping3 child of the plugin; stderr:\n%s", stderr.String())
			}
			time.Sleep(200 * time.Millisecond)
			cmd.Process.Kill()
			cmd.Wait()
			for _, pid := range kids {
				if !gone(pid, time.Second) {
					t.Errorf("hping3 %d outlived the SIGKILLed plugin: %v", pid, groupMembers(pid))
					syscall.Kill(-pid, syscall.SIGKILL)
				}
			}
		})
	}
}
