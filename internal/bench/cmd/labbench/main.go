// Command labbench measures rounds of the plugin against fping and Telegraf's
// inputs.ping in an isolated namespace lab (`make bench`; needs root). With
// -worker it is the process that runs one round inside the client namespace,
// so that its CPU and memory figures are that round's alone.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/bench"
	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
)

func main() {
	var (
		worker   = flag.Bool("worker", false, "run one plugin round here (inside the client namespace) and print it as JSON")
		ns       = flag.String("n", "1,10,100,300,1000,3000", "target counts of the main table")
		count    = flag.Int("count", 3, "packets per target")
		interval = flag.Duration("interval", 200*time.Millisecond, "between packets to one target")
		conc     = flag.Int("concurrency", 0, "hping3 processes at once, CLI engine (0: the plugin's default)")
		rate     = flag.Int("max-packet-rate", 0, "packets/s over all probes (0: the plugin's default)")
		engine   = flag.String("engine", "", "worker: the plugin's engine (tcl, cli; empty: the plugin's default)")
		engines  = flag.String("engines", "tcl,cli", "the plugin's engines measured beside each other in the main table")
		cliMax   = flag.Int("cli-max", 1000, "largest target count the CLI engine is measured at (1000 targets take it 14 s)")
		plainF   = flag.Bool("fping-plain", false, "also run fping with its default 10 ms between packets (30 s at 1000 targets)")
		defN     = flag.Int("defaults-n", 1000, "targets of one more round at the plugin's default count and interval, Tcl engine and fping -i 1 (0: none)")
		sweep    = flag.String("sweep", "16,32,64", "CLI engine concurrency values to sweep at -sweep-n targets, each CONC[/MAX_PACKET_RATE][@INTERVAL] (empty: no sweep; 8 takes 17 s)")
		sweepN   = flag.Int("sweep-n", 300, "target count of the concurrency sweep")
		busy     = flag.Int("busy", 0, "CPU-bound loops to run beside the sweep, standing in for a host busy with other work")
		telegraf = flag.String("telegraf", "", "Telegraf binary with inputs.ping (default: the cached test build; built when missing)")
		profile  = flag.String("cpuprofile", "", "worker: write its CPU profile to this file; main: write one per plugin round into this directory")
	)
	flag.Parse()
	p := bench.Params{Count: *count, Interval: *interval, Concurrency: *conc, MaxPacketRate: *rate}
	if *worker {
		core.OneProcessor() // as the plugin binary does
		p.Targets, _ = strconv.Atoi(flag.Arg(0))
		p.Engine = config.Engine(*engine)
		if *profile != "" {
			f, err := os.Create(*profile)
			if err != nil {
				fmt.Fprintln(os.Stderr, "labbench worker:", err)
				os.Exit(1)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(os.Stderr, "labbench worker:", err)
				os.Exit(1)
			}
		}
		s, err := bench.RunPlugin(context.Background(), p)
		pprof.StopCPUProfile()
		if err != nil {
			fmt.Fprintln(os.Stderr, "labbench worker:", err)
			os.Exit(1)
		}
		json.NewEncoder(os.Stdout).Encode(s)
		return
	}
	var es []config.Engine
	for _, e := range strings.Split(*engines, ",") {
		switch e := config.Engine(strings.TrimSpace(e)); e {
		case config.EngineTcl, config.EngineCLI:
			es = append(es, e)
		case "":
		default:
			fmt.Fprintf(os.Stderr, "labbench: -engines: %q is neither tcl nor cli\n", e)
			os.Exit(2)
		}
	}
	o := options{engines: es, cliMax: *cliMax, plainFping: *plainF, defaultsN: *defN,
		sweep: strings.Split(*sweep, ","), sweepN: *sweepN, busy: *busy, telegraf: *telegraf, profiles: *profile}
	if err := run(p, bench.Ints(*ns), o); err != nil {
		fmt.Fprintln(os.Stderr, "labbench:", err)
		os.Exit(1)
	}
}

type options struct {
	engines    []config.Engine
	cliMax     int
	plainFping bool
	defaultsN  int
	sweep      []string
	sweepN     int
	busy       int
	telegraf   string
	profiles   string // directory for the workers' CPU profiles; empty: none
}

func run(p bench.Params, ns []int, o options) error {
	if o.profiles != "" {
		if err := os.MkdirAll(o.profiles, 0o755); err != nil {
			return err
		}
		profiles = o.profiles
	}
	if _, err := exec.LookPath("fping"); err != nil {
		return fmt.Errorf("fping is missing: apt-get install fping")
	}
	for _, n := range append(append([]int(nil), ns...), o.sweepN, o.defaultsN) {
		if n > bench.MaxTargets {
			return fmt.Errorf("%d targets: the lab answers %d addresses", n, bench.MaxTargets)
		}
	}
	tg, err := telegrafBinary(o.telegraf)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	lab, dir, done, err := bench.OpenLab("labbench")
	if err != nil {
		return err
	}
	defer done()
	ctx := context.Background()

	conc := p.Concurrency
	if conc == 0 {
		conc = config.DefaultConcurrency
	}
	fmt.Printf("Lossless lab path (veth between two namespaces), ICMP, count %d, interval %v; plugin max_packet_rate %d/s, CLI engine concurrency %d; %s\n\n",
		p.Count, p.Interval, p.PacketRate(), conc, cpuModel())

	fpingVariants := [][]string{{"-i", "1"}}
	if o.plainFping {
		fpingVariants = append([][]string{nil}, fpingVariants...)
	}
	var rows []bench.Row
	var skipped []string
	measure := func(q bench.Params, engines []config.Engine, variants [][]string, withTelegraf bool) error {
		row := bench.Row{P: q}
		for _, e := range engines {
			if e == config.EngineCLI && q.Targets > o.cliMax {
				skipped = append(skipped, fmt.Sprintf("%d targets (%s)", q.Targets, packetsOf(q)))
				continue
			}
			qe := q
			qe.Engine = e
			s, err := plugin(ctx, lab, self, qe)
			if err != nil {
				return err
			}
			row.Plugin = append(row.Plugin, s)
		}
		for _, extra := range variants {
			s, err := lab.RunFping(ctx, q, extra...)
			if err != nil {
				return err
			}
			row.Fping = append(row.Fping, s)
		}
		if withTelegraf {
			t, err := lab.RunTelegraf(ctx, tg, dir, q)
			if err != nil {
				return err
			}
			row.Telegraf = &t
		}
		rows = append(rows, row)
		fmt.Fprintf(os.Stderr, "  %d targets (%s) measured\n", q.Targets, packetsOf(q))
		return nil
	}
	for _, n := range ns {
		q := p
		q.Targets = n
		if err := measure(q, o.engines, fpingVariants, true); err != nil {
			return err
		}
	}
	if o.defaultsN > 0 {
		q := p
		q.Targets, q.Count, q.Interval = o.defaultsN, config.DefaultCount, config.DefaultInterval
		if err := measure(q, []config.Engine{config.EngineTcl}, [][]string{{"-i", "1"}}, false); err != nil {
			return err
		}
	}
	fmt.Println("The plugin, per engine (round = Runner.Run; plugin CPU = getrusage self, without hping3; total CPU adds hping3 via RUSAGE_CHILDREN;")
	fmt.Println("peak RSS = the plugin process's VmHWM; hping3 RSS = the largest hping3's VmHWM, read every 20 ms from outside; ideal = (count-1) x interval + slowest reply;")
	fmt.Printf("floor = max((count-1) x interval, targets x count / %d/s) + slowest reply):\n", p.PacketRate())
	bench.WritePlugin(os.Stdout, rows)
	if len(skipped) > 0 {
		fmt.Printf("(CLI engine measured up to %d targets: not at %s)\n", o.cliMax, strings.Join(skipped, ", "))
	}
	fmt.Println("\nEvery tool on the same targets in the same run (round = process wall time for fping and Telegraf, Telegraf's including its start-up;")
	fmt.Println("CPU total = self + children; peak RSS = VmHWM, fping's and Telegraf's read every 10 ms from outside; ratios: the plugin engine's round and total CPU over the tool's):")
	bench.WriteOthers(os.Stdout, rows)
	for _, r := range rows {
		label := fmt.Sprintf("%d targets, %s", r.P.Targets, packetsOf(r.P))
		for _, s := range r.Plugin {
			bench.WriteLossy(os.Stdout, label, s)
		}
		for _, f := range r.Fping {
			bench.WriteLossy(os.Stdout, label, f)
		}
		if r.Telegraf != nil {
			bench.WriteLossy(os.Stdout, label, *r.Telegraf)
		}
	}

	var points []bench.Params
	var specs []string
	for _, spec := range o.sweep {
		if strings.TrimSpace(spec) == "" {
			continue
		}
		q, err := sweepPoint(p, spec)
		if err != nil {
			return err
		}
		// Only the CLI engine has a process bound.
		q.Targets, q.Engine = o.sweepN, config.EngineCLI
		points = append(points, q)
		specs = append(specs, spec)
	}
	if len(points) > 0 {
		stop := spin(o.busy)
		defer stop()
		var samples []bench.Sample
		for _, q := range points {
			s, err := plugin(ctx, lab, self, q)
			if err != nil {
				return err
			}
			samples = append(samples, s)
		}
		stop()
		fmt.Printf("\nCLI engine: false loss against the bounds (%d targets, count %d, %d busy loops beside):\n", o.sweepN, p.Count, o.busy)
		bench.WriteSweep(os.Stdout, points, samples)
		for i, s := range samples {
			bench.WriteLossy(os.Stdout, "sweep "+specs[i], s)
		}
	}
	return nil
}

func packetsOf(p bench.Params) string { return fmt.Sprintf("%d x %v", p.Count, p.Interval) }

// spin runs n CPU-bound loops until the returned stop is called.
func spin(n int) (stop func()) {
	var quit atomic.Bool
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for x := 0; !quit.Load(); x++ {
			}
		}()
	}
	return func() { quit.Store(true); wg.Wait() }
}

// sweepPoint reads CONC[/MAX_PACKET_RATE][@INTERVAL].
func sweepPoint(p bench.Params, spec string) (bench.Params, error) {
	spec = strings.TrimSpace(spec)
	if rest, iv, ok := strings.Cut(spec, "@"); ok {
		d, err := time.ParseDuration(iv)
		if err != nil {
			return p, fmt.Errorf("sweep %q: %v", spec, err)
		}
		p.Interval, spec = d, rest
	}
	if c, r, ok := strings.Cut(spec, "/"); ok {
		n, err := strconv.Atoi(r)
		if err != nil {
			return p, fmt.Errorf("sweep %q: %v", spec, err)
		}
		p.MaxPacketRate, spec = n, c
	}
	n, err := strconv.Atoi(spec)
	if err != nil {
		return p, fmt.Errorf("sweep %q: %v", spec, err)
	}
	p.Concurrency = n
	return p, nil
}

// profiles is where plugin writes the workers' CPU profiles ("": nowhere).
var profiles string

// plugin runs one round in a fresh worker process inside the client namespace.
func plugin(ctx context.Context, lab *bench.Lab, self string, p bench.Params) (bench.Sample, error) {
	args := []string{"-worker", "-engine", string(p.Engine), "-count", strconv.Itoa(p.Count), "-interval", p.Interval.String(),
		"-concurrency", strconv.Itoa(p.Concurrency), "-max-packet-rate", strconv.Itoa(p.MaxPacketRate)}
	if profiles != "" {
		name := fmt.Sprintf("%s-%d-%dx%v-c%d.pprof", p.Engine, p.Targets, p.Count, p.Interval, p.Concurrency)
		args = append(args, "-cpuprofile", filepath.Join(profiles, name))
	}
	cmd := lab.Command(ctx, self, append(args, strconv.Itoa(p.Targets))...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return bench.Sample{}, err
	}
	// `ip netns exec` execs the worker: its pid is the worker's.
	stop := bench.Watch(cmd.Process.Pid, "", "hping3", 20*time.Millisecond)
	err := cmd.Wait()
	_, hping3RSS := stop()
	out := stdout.Bytes()
	if err != nil {
		return bench.Sample{}, fmt.Errorf("worker for %d targets (engine %q): %v", p.Targets, p.Engine, err)
	}
	var s bench.Sample
	if err := json.Unmarshal(out, &s); err != nil {
		return s, fmt.Errorf("worker output %q: %v", out, err)
	}
	s.ChildRSS = hping3RSS
	return s, nil
}

// telegrafBinary returns the Telegraf the tests cache, building it the same
// way when it is missing.
func telegrafBinary(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	dir := filepath.Join(testbin.ToolsDir(), "telegraf-1.37.2")
	bin := filepath.Join(dir, "telegraf")
	if st, err := os.Stat(bin); err == nil && st.Mode()&0o111 != 0 {
		return bin, nil
	}
	fmt.Fprintf(os.Stderr, "building Telegraf %s with inputs.ping into %s (about a minute, cached)\n", testbin.TelegrafVersion, dir)
	cmd := exec.Command("go", "install", "-tags", "custom,inputs.execd,outputs.file,inputs.ping",
		"github.com/influxdata/telegraf/cmd/telegraf@"+testbin.TelegrafVersion)
	cmd.Dir = os.TempDir() // outside this module
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building telegraf: %v\n%s", err, out)
	}
	return bin, nil
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	model, n := "", 0
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			model, n = strings.TrimSpace(v), n+1
		}
	}
	return fmt.Sprintf("%d x %s", n, model)
}
