package hping3

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

func settings(f func(*config.Settings)) config.Settings {
	s := config.DefaultSettings()
	f(&s)
	return s
}

func TestArgs(t *testing.T) {
	cases := []struct {
		name string
		s    config.Settings
		ip   string
		want string
	}{
		{"icmp defaults", settings(func(*config.Settings) {}), "127.0.0.1",
			"-n -c 5 -i 1 -1 -s 10000 -- 127.0.0.1"},
		{"icmp sub-second", settings(func(s *config.Settings) { s.Count = 3; s.Interval = 200 * time.Millisecond }), "127.0.0.1",
			"-n -c 3 -i u200000 -1 -s 10000 -- 127.0.0.1"},
		{"tcp syn-ack with options", settings(func(s *config.Settings) {
			s.Protocol, s.Port, s.TCPFlags, s.DataSize, s.TTL, s.TOS, s.Interface = config.TCP, 443, "SA", 20, 9, 16, "lo"
			s.Interval = 10 * time.Millisecond
		}), "198.19.0.7", "-n -c 5 -i u10000 -p 443 -S -A -s 10000 -d 20 -t 9 -o 10 -I lo -- 198.19.0.7"},
		{"dscp, don't fragment, source", settings(func(s *config.Settings) { s.DSCP, s.DontFrag, s.Source = "EF", true, "127.0.0.1" }), "127.0.0.2",
			"-n -c 5 -i 1 -1 -s 10000 -o b8 -y -a 127.0.0.1 -- 127.0.0.2"},
		{"udp", settings(func(s *config.Settings) { s.Protocol, s.Port, s.Interval = config.UDP, 53, 2*time.Second }), "10.0.0.1",
			"-n -c 5 -i 2 -2 -p 53 -s 10000 -- 10.0.0.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Args(c.s, c.ip, 10000)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != c.want {
				t.Errorf("args\n got %s\nwant %s", strings.Join(got, " "), c.want)
			}
		})
	}
}

func TestArgsRejectsNonLiteralTargets(t *testing.T) {
	s := settings(func(*config.Settings) {})
	for _, ip := range []string{"-c", "--flood", "localhost", "::1", "127.000.000.001", "127.0.0.1 -c 9", "", "1.2.3.4; id"} {
		if got, err := Args(s, ip, 10000); err == nil {
			t.Errorf("Args(%q) = %v, want an error", ip, got)
		}
	}
	if _, err := Args(settings(func(s *config.Settings) { s.Count = 0 }), "127.0.0.1", 10000); err == nil {
		t.Error("invalid settings accepted")
	}
	for _, f := range []func(*config.Settings){
		func(s *config.Settings) { s.Timeout = 1001 * time.Millisecond },
		func(s *config.Settings) { s.DataSize = 1473 },
		func(s *config.Settings) { s.Source = "192.0.2.1" }, // not this host's: hping3's -a spoofs
	} {
		if got, err := Args(settings(f), "127.0.0.1", 10000); err == nil {
			t.Errorf("Args = %v, want settings the cli engine cannot honour refused", got)
		}
	}
	if _, err := Args(s, "127.0.0.1", 65534); err == nil {
		t.Error("source ports beyond 65535 accepted")
	}
}

// forbidden are hping3 options that would flood, spoof, listen, read files,
// fix the source port (which breaks reply matching) or start its Tcl shell.
var forbidden = []string{"--flood", "--faster", "--fast", "--rand-source", "--rand-dest", "-a", "--spoof",
	"--listen", "-9", "--file", "-E", "-k", "--keep", "exec", "-r", "--traceroute", "-T", "--sign", "-e", "--safe"}

// TestArgsNeverFlood builds argv for every combination of the settings
// a user controls and checks nothing unsafe appears and the target is last
// after "--".
func TestArgsNeverFlood(t *testing.T) {
	for _, proto := range []config.Protocol{config.ICMP, config.TCP, config.UDP} {
		for _, flags := range []string{"S", "SAFRPU", "R"} {
			for _, iv := range []time.Duration{10 * time.Millisecond, 999 * time.Millisecond, time.Second, 60 * time.Second} {
				s := settings(func(s *config.Settings) {
					s.Protocol, s.TCPFlags, s.Interval, s.Count = proto, flags, iv, config.MaxCount
					if proto != config.ICMP {
						s.Port = 1
					}
				})
				args, err := Args(s, "198.18.0.1", 20000)
				if err != nil {
					t.Fatal(err)
				}
				CheckArgvSafe(t, args)
			}
		}
	}
}

// CheckArgvSafe fails t if args holds an unsafe option or does not end in
// "-- IPv4". Exported to the package's tests that check argv from runs.
func CheckArgvSafe(t *testing.T, args []string) {
	t.Helper()
	if len(args) < 3 || args[len(args)-2] != "--" || args[0] == "exec" {
		t.Fatalf("argv %q does not end in -- TARGET", args)
	}
	for _, a := range args[:len(args)-2] {
		for _, f := range forbidden {
			if a == f {
				t.Errorf("argv %q contains %s", args, f)
			}
		}
		if a == "-i" {
			continue
		}
		if strings.HasPrefix(a, "-i") && len(a) > 2 {
			t.Errorf("argv %q has an attached -i value", args)
		}
	}
	for i, a := range args {
		if a == "-i" && i+1 < len(args) {
			v := args[i+1]
			if v == "u0" || v == "0" || strings.HasPrefix(v, "u") && len(v) > 7 {
				t.Errorf("argv %q has an interval hping3 hangs on: %s", args, v)
			}
		}
	}
}

func TestIntervalArg(t *testing.T) {
	got := []string{intervalArg(time.Millisecond), intervalArg(999 * time.Millisecond), intervalArg(time.Second), intervalArg(60 * time.Second)}
	want := []string{"u1000", "u999000", "1", "60"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("intervalArg = %v, want %v", got, want)
	}
}
