package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// recorder is a stand-in hping3 that only records that it ran.
func recorder(t *testing.T) (bin, mark string) {
	t.Helper()
	dir := t.TempDir()
	mark = filepath.Join(dir, "ran")
	bin = filepath.Join(dir, "hping3")
	script := "#!/bin/sh\nprintf '%s ' \"$@\" >>" + mark + "\nexit 1\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, mark
}

func runMain(args ...string) (code int, stdout, stderr string) {
	var out, errb strings.Builder
	code = run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestInvalidConfigExits2BeforeProbing(t *testing.T) {
	bin, mark := recorder(t)
	cfgFile := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(cfgFile, []byte("[[inputs.hping3]]\ntargets = [\"127.0.0.1\"]\ncuont = 3\n"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--once", "--target", "127.0.0.1", "--count", "0"}, "E! invalid count = 0: 1..400 packets per target per round"},
		{[]string{"--once", "--target", "127.0.0.1", "--protocol", "sctp"}, `E! invalid protocol = "sctp"`},
		{[]string{"--once", "--target", "127.0.0.1", "--interval", "abc"}, `invalid value "abc" for flag -interval`},
		{[]string{"--once"}, "E! invalid targets = []: at least one target"},
		{[]string{"--once", "--config", cfgFile}, `line 3: unknown key "inputs.hping3.cuont" (did you mean "count"?)`},
		{[]string{"--once", "--config", "/nonexistent.toml"}, "E! config: open /nonexistent.toml"},
		{[]string{"--once", "--target", "127.0.0.1", "stray"}, `E! unexpected argument "stray"`},
		{[]string{"--target", "127.0.0.1", "--poll-interval", "10ms"}, "E! invalid poll_interval = 10ms"},
		{[]string{"--otlp", "--target", "127.0.0.1", "--otlp-endpoint", "ftp://x:1"}, `E! invalid --otlp-endpoint "ftp://x:1"`},
		{[]string{"--once", "--target", "127.0.0.1", "--otlp-endpoint", "http://x:1"}, "E! --otlp-endpoint is for the OTLP mode: add --otlp"},
	}
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "127.0.0.1:4317")
	cases = append(cases, struct {
		args []string
		want string
	}{[]string{"--otlp", "--target", "127.0.0.1"}, `E! invalid OTEL_EXPORTER_OTLP_METRICS_ENDPOINT "127.0.0.1:4317": give http://HOST:PORT`})
	for _, c := range cases {
		code, stdout, stderr := runMain(append(c.args, "--hping3", bin)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d stdout %q stderr %q; want exit 2 and %q", c.args, code, stdout, stderr, c.want)
		}
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("hping3 ran although the configuration was invalid")
	}
}

// TestOnceArgumentInjection: an option-like target gets its own failed line
// and never reaches hping3, while the other target is probed.
func TestOnceArgumentInjection(t *testing.T) {
	bin, mark := recorder(t)
	code, stdout, stderr := runMain("--once", "--target=-c", "--target", "127.0.0.1", "--count", "1", "--interval", "10ms", "--hping3", bin)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "hping3,protocol=icmp,target=-c result_code=1i ") ||
		!strings.HasPrefix(lines[1], "hping3,ip=127.0.0.1,protocol=icmp,target=127.0.0.1 dns_ms=0,result_code=2i ") {
		t.Errorf("stdout:\n%s", stdout)
	}
	if !strings.Contains(stderr, `E! target "-c": "-c" is not a valid host name (begins with '-'); nothing was sent`) {
		t.Errorf("stderr: %s", stderr)
	}
	ran, _ := os.ReadFile(mark)
	// The source port is drawn at random from 10000..32767; everything else
	// is fixed by the flags.
	got := strings.Fields(string(ran))
	want := []string{"-n", "-c", "1", "-i", "u10000", "-1", "-s", "PORT", "--", "127.0.0.1"}
	if len(got) != len(want) {
		t.Fatalf("hping3 ran with %q, want %q", got, want)
	}
	for i := range want {
		if want[i] == "PORT" {
			if p, err := strconv.Atoi(got[i]); err != nil || p < 10000 || p > 32767 {
				t.Errorf("source port %q, want 10000..32767", got[i])
			}
		} else if got[i] != want[i] {
			t.Errorf("hping3 ran with %q, want %q", got, want)
			break
		}
	}
}

// TestOnceLoopback runs the real hping3 through the built binary, as
// `make run` does, and decodes its line protocol.
func TestOnceLoopback(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	code, stdout, stderr := runMain("--once", "--target", "127.0.0.1", "--target", "localhost", "--count", "2", "--interval", "50ms", "--timeout", "200ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	dec := lineprotocol.NewDecoderWithBytes([]byte(stdout))
	n := 0
	for dec.Next() {
		n++
		m, _ := dec.Measurement()
		tags := map[string]string{}
		for k, v, _ := dec.NextTag(); k != nil; k, v, _ = dec.NextTag() {
			tags[string(k)] = string(v)
		}
		fields := map[string]lineprotocol.Value{}
		for k, v, _ := dec.NextField(); k != nil; k, v, _ = dec.NextField() {
			fields[string(k)] = v
		}
		if _, err := dec.Time(lineprotocol.Nanosecond, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if string(m) != "hping3" || tags["ip"] != "127.0.0.1" || tags["protocol"] != "icmp" {
			t.Errorf("line %d: %s %v", n, m, tags)
		}
		if fields["result_code"].IntV() != 0 || fields["packets_transmitted"].IntV() != 2 || fields["packets_received"].IntV() != 2 ||
			fields["percent_packet_loss"].FloatV() != 0 || fields["ttl"].IntV() != 64 {
			t.Errorf("line %d fields: %v", n, fields)
		}
		if avg := fields["average_response_ms"]; avg.Kind() != lineprotocol.Float || avg.FloatV() < 0 || avg.FloatV() > 50 {
			t.Errorf("line %d average_response_ms = %v", n, avg)
		}
	}
	if err := dec.Err(); err != nil || n != 2 {
		t.Fatalf("%d lines, decode error %v:\n%s", n, err, stdout)
	}
}
