package bench

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ScrapeSoak runs a Prometheus endpoint (args, in the client namespace)
// for duration and scrapes url every `every`, as Prometheus would, with
// gzip. Every `row` it writes a row of figures: packets counted, lost
// (sent less received, over every series: the lab loses none), series
// whose counter went down since the scrape before (none may), the capture
// drops of the reports scraped (hping3_round_capture_drops, each report's
// as often as it was scraped: only 0 says something), the server's RSS
// and its CPU since the row before, its own and its children's. It
// returns an error if a packet was lost, a counter went down, the capture
// dropped frames, a scrape failed or the RSS grew by more than a quarter
// from the first row after warm (the first tenth of the run) to the last.
func (l *Lab) ScrapeSoak(ctx context.Context, out io.Writer, url string, duration, every, row time.Duration, args ...string) error {
	sv, err := l.startServer(ctx, args)
	if err != nil {
		return err
	}
	defer sv.stop()
	pid := sv.pid
	last := map[string]float64{}
	var problems []string
	var sent, lost, drops float64
	decreased, scrapes := 0, 0
	start := time.Now()
	nextRow := start.Add(row)
	cpu0, at0 := treeCPU(pid), start
	var warmRSS, rss int64
	fmt.Fprintf(out, "%8s %12s %6s %10s %6s %9s %9s %8s\n", "minute", "packets", "lost", "decreased", "drops", "RSS MiB", "CPU %", "scrapes")
	for time.Since(start) < duration {
		time.Sleep(every)
		body, _, err := l.scrape(ctx, url, false)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		scrapes++
		sent, lost = 0, 0
		for line := range strings.Lines(body) {
			if v, ok := strings.CutPrefix(line, "hping3_round_capture_drops"); ok {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v[strings.LastIndexByte(v, ' '):]), 64); err == nil {
					drops += f
				}
				continue
			}
			name, rest, ok := strings.Cut(line, "{")
			if !ok || (name != "hping3_packet_sent_total" && name != "hping3_packet_received_total" && name != "hping3_rtt_duration_seconds_count") {
				continue
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(rest[strings.LastIndexByte(rest, ' '):]), 64)
			if err != nil {
				continue
			}
			key := name + "{" + rest[:strings.LastIndexByte(rest, ' ')]
			if prev, ok := last[key]; ok && v < prev {
				decreased++
			}
			last[key] = v
			switch name {
			case "hping3_packet_sent_total":
				sent += v
				lost += v
			case "hping3_packet_received_total":
				lost -= v
			}
		}
		if time.Now().After(nextRow) {
			now, cpu := time.Now(), treeCPU(pid)
			rss = VmRSS(pid)
			if warmRSS == 0 && now.Sub(start) >= duration/10 {
				warmRSS = rss
			}
			fmt.Fprintf(out, "%8.0f %12.0f %6.0f %10d %6.0f %9.1f %9.1f %8d\n", now.Sub(start).Minutes(), sent, lost, decreased, drops,
				float64(rss)/(1<<20), 100*(cpu-cpu0).Seconds()/now.Sub(at0).Seconds(), scrapes)
			cpu0, at0 = cpu, now
			nextRow = nextRow.Add(row)
		}
	}
	if lost != 0 {
		problems = append(problems, fmt.Sprintf("%.0f packets lost on a lossless path", lost))
	}
	if drops > 0 {
		problems = append(problems, fmt.Sprintf("the capture dropped frames (%.0f, as scraped)", drops))
	}
	if decreased > 0 {
		problems = append(problems, fmt.Sprintf("a counter went down %d times", decreased))
	}
	if warmRSS > 0 && rss > warmRSS+warmRSS/4 {
		problems = append(problems, fmt.Sprintf("RSS grew from %.1f to %.1f MiB", float64(warmRSS)/(1<<20), float64(rss)/(1<<20)))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %s", strings.Join(problems, "; "), firstLines(sv.stderr.String()))
	}
	return nil
}

// treeCPU is the user and system time of pid and of its children that
// run now (hping3), from /proc.
func treeCPU(pid int) time.Duration {
	total, _ := ticksCPU(pid)
	for _, c := range children(pid) {
		if t, ok := ticksCPU(c); ok {
			total += t
		}
	}
	return total
}
