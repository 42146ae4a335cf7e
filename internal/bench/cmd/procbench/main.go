// Command procbench measures the plugin as whole processes, the real binary
// as its users run it, against fping and Telegraf's inputs.ping on the same
// lab targets in the same run (`make bench-process`; needs root, ip, hping3
// and fping). Steady: the plugin in continuous mode for -duration, then
// `fping -l` for as long, whole-tree CPU against each other. Rounds: the
// plugin's --once, fping -C and Telegraf --once, wall time and CPU. The CPU
// of a tool is that of its whole process tree (internal/bench Tree: the
// plugin and every hping3 it ran).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/bench"
	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

func main() {
	var (
		bin      = flag.String("plugin", "./hping3-plugin", "the plugin binary (make bench-process builds it from the tree)")
		steadyN  = flag.String("steady", "1000,300", "target counts of the continuous runs (empty: none)")
		duration = flag.Duration("duration", 20*time.Second, "length of each continuous run, per tool")
		interval = flag.Duration("interval", time.Second, "continuous: time between one target's packets")
		report   = flag.Duration("report", 10*time.Second, "continuous: time between reports (Telegraf's interval; fping -Q)")
		roundsN  = flag.String("rounds", "300,1000", "target counts of the rounds (empty: none)")
		count    = flag.Int("count", 3, "rounds: packets per target")
		rInt     = flag.Duration("round-interval", 200*time.Millisecond, "rounds: time between one target's packets")
		telegraf = flag.String("telegraf", "", "Telegraf binary with inputs.ping (default: the cached test build of make tools)")
		repeat   = flag.Int("repeat", 1, "measure everything this many times, one table per run")
		rate     = flag.Int("rate", 0, "the plugin's max_packet_rate (0: its default, 1000)")
		tcp      = flag.String("steady-tcp", "", "target counts of continuous runs probing TCP (SYNs to a closed port) instead of ICMP, the plugin alone (fping has no TCP)")
		tgUpTo   = flag.Int("telegraf-upto", 3000, "rounds: run Telegraf only up to this many targets (its inputs.ping at 10,000 takes minutes)")
		dump     = flag.Bool("tcpdump", false, "rounds: capture the plugin's round on c0 with tcpdump and compare each target's average RTT with the capture's (tcpdump's CPU weighs on that round)")
	)
	flag.Parse()
	if err := run(*bin, bench.Ints(*steadyN), bench.Ints(*tcp), bench.Ints(*roundsN), *duration, *interval, *report, *count, *rInt, *telegraf, *repeat, *rate, *tgUpTo, *dump); err != nil {
		fmt.Fprintln(os.Stderr, "procbench:", err)
		os.Exit(1)
	}
}

func run(bin string, steadyN, tcpN, roundsN []int, duration, interval, report time.Duration, count int, rInt time.Duration, tg string, repeat, rate, tgUpTo int, dump bool) error {
	for _, tool := range []string{"fping", "hping3"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := os.Stat("/usr/sbin/" + tool); err != nil {
				return fmt.Errorf("%s is missing: apt-get install %s", tool, tool)
			}
		}
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("the plugin binary: %v (make build)", err)
	}
	for _, n := range append(append(append([]int(nil), steadyN...), tcpN...), roundsN...) {
		if n < 1 || n > bench.MaxTargets {
			return fmt.Errorf("%d targets: the lab answers 1 to %d addresses", n, bench.MaxTargets)
		}
	}
	if len(roundsN) > 0 {
		if tg, err = telegrafBinary(tg); err != nil {
			return err
		}
	}
	if err := bench.Subreaper(); err != nil {
		return fmt.Errorf("becoming a child subreaper: %v", err)
	}
	lab, dir, done, err := bench.OpenLab("procbench")
	if err != nil {
		return err
	}
	defer done()
	ctx := context.Background()

	version, _ := exec.Command(abs, "--version").Output()
	fmt.Printf("Machine: %s. Plugin: %s, tree at %s; its --version: %s.\n", bench.Machine(), abs, gitState(),
		strings.Join(strings.Split(strings.TrimSpace(string(version)), "\n"), "; "))
	fmt.Printf("Lossless lab path (veth between two namespaces), ICMP. Whole processes, each tool right after the plugin on the same targets;\n")
	fmt.Printf("CPU = user + system time of the tool's whole process tree (the plugin and its hping3), from wait4 with this bench as child subreaper.\n")

	for r := 1; r <= repeat; r++ {
		fmt.Printf("\nRun %d of %d, %s, load average %s at its start.\n", r, repeat, time.Now().UTC().Format("2006-01-02 15:04 UTC"), bench.LoadAverage())
		if len(steadyN)+len(tcpN) > 0 {
			var rows []bench.SteadyRow
			for _, n := range steadyN {
				p := bench.Steady{Targets: n, Interval: interval, Duration: duration, Report: report, MaxPacketRate: rate}
				pl, err := lab.RunSteadyPlugin(ctx, abs, dir, p)
				if err != nil {
					return err
				}
				fp, err := lab.RunSteadyFping(ctx, p)
				if err != nil {
					return err
				}
				rows = append(rows, bench.SteadyRow{P: p, Tools: []bench.ProcSample{pl, fp}})
				fmt.Fprintf(os.Stderr, "  steady, %d targets measured (plugin engine %s)\n", n, pl.Engine)
			}
			for _, n := range tcpN {
				p := bench.Steady{Targets: n, Interval: interval, Duration: duration, Report: report, MaxPacketRate: rate, TCP: true}
				pl, err := lab.RunSteadyPlugin(ctx, abs, dir, p)
				if err != nil {
					return err
				}
				rows = append(rows, bench.SteadyRow{P: p, Tools: []bench.ProcSample{pl}})
				fmt.Fprintf(os.Stderr, "  steady tcp, %d targets measured\n", n)
			}
			fmt.Printf("\nSteady: continuous mode (one packet per target every %v, a report every %v) for %v per tool, against fping -l;\n", interval, report, duration)
			fmt.Printf("CPU/s = CPU over the run's wall time, in %% of one core; CPU/packet = CPU/s over the packet rate; plugin alone = the plugin process without hping3 (/proc, 10 ms ticks);\n")
			fmt.Printf("plugin/tool CPU = the two CPU/s figures over each other. Load average now %s.\n", bench.LoadAverage())
			bench.WriteSteady(os.Stdout, rows)
		}
		if len(roundsN) > 0 {
			var rows []bench.ProcRow
			for _, n := range roundsN {
				p := bench.Params{Targets: n, Count: count, Interval: rInt, MaxPacketRate: rate, Tcpdump: dump}
				pl, err := lab.RunPluginOnce(ctx, abs, dir, p)
				if err != nil {
					return err
				}
				fp, err := lab.RunFping(ctx, p, "-i", "1")
				if err != nil {
					return err
				}
				pl.Tool += " (" + string(pl.Engine) + ")"
				tools := []bench.ProcSample{pl, bench.FromSample(fp)}
				if n <= tgUpTo {
					t, err := lab.RunTelegraf(ctx, tg, dir, p)
					if err != nil {
						return err
					}
					tools = append(tools, bench.FromSample(t))
				}
				rows = append(rows, bench.ProcRow{P: p, Tools: tools})
				fmt.Fprintf(os.Stderr, "  rounds, %d targets measured\n", n)
			}
			fmt.Printf("\nRounds: one round of count %d, interval %v, each tool a whole process (wall = its start to its exit, start-up included).\n", count, rInt)
			fmt.Printf("Load average now %s.\n", bench.LoadAverage())
			bench.WriteProcRounds(os.Stdout, rows)
			for _, row := range rows {
				for _, s := range row.Tools {
					bench.WriteProcLossy(os.Stdout, fmt.Sprintf("%d targets", row.P.Targets), s)
					if s.Wire != nil {
						fmt.Printf("  %d targets: %v\n", row.P.Targets, s.Wire)
					}
				}
			}
		}
	}
	return nil
}

// gitState is the tree's commit, "+dirty" when it has changes.
func gitState() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty=+dirty").Output()
	if err != nil {
		return "commit unknown"
	}
	return "commit " + strings.TrimSpace(string(out))
}

// telegrafBinary returns the Telegraf make tools caches.
func telegrafBinary(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	bin := filepath.Join(testbin.ToolsDir(), "telegraf-"+strings.TrimPrefix(testbin.TelegrafVersion, "v"), "telegraf")
	if st, err := os.Stat(bin); err == nil && st.Mode()&0o111 != 0 {
		return bin, nil
	}
	return "", fmt.Errorf("no Telegraf at %s: run make tools, or give -telegraf", bin)
}
