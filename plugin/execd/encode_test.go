package execd

import (
	"errors"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

var ts = time.Unix(1764045600, 123456789)

func TestEncodeExactLines(t *testing.T) {
	cases := []struct {
		name string
		r    probe.Result
		want string
	}{{
		name: "icmp ok with detail, group tags merged in order",
		r: probe.Result{
			Target: "gw.example", IP: "192.0.2.1", Protocol: config.ICMP,
			Tags: map[string]string{"site": "par 1", "dc": "a,b", "zone": "x=y"},
			Code: probe.OK, Transmitted: 4, Received: 3, Loss: 25, Duplicates: 1, ICMPErrors: 0,
			RTT: &probe.RTT{Min: 0.1, Avg: 0.25, Max: 0.5, Detail: true, StdDev: 0.125, Jitter: 0.2, HasJitter: true,
				Percentiles: []probe.Percentile{{P: 50, Value: 0.2}, {P: 99, Value: 0.5}}},
			TTL: 64, DNS: 1500 * time.Microsecond,
		},
		want: `hping3,dc=a\,b,ip=192.0.2.1,protocol=icmp,site=par\ 1,target=gw.example,zone=x\=y ` +
			`packets_transmitted=4i,packets_received=3i,percent_packet_loss=25,minimum_response_ms=0.1,` +
			`average_response_ms=0.25,maximum_response_ms=0.5,standard_deviation_ms=0.125,jitter_ms=0.2,` +
			`percentile50_ms=0.2,percentile99_ms=0.5,ttl=64i,duplicates=1i,icmp_errors=0i,dns_ms=1.5,result_code=0i 1764045600123456789`,
	}, {
		name: "tcp total loss: no rtt, no ttl, port state",
		r: probe.Result{
			Target: "127.0.0.1", IP: "127.0.0.1", Protocol: config.TCP, Port: 8080,
			Code: probe.OK, Transmitted: 2, Received: 0, Loss: 100, ICMPErrors: 2, TTL: -1, PortState: probe.PortNone,
		},
		want: `hping3,ip=127.0.0.1,port=8080,protocol=tcp,target=127.0.0.1 ` +
			`packets_transmitted=2i,packets_received=0i,percent_packet_loss=100,duplicates=0i,icmp_errors=2i,` +
			`port_state="none",dns_ms=0,result_code=0i 1764045600123456789`,
	}, {
		name: "udp summary only: no stddev or percentiles",
		r: probe.Result{
			Target: "h", IP: "198.18.0.1", Protocol: config.UDP, Port: 53,
			Code: probe.OK, Transmitted: 1, Received: 1, RTT: &probe.RTT{Min: 1, Avg: 1, Max: 1, Percentiles: []probe.Percentile{{P: 50, Value: 1}}},
			TTL: 63, PortState: probe.PortClosed, DNS: 2 * time.Millisecond,
		},
		want: `hping3,ip=198.18.0.1,port=53,protocol=udp,target=h ` +
			`packets_transmitted=1i,packets_received=1i,percent_packet_loss=0,minimum_response_ms=1,average_response_ms=1,maximum_response_ms=1,` +
			`ttl=63i,duplicates=0i,icmp_errors=0i,port_state="closed",dns_ms=2,result_code=0i 1764045600123456789`,
	}, {
		name: "no such host: only result_code",
		r: probe.Result{
			Target: "nonexistent.invalid", Protocol: config.ICMP, Tags: map[string]string{"env": "lab"},
			Code: probe.NoSuchHost, Err: errors.New("no such host"), Transmitted: 9, TTL: -1,
		},
		want: `hping3,env=lab,protocol=icmp,target=nonexistent.invalid result_code=1i 1764045600123456789`,
	}, {
		name: "failed after resolving: result_code and dns_ms only",
		r: probe.Result{
			Target: "localhost", IP: "127.0.0.1", Protocol: config.ICMP, Code: probe.Failed,
			Err: errors.New("hping3: Operation not permitted"), Transmitted: 3, Received: 1, RTT: &probe.RTT{Min: 1},
			TTL: 64, DNS: 250 * time.Microsecond,
		},
		want: `hping3,ip=127.0.0.1,protocol=icmp,target=localhost dns_ms=0.25,result_code=2i 1764045600123456789`,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := string(Encode(core.Report{Start: ts, Results: []probe.Result{c.r}}))
			if got != c.want+"\n" {
				t.Errorf("line\n got: %s\nwant: %s", got, c.want)
			}
		})
	}
}

// The group's tags never replace the plugin's own, and no tag is ever named
// host: Telegraf adds its own host tag to every line.
func TestEncodeTagsNeverOverrideOursNorAddHost(t *testing.T) {
	r := probe.Result{Target: "t", IP: "127.0.0.2", Protocol: config.ICMP, Code: probe.NoSuchHost,
		Tags: map[string]string{"target": "spoof", "ip": "spoof", "protocol": "spoof", "a": "1"}}
	got := string(Encode(core.Report{Start: ts, Results: []probe.Result{r}}))
	want := "hping3,a=1,ip=127.0.0.2,protocol=icmp,target=t dns_ms=0,result_code=1i 1764045600123456789\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// A target the line protocol cannot carry as it is still gets its line,
// its tag in Go-quoted form; the encoder would otherwise drop the line.
func TestEncodeUnencodableTargetKeepsItsLine(t *testing.T) {
	rd := core.Report{Start: ts}
	for _, name := range []string{"", "a\tb", "new\nline", `back\`, "bad\xffutf8", "ok name"} {
		rd.Results = append(rd.Results, probe.Result{Target: name, Protocol: config.ICMP, Code: probe.NoSuchHost})
	}
	want := `hping3,protocol=icmp,target="" result_code=1i 1764045600123456789` + "\n" +
		`hping3,protocol=icmp,target="a\tb" result_code=1i 1764045600123456789` + "\n" +
		`hping3,protocol=icmp,target="new\nline" result_code=1i 1764045600123456789` + "\n" +
		`hping3,protocol=icmp,target="back\\" result_code=1i 1764045600123456789` + "\n" +
		`hping3,protocol=icmp,target="bad\xffutf8" result_code=1i 1764045600123456789` + "\n" +
		`hping3,protocol=icmp,target=ok\ name result_code=1i 1764045600123456789` + "\n"
	if got := string(Encode(rd)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestEncodeRoundOneLinePerResultSameTimestamp(t *testing.T) {
	rd := core.Report{Start: ts, Results: []probe.Result{
		{Target: "a", Protocol: config.ICMP, Code: probe.NoSuchHost},
		{Target: "b", Protocol: config.ICMP, Code: probe.NoSuchHost},
	}}
	want := "hping3,protocol=icmp,target=a result_code=1i 1764045600123456789\n" +
		"hping3,protocol=icmp,target=b result_code=1i 1764045600123456789\n"
	if got := string(Encode(rd)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := Encode(core.Report{Start: ts}); len(got) != 0 {
		t.Errorf("empty round encoded as %q, want nothing", got)
	}
}

// A line the encoder refuses is written again with its unsafe tags quoted,
// the refusal is returned, and the lines around it are untouched.
func TestAppendResultRefusedLineIsRewrittenAndReported(t *testing.T) {
	results := []probe.Result{
		{Target: "a", Protocol: config.ICMP, Code: probe.NoSuchHost},
		// Validation refuses such tags; a Result built elsewhere may not.
		{Target: "b", Protocol: config.ICMP, Code: probe.NoSuchHost, Tags: map[string]string{"site": "par\t1", `dc\`: "x"}},
		{Target: "c", Protocol: config.ICMP, Code: probe.NoSuchHost},
	}
	var enc lineprotocol.Encoder
	var errs []string
	for i := range results {
		if err := AppendResult(&enc, &results[i], ts); err != nil {
			errs = append(errs, err.Error())
		}
		if enc.Err() != nil {
			t.Fatalf("result %d left the encoder with %v", i, enc.Err())
		}
	}
	want := "hping3,protocol=icmp,target=a result_code=1i 1764045600123456789\n" +
		`hping3,"dc\\"=x,protocol=icmp,site="par\t1",target=b result_code=1i 1764045600123456789` + "\n" +
		"hping3,protocol=icmp,target=c result_code=1i 1764045600123456789\n"
	if got := string(enc.Bytes()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// The encoder names the first unsafe tag in key order (dc\ before site)
	// and numbers its lines from 0.
	wantErr := `line protocol refused the line of target "b", written instead with its unsafe tags quoted: encoding point 1: invalid tag key "dc\\"`
	if len(errs) != 1 || errs[0] != wantErr {
		t.Errorf("errors %q, want [%s]", errs, wantErr)
	}
	// Encode keeps all three lines too.
	if got := string(Encode(core.Report{Start: ts, Results: results})); got != want {
		t.Errorf("Encode:\n%s\nwant\n%s", got, want)
	}
}

// A time line protocol cannot carry: the line goes without a timestamp
// (Telegraf stamps it on arrival), and the refusal is returned.
func TestAppendResultOutOfRangeTimeKeepsTheLine(t *testing.T) {
	r := probe.Result{Target: "a", Protocol: config.ICMP, Code: probe.NoSuchHost}
	var enc lineprotocol.Encoder
	err := AppendResult(&enc, &r, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC))
	if got, want := string(enc.Bytes()), "hping3,protocol=icmp,target=a result_code=1i\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	wantErr := `line protocol refused the line of target "a", written instead with its unsafe tags quoted and no timestamp: timestamp 2300-01-01T00:00:00Z: line-protocol value out of range`
	if err == nil || err.Error() != wantErr || enc.Err() != nil {
		t.Errorf("error %v (encoder %v), want %s", err, enc.Err(), wantErr)
	}
}
