package core

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// fakeDNS answers each name as the test sets it between rounds: "ok" with
// an address (the stand-in hping3 then answers), "nx" no such host, "fail"
// a server failure.
type fakeDNS struct {
	mu      sync.Mutex
	answers map[string]string
	ips     map[string]string
}

func newFakeDNS() *fakeDNS { return &fakeDNS{answers: map[string]string{}, ips: map[string]string{}} }

func (f *fakeDNS) set(answer string, names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range names {
		if _, ok := f.ips[n]; !ok {
			f.ips[n] = fmt.Sprintf("127.0.1.%d", len(f.ips)+1)
		}
		f.answers[n] = answer
	}
}

func (f *fakeDNS) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch f.answers[host] {
	case "ok":
		if network == "ip4" {
			return []netip.Addr{netip.MustParseAddr(f.ips[host])}, nil
		}
	case "fail":
		return nil, errors.New("server misbehaving")
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// failureRunner is a Runner over the given groups (group 0 ICMP, group 1
// TCP port 443) with the stand-in hping3 and the fake resolver, logging
// into the returned buffer.
func failureRunner(t *testing.T, dns *fakeDNS, groups ...[]string) (*Runner, *strings.Builder) {
	t.Helper()
	bin, _ := standIn(t, "0")
	s := config.DefaultSettings()
	s.HPing3, s.Count, s.Interval, s.Timeout, s.Concurrency = bin, 1, 10*time.Millisecond, 500*time.Millisecond, 8
	cfg := &config.Config{MaxPacketRate: 1000, Engine: config.EngineCLI}
	for i, targets := range groups {
		gs := s
		if i == 1 {
			gs.Protocol, gs.Port = config.TCP, 443
		}
		cfg.Groups = append(cfg.Groups, config.Group{Targets: targets, Settings: gs})
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	r := New(cfg, logger.New(&log, false))
	log.Reset() // the engine choice
	r.st.resolver = dns
	return r, &log
}

// runAndCheck runs a round and compares what it logged, line by line, and
// its failure count.
func runAndCheck(t *testing.T, ctx context.Context, r *Runner, log *strings.Builder, failures int, want ...string) Report {
	t.Helper()
	log.Reset()
	rd := r.Run(ctx)
	got := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
	if log.Len() == 0 {
		got = nil
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rd.Failures != failures {
		t.Errorf("%d failures, want %d", rd.Failures, failures)
	}
	return rd
}

// TestFailuresLoggedOnChange: a target's failure is logged when it starts,
// when its reason changes and when it ends, not in between; the metrics
// report every failure every round; a round a stop cut short changes
// nothing.
func TestFailuresLoggedOnChange(t *testing.T) {
	dns := newFakeDNS()
	dns.set("ok", "ok1", "ok2")
	dns.set("nx", "bad1", "dup")
	r, log := failureRunner(t, dns, []string{"ok1", "bad1", "dup", "ok2"}, []string{"dup"})
	ctx := context.Background()

	runAndCheck(t, ctx, r, log, 3,
		`E! target "bad1": "bad1" did not resolve: no such host`,
		`E! target "dup" (inputs.hping3[0], icmp): "dup" did not resolve: no such host`,
		`E! target "dup" (inputs.hping3[1], tcp port 443): "dup" did not resolve: no such host`)
	rd := runAndCheck(t, ctx, r, log, 3) // the same failures: nothing new to say
	for i, code := range []probe.Code{probe.OK, probe.NoSuchHost, probe.NoSuchHost, probe.OK, probe.NoSuchHost} {
		if rd.Results[i].Code != code {
			t.Errorf("round 2, result %d (%s): code %d, want %d (%v)", i, rd.Results[i].Target, rd.Results[i].Code, code, rd.Results[i].Err)
		}
	}

	// A stopped round: every probe says "cancelled", which is no news.
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	runAndCheck(t, stopped, r, log, 5)

	dns.set("fail", "bad1")
	dns.set("nx", "ok2")
	runAndCheck(t, ctx, r, log, 4,
		`E! target "ok2": "ok2" did not resolve: no such host`,
		`E! target "bad1": resolving "bad1": server misbehaving (the reason changed; until now: "bad1" did not resolve: no such host)`)

	dns.set("ok", "bad1", "ok2")
	runAndCheck(t, ctx, r, log, 2,
		`I! target "bad1" works again (failed rounds in a row: 3; the last reason: resolving "bad1": server misbehaving)`,
		`I! target "ok2" works again (failed rounds in a row: 1; the last reason: "ok2" did not resolve: no such host)`)
	runAndCheck(t, ctx, r, log, 2)
}

// each formats one expected line per target tNN, from..to, with the name
// as every argument.
func each(from, to int, format string) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf(format, fmt.Sprintf("t%02d", i)))
	}
	return out
}

// TestFailureBursts: 50 targets failing, 22 changing reason and 50
// recovering in the same round each give ten lines and a summary.
func TestFailureBursts(t *testing.T) {
	dns := newFakeDNS()
	var names []string
	for i := 1; i <= 50; i++ {
		names = append(names, fmt.Sprintf("t%02d", i))
	}
	first, rest := names[:22], names[22:]
	dns.set("fail", first...)
	dns.set("nx", rest...)
	r, log := failureRunner(t, dns, names)
	ctx := context.Background()

	// The 22 server failures come first, but the 28 missing names are the
	// most common reason.
	runAndCheck(t, ctx, r, log, 50, append(each(1, 10, `E! target "%[1]s": resolving "%[1]s": server misbehaving`),
		`E! 50 targets started failing in this round (the first 10 are logged above); the most common reason, for 28 of them, is that of target "t23": "t23" did not resolve: no such host`)...)

	dns.set("nx", first...)
	runAndCheck(t, ctx, r, log, 50, append(each(1, 10, `E! target "%[1]s": "%[1]s" did not resolve: no such host (the reason changed; until now: resolving "%[1]s": server misbehaving)`),
		`E! 22 failing targets changed reason in this round (the first 10 are logged above); the most common new reason, for 22 of them, is that of target "t01": "t01" did not resolve: no such host`)...)

	dns.set("ok", names...)
	runAndCheck(t, ctx, r, log, 0, append(each(1, 10, `I! target "%[1]s" works again (failed rounds in a row: 2; the last reason: "%[1]s" did not resolve: no such host)`),
		`I! 50 targets recovered in this round (the first 10 are logged above)`)...)
}

// TestFailureBurstLimit: up to 20 changes of a kind in a round are logged
// one by one; from 21 on, ten and a summary.
func TestFailureBurstLimit(t *testing.T) {
	for _, c := range []struct{ n, lines int }{{20, 20}, {21, 11}} {
		var buf strings.Builder
		jobs := make([]job, c.n)
		results := make([]probe.Result, c.n)
		for i := range jobs {
			jobs[i] = job{target: fmt.Sprintf("h%d", i)}
			results[i] = probe.Result{Target: jobs[i].target, Code: probe.Failed, Err: errors.New("hping3 was killed by signal killed")}
		}
		cfg := &config.Config{Groups: []config.Group{{Settings: config.DefaultSettings()}}}
		f := newFailureLog(logger.New(&buf, false), cfg, jobs)
		f.record(results)
		lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		if len(lines) != c.lines {
			t.Errorf("%d targets starting to fail: %d lines, want %d:\n%s", c.n, len(lines), c.lines, buf.String())
		}
		if c.n == 21 && lines[10] != `E! 21 targets started failing in this round (the first 10 are logged above); the most common reason, for 21 of them, is that of target "h0": hping3 was killed by signal killed` {
			t.Errorf("summary %q", lines[10])
		}
	}
}

// TestFailureBurstTie: of two reasons equally common, the summary gives the
// one met first in configuration order.
func TestFailureBurstTie(t *testing.T) {
	var buf strings.Builder
	jobs := make([]job, 22)
	results := make([]probe.Result, 22)
	for i := range jobs {
		jobs[i] = job{target: fmt.Sprintf("h%d", i)}
		err := errors.New("hping3 was killed by signal killed")
		if i%2 == 1 {
			err = fmt.Errorf("%q did not resolve: no such host", jobs[i].target)
		}
		results[i] = probe.Result{Target: jobs[i].target, Code: probe.Failed, Err: err}
	}
	cfg := &config.Config{Groups: []config.Group{{Settings: config.DefaultSettings()}}}
	newFailureLog(logger.New(&buf, false), cfg, jobs).record(results)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if want := `E! 22 targets started failing in this round (the first 10 are logged above); the most common reason, for 11 of them, is that of target "h0": hping3 was killed by signal killed`; len(lines) != 11 || lines[10] != want {
		t.Errorf("logged:\n%s\nwant 10 lines and then %q", buf.String(), want)
	}
}
