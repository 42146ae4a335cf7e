package core

import (
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

// TestPollSchedule walks the shared poll policy through a 10 s schedule
// with made-up times: on time, late, a poll merged into the next round,
// overruns ending between and exactly on grid points.
func TestPollSchedule(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(d string) time.Time {
		x, err := time.ParseDuration(d)
		if err != nil {
			t.Fatal(err)
		}
		return t0.Add(x)
	}
	var log strings.Builder
	p := NewPoll(10*time.Second, t0, logger.New(&log, false))
	const warn = "W! round took %s, longer than poll_interval 10s: polls that fell due meanwhile were skipped (fewer targets, a smaller count or a longer poll_interval fix this)\n"
	for _, c := range []struct {
		name       string
		start, end string
		next       string
		overran    bool
		log        string
	}{
		{"first round, quick", "0s", "3s", "10s", false, ""},
		{"started late by the timer", "10.002s", "13s", "20s", false, ""},
		// Its end passed the point at 30 s only because it started late:
		// that poll runs at once rather than being lost.
		{"late start, within the interval", "20.5s", "30.1s", "30s", false, ""},
		{"overran: polls at 40 and 50 skipped", "30s", "55s", "60s", true, strings.Replace(warn, "%s", "25s", 1)},
		{"overran, ending on a grid point", "60s", "80s", "80s", true, strings.Replace(warn, "%s", "20s", 1)},
		{"exactly the interval is no overrun", "80s", "90s", "90s", false, ""},
		{"a round between grid points (Telegraf asked)", "93s", "95s", "100s", false, ""},
		{"a round between grid points spanning one", "97s", "104s", "100s", false, ""},
		{"a round between grid points overrunning", "104s", "117.4567s", "120s", true, strings.Replace(warn, "%s", "13.457s", 1)},
	} {
		log.Reset()
		next, overran := p.Next(at(c.start), at(c.end))
		if want := at(c.next); !next.Equal(want) || overran != c.overran {
			t.Errorf("%s: next %v overran %v, want %v %v", c.name, next.Sub(t0), overran, want.Sub(t0), c.overran)
		}
		if log.String() != c.log {
			t.Errorf("%s: logged %q, want %q", c.name, log.String(), c.log)
		}
	}
}
