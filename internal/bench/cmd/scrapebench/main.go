// Command scrapebench measures what a Prometheus scrape costs the server,
// the real binaries as their users run them, in the same run: the plugin
// with --prometheus-listen (and, with -baseline, another build of it) and
// smokeping_prober (-smokeping, or on PATH), each probing the same lab
// targets once a second. Each server gets -scrapes GETs of /metrics one
// after another, from curl inside the lab with Prometheus' Accept header
// and gzip; its own CPU over them, less what it spends probing meanwhile
// (measured in an idle window before and after), is its CPU per scrape.
// Needs root, ip, hping3 and curl.
//
//	go run ./internal/bench/cmd/scrapebench -plugin ./hping3-plugin -n 1000,10000
//
// With -soak D it runs only the plugin, on the first -n count, for D,
// scraped every 15 s as Prometheus would, and checks that no packet is
// lost, no counter goes down and the RSS does not grow (bench.ScrapeSoak).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/bench"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

func main() {
	var (
		bin       = flag.String("plugin", "./hping3-plugin", "the plugin binary")
		baseline  = flag.String("baseline", "", "another plugin binary to measure beside it (e.g. a build of an earlier commit)")
		smokeping = flag.String("smokeping", "", "smokeping_prober binary (default: on PATH; \"none\" to skip)")
		counts    = flag.String("n", "1000", "target counts")
		scrapes   = flag.Int("scrapes", 30, "scrapes per server")
		warm      = flag.Duration("warm", 15*time.Second, "time after every target is in /metrics before measuring")
		idle      = flag.Duration("idle", 10*time.Second, "each idle window")
		repeat    = flag.Int("repeat", 1, "measure everything this many times")
		soak      = flag.Duration("soak", 0, "run the plugin alone this long, scraped every 15 s, instead of measuring scrapes")
		spUpTo    = flag.Int("smokeping-upto", 1000, "run smokeping_prober only up to this many targets (it spends about 0.6 s of CPU a second per 1000 targets probing: 10,000 would take the machine's 2 cores)")
	)
	flag.Parse()
	// Every process it starts is reaped and timed by it (bench.Tree).
	if err := bench.Subreaper(); err != nil {
		fmt.Fprintln(os.Stderr, "scrapebench:", err)
		os.Exit(1)
	}
	if *soak > 0 {
		if err := soakRun(*bin, bench.Ints(*counts)[0], *soak); err != nil {
			fmt.Fprintln(os.Stderr, "scrapebench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*bin, *baseline, *smokeping, *counts, *scrapes, *warm, *idle, *repeat, *spUpTo); err != nil {
		fmt.Fprintln(os.Stderr, "scrapebench:", err)
		os.Exit(1)
	}
}

type server struct {
	tool, url, want string
	args            func(dir string, targets []string, rate int) ([]string, error)
}

func run(bin, baseline, smokeping, counts string, scrapes int, warm, idle time.Duration, repeat, spUpTo int) error {
	var servers []server
	plugin := func(name, path string) error {
		abs, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		servers = append(servers, server{tool: name, url: "http://127.0.0.1:10027/metrics", want: "hping3_rtt_duration_seconds_count{",
			args: func(dir string, targets []string, rate int) ([]string, error) {
				conf, err := bench.PluginConfig(dir, bench.RateKey(rate), targets, "  interval = \"1s\"\n")
				return []string{abs, "--prometheus-listen", "127.0.0.1:10027", "--config", conf}, err
			}})
		return nil
	}
	if err := plugin("hping3-plugin", bin); err != nil {
		return err
	}
	if baseline != "" {
		if err := plugin("hping3-plugin (baseline)", baseline); err != nil {
			return err
		}
	}
	if smokeping != "none" {
		sp, err := bench.LookSmokeping(smokeping)
		if err != nil {
			return fmt.Errorf("smokeping_prober: %v (give -smokeping PATH, or -smokeping none)", err)
		}
		servers = append(servers, server{tool: "smokeping_prober", url: "http://127.0.0.1:9374/metrics", want: "smokeping_response_duration_seconds_count{",
			args: func(dir string, targets []string, _ int) ([]string, error) {
				conf, err := bench.SmokepingConfig(dir, targets, time.Second)
				return []string{sp, "--web.listen-address=127.0.0.1:9374", "--config.file=" + conf}, err
			}})
	}
	lab, dir, done, err := bench.OpenLab("scrapebench")
	if err != nil {
		return err
	}
	defer done()
	ctx := context.Background()
	fmt.Printf("Machine: %s.\n", bench.Machine())
	fmt.Printf("Each server probes the lab's targets once a second (ICMP); %d scrapes one after another, gzipped, Prometheus' Accept header.\n", scrapes)
	fmt.Printf("CPU/scrape = the server process's own CPU (10 ms ticks) over the scrapes, less its idle CPU/s times their wall time, over %d.\n", scrapes)
	for r := 1; r <= repeat; r++ {
		fmt.Printf("\nRun %d of %d, %s, load average %s.\n", r, repeat, time.Now().UTC().Format("2006-01-02 15:04 UTC"), bench.LoadAverage())
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "server\ttargets\tseries\tbody\tgzipped\tCPU/scrape\twall/scrape\tidle CPU/s\tpeak RSS\t")
		for _, n := range bench.Ints(counts) {
			targets := bench.Targets(n)
			rate := rateFor(n)
			for _, sv := range servers {
				if sv.tool == "smokeping_prober" && n > spUpTo {
					continue
				}
				args, err := sv.args(dir, targets, rate)
				if err != nil {
					return err
				}
				s, err := lab.RunScrapeServer(ctx, sv.tool, sv.url, sv.want, bench.Scrape{Targets: n, Scrapes: scrapes, Warm: warm, Idle: idle}, args...)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "  %s, %d targets: ready after %v; idle %.0f and %.0f ms/s; scrapes %.0f ms of CPU in all\n", s.Tool, n, s.Ready.Round(time.Second), s.IdleA, s.IdleB, s.Raw)
				fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f MB\t%d KB\t%.1f ms\t%.1f ms\t%.0f ms\t%.1f MiB\t\n", s.Tool, n, s.Series,
					float64(s.Bytes)/1e6, s.Gzipped/1000, s.CPU, s.Wall, s.IdleCPU, float64(s.RSS)/(1<<20))
			}
		}
		tw.Flush()
	}
	return nil
}

// rateFor is the max_packet_rate n targets once a second need beyond the
// plugin's default (0: the default will do), at most the cap's top.
func rateFor(n int) int {
	if n <= config.DefaultMaxPacketRate {
		return 0
	}
	return min(config.MaxTotalRateLimit, n)
}

// soakRun is -soak: the plugin on n targets (interval 1 s, a report every
// 10 s), scraped every 15 s for d, a row a minute.
func soakRun(bin string, n int, d time.Duration) error {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	lab, dir, done, err := bench.OpenLab("scrapesoak")
	if err != nil {
		return err
	}
	defer done()
	conf, err := bench.PluginConfig(dir, bench.RateKey(rateFor(n)), bench.Targets(n), "  interval = \"1s\"\n")
	if err != nil {
		return err
	}
	fmt.Printf("Machine: %s. %s probing %d lab targets once a second (continuous, a report every 10 s, max_packet_rate %d), scraped every 15 s for %v; load average %s.\n",
		bench.Machine(), abs, n, bench.Params{MaxPacketRate: rateFor(n)}.PacketRate(), d, bench.LoadAverage())
	return lab.ScrapeSoak(context.Background(), os.Stdout, "http://127.0.0.1:10027/metrics", d, 15*time.Second, time.Minute,
		abs, "--prometheus-listen", "127.0.0.1:10027", "--config", conf)
}
