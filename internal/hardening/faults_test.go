package hardening

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// Stand-in timing: 2 packets 10ms apart and a 100ms timeout. The core
// kills a hping3 that outlives its schedule (hping3.NewPlan): the 200ms
// start-up allowance, the 10ms of sending plus a quarter for drift,
// hping3's own 1s wait and a 2s grace for its statistics, 3.2125s in all.
// Worked by hand here, not read back from the message under test.
const (
	faultKill   = 3212500 * time.Microsecond
	faultMargin = 1500 * time.Millisecond
	killedMsg   = "hping3 did not finish within 3.213s and was killed"
)

// oneTarget returns a validated configuration probing 127.0.0.1 with bin.
func oneTarget(t testing.TB, bin string, targets ...string) *config.Config {
	t.Helper()
	s := config.DefaultSettings()
	s.Count, s.Interval, s.Timeout, s.HPing3 = 2, 10*time.Millisecond, 100*time.Millisecond, bin
	if len(targets) == 0 {
		targets = []string{"127.0.0.1"}
	}
	cfg := &config.Config{MaxPacketRate: config.DefaultMaxPacketRate, Groups: []config.Group{{Targets: targets, Settings: s}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runRound runs one round in process and returns it with the log it wrote.
func runRound(ctx context.Context, cfg *config.Config) (core.Report, string) {
	var log strings.Builder
	rd := core.New(cfg, logger.New(&log, false)).Run(ctx)
	return rd, log.String()
}

// TestHPing3Faults runs a round against stand-ins that misbehave the ways a
// broken or hostile hping3 could. Each gets result_code 2 (or its valid
// replies, no more), the round ends by its deadline, and no goroutine, file
// descriptor or process is left behind.
func TestHPing3Faults(t *testing.T) {
	dir := testbin.OpenDir(t)
	pidFile := filepath.Join(dir, "pid")
	// A stand-in's child that left its process group is beyond the
	// plugin's reach; the test ends it itself.
	escapedFile := filepath.Join(dir, "escaped")
	t.Cleanup(func() {
		if b, err := os.ReadFile(escapedFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	reply := func(seq int) string {
		return "echo 'len=28 ip=127.0.0.1 ttl=64 id=1 icmp_seq=" + string(rune('0'+seq)) + " rtt=1.0 ms'\n"
	}
	stats := `printf '\n--- 127.0.0.1 hping statistic ---\n2 packets transmitted, 2 packets received, 0%% packet loss\nround-trip min/avg/max = 1.0/1.0/1.0 ms\n' >&2` + "\n"
	cases := []struct {
		name      string
		body      string
		mode      os.FileMode
		code      probe.Code
		received  int
		msg       string
		minTook   time.Duration
		maxTook   time.Duration
		checksPID bool
	}{
		{name: "hangs ignoring SIGINT and SIGTERM", body: "trap '' INT TERM\necho $$ >" + pidFile + "\nwhile :; do sleep 1; done\n",
			code: probe.Failed, msg: killedMsg, checksPID: true},
		{name: "hangs in a child that ignores SIGINT", body: "echo $$ >" + pidFile + "\n(trap '' INT TERM; sleep 3600) &\nwait\n",
			code: probe.Failed, msg: "hping3 was killed by signal interrupt", maxTook: time.Second, checksPID: true},
		{name: "leaves a child outside its group holding the pipes", body: "setsid sh -c 'echo $$ >" + escapedFile + "; exec sleep 30' &\nwhile [ ! -s " + escapedFile + " ]; do sleep 0.01; done\n",
			code: probe.Failed, msg: "hping3 exited with status 0 without statistics: no output", minTook: 2 * time.Second, maxTook: 2*time.Second + faultMargin},
		{name: "killed mid-run", body: "echo $$ >" + pidFile + "\necho 'HPING 127.0.0.1 (lo 127.0.0.1): icmp mode set, 28 headers + 0 data bytes'\n" + reply(0) + "kill -9 $$\n",
			code: probe.Failed, msg: "hping3 was killed by signal killed", maxTook: time.Second, checksPID: true},
		{name: "garbage and truncated lines around valid replies", body: reply(0) +
			"printf 'len=28 ip=127.0.0.1 ttl=6\\n\\377\\376\\000garbage\\001\\nlen=28 ip=127.0.0.1 ttl=64 id=1 icmp_seq=1 rtt=\\nlen=x ip=y\\nrtt=1.0 ms\\n\\n\\n'\n" +
			"head -c 3000 /dev/urandom | tr -d '\\n'; echo\n" + reply(1) + "printf 'len=28 ip=127.0.0.1 ttl=64 id=1 icmp_seq=1'\n" + stats,
			code: probe.OK, received: 2, maxTook: time.Second},
		{name: "garbage only, exit 0", body: "printf 'hello\\n\\001\\002\\nlen=28 ip=1'\n", code: probe.Failed,
			msg: "hping3 exited with status 0 without statistics", maxTook: time.Second},
		{name: "exits non-zero without output", body: "exit 3\n", code: probe.Failed,
			msg: "hping3 exited with status 3 without statistics: no output", maxTook: time.Second},
		{name: "not executable", body: "exit 0\n", mode: 0o644, code: probe.Failed,
			msg: "is not an executable file: check the hping3 setting and its permissions (chmod +x)", maxTook: 100 * time.Millisecond},
		{name: "floods stdout and stderr without newlines or end", body: "trap '' INT TERM\necho $$ >" + pidFile + "\ntr '\\000' a </dev/zero >&2 &\ntr '\\000' a </dev/zero\n",
			code: probe.Failed, msg: killedMsg, checksPID: true},
		{name: "floods stdout with reply lines", body: "trap '' INT TERM\necho $$ >" + pidFile + "\nyes 'len=28 ip=127.0.0.1 ttl=64 id=1 icmp_seq=0 rtt=1.0 ms'\n",
			code: probe.Failed, msg: killedMsg, checksPID: true},
	}
	// Warm the runtime (signal handling, first exec) so the baseline is fair.
	runRound(context.Background(), oneTarget(t, script(t, dir, "warm", "exit 1\n")))
	before := take()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(pidFile)
			bin := script(t, dir, "hping3-"+string(rune('a'+i)), c.body)
			if c.mode != 0 {
				os.Chmod(bin, c.mode)
			}
			peak := watchHeap()
			rd, log := runRound(context.Background(), oneTarget(t, bin))
			grew := peak()
			r := rd.Results[0]
			if r.Code != c.code || r.Received != c.received || (c.msg != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), c.msg))) {
				t.Errorf("code %d received %d err %v; want code %d received %d and %q", r.Code, r.Received, r.Err, c.code, c.received, c.msg)
			}
			if c.code != probe.OK && !oneLineHasAll(log, `E! target "127.0.0.1": `, []string{c.msg}) {
				t.Errorf("log lacks the E! line: %q", log)
			}
			if c.msg == killedMsg {
				c.minTook, c.maxTook = faultKill, faultKill+faultMargin
			}
			if rd.Duration < c.minTook || rd.Duration > c.maxTook {
				t.Errorf("round took %v, want %v..%v", rd.Duration, c.minTook, c.maxTook)
			}
			t.Logf("round %v, heap growth %.1f MB", rd.Duration.Round(time.Millisecond), float64(grew)/(1<<20))
			if grew > 32<<20 {
				t.Errorf("heap grew by %d MB while hping3 ran", grew>>20)
			}
			if c.checksPID {
				pid := readPID(t, pidFile, time.Second)
				if !gone(pid, time.Second) {
					t.Errorf("stand-in %d or its group %v still running after the round", pid, groupMembers(pid))
				}
			}
		})
	}
	after := checkNoLeak(t, before, 0)
	t.Logf("goroutines %d -> %d, fds %d -> %d, children %d -> %d", before.goroutines, after.goroutines, before.fds, after.fds, len(before.children), len(after.children))
}

// TestRoundDeadlineKillsHangingHPing3: a round whose context ends (the
// front end's deadline or stop) returns at once and kills hping3.
func TestRoundDeadlineKillsHangingHPing3(t *testing.T) {
	dir := testbin.OpenDir(t)
	pidFile := filepath.Join(dir, "pid")
	bin := script(t, dir, "hping3", "trap '' INT TERM HUP\necho $$ >"+pidFile+"\nwhile :; do sleep 1; done\n")
	before := take()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	rd, _ := runRound(ctx, oneTarget(t, bin))
	if rd.Duration < 450*time.Millisecond || rd.Duration > time.Second {
		t.Errorf("round took %v with a 500ms deadline", rd.Duration)
	}
	r := rd.Results[0]
	if r.Code != probe.Failed || r.Err == nil || !strings.Contains(r.Err.Error(), "probe cancelled") {
		t.Errorf("result %+v", r)
	}
	if pid := readPID(t, pidFile, time.Second); !gone(pid, time.Second) {
		t.Errorf("hping3 stand-in %d still runs: %v", pid, groupMembers(pid))
	}
	checkNoLeak(t, before, 0)
}

// watchHeap samples the heap in use until the returned function is called,
// which reports the largest growth over the start.
func watchHeap() func() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var (
		mu   sync.Mutex
		peak uint64
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			mu.Lock()
			if m.HeapInuse > base && m.HeapInuse-base > peak {
				peak = m.HeapInuse - base
			}
			mu.Unlock()
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return peak
	}
}
