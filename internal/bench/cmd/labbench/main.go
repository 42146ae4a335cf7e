// Command labbench measures rounds of the plugin against fping and Telegraf's
// inputs.ping in an isolated namespace lab (`make bench`; needs root). With
// -worker it is the process that runs one round inside the client namespace,
// so that its CPU and memory figures are that round's alone.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/bench"
	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

func main() {
	var (
		worker   = flag.Bool("worker", false, "run one plugin round here (inside the client namespace) and print it as JSON")
		ns       = flag.String("n", "1,10,100,300,1000", "target counts of the main table")
		count    = flag.Int("count", 3, "packets per target")
		interval = flag.Duration("interval", 200*time.Millisecond, "between packets to one target")
		conc     = flag.Int("concurrency", 0, "hping3 processes at once (0: the plugin's default)")
		rate     = flag.Int("max-packet-rate", 0, "packets/s over all probes (0: the plugin's default)")
		sweep    = flag.String("sweep", "8,16,32,64", "concurrency values to sweep at -sweep-n targets, each CONC[/MAX_PACKET_RATE][@INTERVAL] (empty: no sweep)")
		sweepN   = flag.Int("sweep-n", 300, "target count of the concurrency sweep")
		busy     = flag.Int("busy", 0, "CPU-bound loops to run beside the sweep, standing in for a host busy with other work")
		telegraf = flag.String("telegraf", "", "Telegraf binary with inputs.ping (default: the cached test build; built when missing)")
	)
	flag.Parse()
	p := bench.Params{Count: *count, Interval: *interval, Concurrency: *conc, MaxPacketRate: *rate}
	if *worker {
		p.Targets, _ = strconv.Atoi(flag.Arg(0))
		s, err := bench.RunPlugin(context.Background(), p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "labbench worker:", err)
			os.Exit(1)
		}
		json.NewEncoder(os.Stdout).Encode(s)
		return
	}
	if err := run(p, ints(*ns), strings.Split(*sweep, ","), *sweepN, *busy, *telegraf); err != nil {
		fmt.Fprintln(os.Stderr, "labbench:", err)
		os.Exit(1)
	}
}

func run(p bench.Params, ns []int, sweep []string, sweepN, busy int, telegraf string) error {
	if _, err := exec.LookPath("fping"); err != nil {
		return fmt.Errorf("fping is missing: apt-get install fping")
	}
	tg, err := telegrafBinary(telegraf)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "labbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lab, err := bench.NewLab()
	if err != nil {
		return err
	}
	defer lab.Close()
	// An interrupted run removes its namespaces too; the workers, fping and
	// Telegraf get the same signal from the terminal.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		lab.Close()
		os.Exit(130)
	}()
	ctx := context.Background()

	conc := p.Concurrency
	if conc == 0 {
		conc = config.DefaultConcurrency
	}
	rate := p.MaxPacketRate
	if rate == 0 {
		rate = config.DefaultMaxPacketRate
	}
	fmt.Printf("Lossless lab path (veth between two namespaces), ICMP, count %d, interval %v; plugin concurrency %d, max_packet_rate %d/s; %s\n\n",
		p.Count, p.Interval, conc, rate, cpuModel())

	var rows []bench.Row
	for _, n := range ns {
		q := p
		q.Targets = n
		row := bench.Row{P: q}
		if row.Plugin, err = plugin(ctx, lab, self, q); err != nil {
			return err
		}
		for _, extra := range [][]string{nil, {"-i", "1"}} {
			s, err := lab.RunFping(ctx, q, extra...)
			if err != nil {
				return err
			}
			row.Fping = append(row.Fping, s)
		}
		t, err := lab.RunTelegraf(ctx, tg, dir, q)
		if err != nil {
			return err
		}
		row.Telegraf = &t
		rows = append(rows, row)
		fmt.Fprintf(os.Stderr, "  %d targets measured\n", n)
	}
	fmt.Println("The plugin (round = Runner.Run; plugin CPU = getrusage self, without hping3; total CPU adds hping3 via RUSAGE_CHILDREN):")
	bench.WritePlugin(os.Stdout, rows)
	fmt.Println("\nThe same targets in the same run (round = process wall time; Telegraf's includes its start-up):")
	bench.WriteOthers(os.Stdout, rows)
	for _, r := range rows {
		label := strconv.Itoa(r.P.Targets) + " targets"
		bench.WriteLossy(os.Stdout, label, r.Plugin)
		for _, f := range r.Fping {
			bench.WriteLossy(os.Stdout, label, f)
		}
		if r.Telegraf != nil {
			bench.WriteLossy(os.Stdout, label, *r.Telegraf)
		}
	}

	var points []bench.Params
	for _, spec := range sweep {
		if strings.TrimSpace(spec) == "" {
			continue
		}
		q, err := sweepPoint(p, spec)
		if err != nil {
			return err
		}
		q.Targets = sweepN
		points = append(points, q)
	}
	if len(points) > 0 {
		stop := spin(busy)
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
		fmt.Printf("\nFalse loss against the bounds (%d targets, count %d, %d busy loops beside):\n", sweepN, p.Count, busy)
		bench.WriteSweep(os.Stdout, points, samples)
		for i, s := range samples {
			bench.WriteLossy(os.Stdout, "sweep "+sweep[i], s)
		}
	}
	return nil
}

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

// plugin runs one round in a fresh worker process inside the client namespace.
func plugin(ctx context.Context, lab *bench.Lab, self string, p bench.Params) (bench.Sample, error) {
	cmd := lab.Command(ctx, self, "-worker", "-count", strconv.Itoa(p.Count), "-interval", p.Interval.String(),
		"-concurrency", strconv.Itoa(p.Concurrency), "-max-packet-rate", strconv.Itoa(p.MaxPacketRate), strconv.Itoa(p.Targets))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return bench.Sample{}, fmt.Errorf("worker for %d targets: %v", p.Targets, err)
	}
	var s bench.Sample
	if err := json.Unmarshal(out, &s); err != nil {
		return s, fmt.Errorf("worker output %q: %v", out, err)
	}
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

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			out = append(out, n)
		}
	}
	return out
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
