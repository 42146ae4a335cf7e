package core

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// These tests run the continuous mode's real Tcl engine against loopback.

// streamOf starts a Stream on one group of targets.
func streamOf(t *testing.T, targets []string, f func(*config.Settings)) *Stream {
	t.Helper()
	requireHping3(t)
	s := config.DefaultSettings()
	s.Interval, s.Timeout = 50*time.Millisecond, 200*time.Millisecond
	f(&s)
	cfg := &config.Config{MaxPacketRate: 1000, Engine: config.EngineTcl, Mode: config.ModeContinuous,
		Groups: []config.Group{{Targets: targets, Settings: s}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	src := NewSource(cfg, logger.Discard())
	st, ok := src.(*Stream)
	if !ok {
		t.Fatalf("NewSource in mode continuous gave a %T", src)
	}
	t.Cleanup(st.Close)
	return st
}

// TestStreamWindowsPartitionPackets: over windows of unequal lengths every
// packet is counted once: the windows' sums match the time probed at one
// packet per 50 ms, each window holds what its length allows, and every
// packet to loopback is answered.
func TestStreamWindowsPartitionPackets(t *testing.T) {
	st := streamOf(t, []string{"127.0.0.1"}, func(*config.Settings) {})
	first := st.Next(context.Background()) // waits for the first packets
	begin := first.Start
	total := first.Results[0].Transmitted
	for _, d := range []time.Duration{300 * time.Millisecond, 1200 * time.Millisecond, 700 * time.Millisecond} {
		time.Sleep(d)
		rd := st.Next(context.Background())
		r := rd.Results[0]
		if !rd.Window || r.Code != probe.OK {
			t.Fatalf("window: %+v (err %v)", rd, r.Err)
		}
		// A window of length d decides d / 50 ms packets, give or take
		// one at each edge.
		want := int(rd.Duration / (50 * time.Millisecond))
		if r.Transmitted < want-2 || r.Transmitted > want+2 || r.Received != r.Transmitted || r.Loss != 0 {
			t.Errorf("window of %v: %d sent, %d received; want %d +/- 2, all received", rd.Duration, r.Transmitted, r.Received, want)
		}
		if r.RTT == nil || r.RTT.Max > 50 || len(r.RTT.Samples) != r.Received {
			t.Errorf("window of %v: RTT %+v", rd.Duration, r.RTT)
		}
		if rd.Packets != r.Transmitted {
			t.Errorf("Packets %d, the result says %d", rd.Packets, r.Transmitted)
		}
		total += r.Transmitted
	}
	// Every packet decided until now (sent until 200 ms + grace ago).
	elapsed := time.Since(begin) - 220*time.Millisecond
	if want := int(elapsed / (50 * time.Millisecond)); total < want-2 || total > want+2 {
		t.Errorf("%d packets over %v, want %d +/- 2", total, elapsed, want)
	}
}

// TestStreamPortStates: TCP SYNs and UDP datagrams to a loopback port
// nobody listens on: every packet is answered (RST, port unreachable) and
// the port reads closed.
func TestStreamPortStates(t *testing.T) {
	for _, proto := range []config.Protocol{config.TCP, config.UDP} {
		t.Run(string(proto), func(t *testing.T) {
			port := testbin.ClosedPort(t, proto == config.UDP)
			st := streamOf(t, []string{"127.0.0.1"}, func(s *config.Settings) { s.Protocol, s.Port = proto, port })
			st.Next(context.Background())
			time.Sleep(time.Second)
			r := st.Next(context.Background()).Results[0]
			if r.Code != probe.OK || r.Transmitted < 17 || r.Transmitted > 23 || r.Received != r.Transmitted || r.PortState != probe.PortClosed {
				t.Errorf("%s to closed port %d: %+v (err %v); want about 20 sent, all answered, closed", proto, port, r, r.Err)
			}
		})
	}
}

// TestStreamEngineKilled: SIGKILL to the engine mid-window. That window
// fails with the reason and counts one restart; the engine is back within a
// second and the window after is complete again.
func TestStreamEngineKilled(t *testing.T) {
	st := streamOf(t, []string{"127.0.0.1"}, func(*config.Settings) {})
	st.Next(context.Background())
	time.Sleep(300 * time.Millisecond)
	pid := engineChild(t)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	rd := st.Next(context.Background())
	r := rd.Results[0]
	if rd.Restarts != 1 || r.Code != probe.Failed || r.Err == nil || !strings.Contains(r.Err.Error(), "packets in flight are not counted") {
		t.Fatalf("window with the kill: restarts %d, code %d, err %v", rd.Restarts, r.Code, r.Err)
	}
	time.Sleep(time.Second)
	rd = st.Next(context.Background())
	r = rd.Results[0]
	if want := int(rd.Duration / (50 * time.Millisecond)); rd.Restarts != 0 || r.Code != probe.OK || r.Transmitted < want-2 || r.Received != r.Transmitted {
		t.Fatalf("window after: restarts %d, %+v (err %v); want %d +/- 2 sent, all received", rd.Restarts, r, r.Err, want)
	}
	if pid2 := engineChild(t); pid2 == pid {
		t.Errorf("engine pid %d unchanged", pid)
	}
}

// engineChild returns the pid of this process's hping3 child.
func engineChild(t *testing.T) int {
	t.Helper()
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, p := range strings.Fields(string(b)) {
			comm, _ := os.ReadFile("/proc/" + p + "/comm")
			if strings.TrimSpace(string(comm)) == "hping3" {
				pid, _ := strconv.Atoi(p)
				return pid
			}
		}
	}
	t.Fatal("no hping3 child")
	return 0
}
