package execd

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// pathResult is a TCP probe of web.example whose path has three hops: two
// ECMP routers at hop 1, a silent hop 2, and the target itself at hop 3.
func pathResult() probe.Result {
	return probe.Result{
		Target: "web.example", IP: "192.0.2.10", Protocol: config.TCP, Port: 443,
		Tags: map[string]string{"site": "par", config.VantageTag: "paris-1"},
		Code: probe.OK, Transmitted: 4, Received: 4,
		RTT: &probe.RTT{Min: 3, Avg: 3.25, Max: 3.5, Detail: true, StdDev: 0.25, Jitter: 0.5, HasJitter: true},
		TTL: 57, PortState: probe.PortOpen, DNS: 1500 * time.Microsecond,
		Path: &probe.Path{HopCount: 3, Reached: true, ID: "0123456789abcdef", Hops: []probe.Hop{
			{Hop: 1, IP: "10.0.0.1", Transmitted: 4, Received: 3, Loss: 0,
				RTT: &probe.RTT{Min: 0.4, Avg: 0.5, Max: 0.6, Detail: true, StdDev: 0.082, Jitter: 0.2, HasJitter: true}},
			{Hop: 1, IP: "10.0.0.2", Transmitted: 4, Received: 1, Loss: 0,
				RTT: &probe.RTT{Min: 0.7, Avg: 0.7, Max: 0.7, Detail: true}},
			{Hop: 2, Transmitted: 4, Loss: 100},
			{Hop: 3, IP: "192.0.2.10", Transmitted: 4, Received: 2, Loss: 50,
				RTT:       &probe.RTT{Min: 3.1, Avg: 3.2, Max: 3.3, Detail: true, StdDev: 0.1, Jitter: 0.2, HasJitter: true},
				PortState: probe.PortOpen},
		}},
	}
}

// The lines of pathResult at ts, written out by hand.
const (
	wantPathTarget = `hping3,ip=192.0.2.10,port=443,protocol=tcp,site=par,target=web.example,vantage=paris-1 ` +
		`packets_transmitted=4i,packets_received=4i,percent_packet_loss=0,minimum_response_ms=3,average_response_ms=3.25,` +
		`maximum_response_ms=3.5,standard_deviation_ms=0.25,jitter_ms=0.5,ttl=57i,duplicates=0i,icmp_errors=0i,` +
		`port_state="open",hop_count=3i,path_id="0123456789abcdef",dns_ms=1.5,result_code=0i 1764045600123456789` + "\n"
	wantPathHops = `hping3_hop,hop=1,hop_ip=10.0.0.1,port=443,protocol=tcp,site=par,target=web.example,vantage=paris-1 ` +
		`packets_transmitted=4i,packets_received=3i,percent_packet_loss=0,minimum_response_ms=0.4,average_response_ms=0.5,` +
		`maximum_response_ms=0.6,standard_deviation_ms=0.082,jitter_ms=0.2 1764045600123456789` + "\n" +
		`hping3_hop,hop=1,hop_ip=10.0.0.2,port=443,protocol=tcp,site=par,target=web.example,vantage=paris-1 ` +
		`packets_transmitted=4i,packets_received=1i,percent_packet_loss=0,minimum_response_ms=0.7,average_response_ms=0.7,` +
		`maximum_response_ms=0.7,standard_deviation_ms=0 1764045600123456789` + "\n" +
		`hping3_hop,hop=2,port=443,protocol=tcp,site=par,target=web.example,vantage=paris-1 ` +
		`packets_transmitted=4i,packets_received=0i,percent_packet_loss=100 1764045600123456789` + "\n" +
		`hping3_hop,hop=3,hop_ip=192.0.2.10,port=443,protocol=tcp,site=par,target=web.example,vantage=paris-1 ` +
		`packets_transmitted=4i,packets_received=2i,percent_packet_loss=50,minimum_response_ms=3.1,average_response_ms=3.2,` +
		`maximum_response_ms=3.3,standard_deviation_ms=0.1,jitter_ms=0.2,port_state="open" 1764045600123456789` + "\n"
)

// A path's hops follow the target's line at its timestamp, one line per
// responder (two at the ECMP hop 1), the silent hop 2 without hop_ip; the
// target's line gains hop_count and path_id. The next target's line follows.
func TestEncodePathHopLines(t *testing.T) {
	rd := core.Report{Start: ts, Results: []probe.Result{
		pathResult(),
		{Target: "b", Protocol: config.ICMP, Code: probe.NoSuchHost},
	}}
	want := wantPathTarget + wantPathHops + "hping3,protocol=icmp,target=b result_code=1i 1764045600123456789\n"
	if got := string(Encode(rd)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// Over several flows the target's line gains paths, each hop line the
// flows its responder answered, and one hping3_flow line per flow follows
// the hop lines, with the flow's hop count and path id.
func TestEncodePathFlows(t *testing.T) {
	r := probe.Result{
		Target: "198.51.100.9", IP: "198.51.100.9", Protocol: config.ICMP,
		Code: probe.OK, Transmitted: 2, Received: 2, TTL: 62,
		Path: &probe.Path{HopCount: 2, Reached: true, Ended: true, ID: "00000000000000aa", Distinct: 2, Hops: []probe.Hop{
			{Hop: 1, IP: "10.0.0.1", Transmitted: 1, Received: 1, Flows: 1},
			{Hop: 1, IP: "10.0.0.2", Transmitted: 1, Received: 1, Flows: 1},
			{Hop: 2, IP: "198.51.100.9", Transmitted: 2, Received: 2, Flows: 2},
		}, Flows: []probe.FlowPath{{Flow: 0, HopCount: 2, Reached: true, Ended: true, ID: "0000000000000001"}, {Flow: 1, HopCount: 2, Reached: true, Ended: true, ID: "0000000000000002"}}},
	}
	want := `hping3,ip=198.51.100.9,protocol=icmp,target=198.51.100.9 packets_transmitted=2i,packets_received=2i,percent_packet_loss=0,ttl=62i,duplicates=0i,icmp_errors=0i,hop_count=2i,path_id="00000000000000aa",paths=2i,dns_ms=0,result_code=0i 1764045600123456789` + "\n" +
		`hping3_hop,hop=1,hop_ip=10.0.0.1,protocol=icmp,target=198.51.100.9 packets_transmitted=1i,packets_received=1i,percent_packet_loss=0,flows=1i 1764045600123456789` + "\n" +
		`hping3_hop,hop=1,hop_ip=10.0.0.2,protocol=icmp,target=198.51.100.9 packets_transmitted=1i,packets_received=1i,percent_packet_loss=0,flows=1i 1764045600123456789` + "\n" +
		`hping3_hop,hop=2,hop_ip=198.51.100.9,protocol=icmp,target=198.51.100.9 packets_transmitted=2i,packets_received=2i,percent_packet_loss=0,flows=2i 1764045600123456789` + "\n" +
		`hping3_flow,flow=0,protocol=icmp,target=198.51.100.9 hop_count=2i,path_id="0000000000000001" 1764045600123456789` + "\n" +
		`hping3_flow,flow=1,protocol=icmp,target=198.51.100.9 hop_count=2i,path_id="0000000000000002" 1764045600123456789` + "\n"
	if got := string(Encode(core.Report{Start: ts, Results: []probe.Result{r}})); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// An ICMP path has no port tag and no port_state on any line.
func TestEncodePathICMP(t *testing.T) {
	r := probe.Result{
		Target: "198.51.100.9", IP: "198.51.100.9", Protocol: config.ICMP,
		Code: probe.OK, Transmitted: 2, Received: 2, TTL: 62,
		RTT: &probe.RTT{Min: 1, Avg: 1.5, Max: 2, Detail: true, StdDev: 0.5, Jitter: 1, HasJitter: true},
		Path: &probe.Path{HopCount: 1, Reached: true, ID: "fedcba9876543210", Hops: []probe.Hop{
			{Hop: 1, IP: "198.51.100.9", Transmitted: 2, Received: 2, RTT: &probe.RTT{Min: 1, Avg: 1, Max: 1, Detail: true, Jitter: 0, HasJitter: true}},
		}},
	}
	want := `hping3,ip=198.51.100.9,protocol=icmp,target=198.51.100.9 packets_transmitted=2i,packets_received=2i,percent_packet_loss=0,` +
		`minimum_response_ms=1,average_response_ms=1.5,maximum_response_ms=2,standard_deviation_ms=0.5,jitter_ms=1,ttl=62i,` +
		`duplicates=0i,icmp_errors=0i,hop_count=1i,path_id="fedcba9876543210",dns_ms=0,result_code=0i 1764045600123456789` + "\n" +
		`hping3_hop,hop=1,hop_ip=198.51.100.9,protocol=icmp,target=198.51.100.9 packets_transmitted=2i,packets_received=2i,` +
		`percent_packet_loss=0,minimum_response_ms=1,average_response_ms=1,maximum_response_ms=1,standard_deviation_ms=0,jitter_ms=0 1764045600123456789` + "\n"
	if got := string(Encode(core.Report{Start: ts, Results: []probe.Result{r}})); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// Without a path (path = false) there is no hop line and no path field; a
// probe that did not run reports none either, whatever it carries.
func TestEncodeNoPathNoHopLines(t *testing.T) {
	r := pathResult()
	r.Path = nil
	want := `hping3,ip=192.0.2.10,port=443,protocol=tcp,site=par,target=web.example,vantage=paris-1 ` +
		`packets_transmitted=4i,packets_received=4i,percent_packet_loss=0,minimum_response_ms=3,average_response_ms=3.25,` +
		`maximum_response_ms=3.5,standard_deviation_ms=0.25,jitter_ms=0.5,ttl=57i,duplicates=0i,icmp_errors=0i,` +
		`port_state="open",dns_ms=1.5,result_code=0i 1764045600123456789` + "\n"
	if got := string(Encode(core.Report{Start: ts, Results: []probe.Result{r}})); got != want {
		t.Errorf("no path:\n got %s\nwant %s", got, want)
	}

	failed := pathResult()
	failed.Code = probe.Failed
	want = `hping3,ip=192.0.2.10,port=443,protocol=tcp,site=par,target=web.example,vantage=paris-1 dns_ms=1.5,result_code=2i 1764045600123456789` + "\n"
	if got := string(Encode(core.Report{Start: ts, Results: []probe.Result{failed}})); got != want {
		t.Errorf("failed probe:\n got %s\nwant %s", got, want)
	}
}

// A group tag never replaces a hop line's own tags, nor gives a silent hop
// a hop_ip or a hop line the target's ip.
func TestEncodeHopTagsNeverOverriddenByGroupTags(t *testing.T) {
	r := probe.Result{Target: "t", IP: "192.0.2.1", Protocol: config.ICMP, Code: probe.OK, Transmitted: 1, TTL: -1,
		Tags: map[string]string{"hop": "spoof", "hop_ip": "spoof", "ip": "spoof", "a": "1"},
		Path: &probe.Path{HopCount: 1, ID: "0000000000000001", Hops: []probe.Hop{{Hop: 1, Transmitted: 1, Loss: 100}}}}
	var enc lineprotocol.Encoder
	if err := AppendResult(&enc, &r, ts); err != nil {
		t.Fatal(err)
	}
	want := `hping3,a=1,hop=spoof,hop_ip=spoof,ip=192.0.2.1,protocol=icmp,target=t packets_transmitted=1i,packets_received=0i,` +
		`percent_packet_loss=0,duplicates=0i,icmp_errors=0i,hop_count=1i,path_id="0000000000000001",dns_ms=0,result_code=0i 1764045600123456789` + "\n" +
		`hping3_hop,a=1,hop=1,protocol=icmp,target=t packets_transmitted=1i,packets_received=0i,percent_packet_loss=100 1764045600123456789` + "\n"
	if got := string(enc.Bytes()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// A target line the encoder refuses is rewritten with its unsafe tags
// quoted; its hop lines carry the same tags and are written quoted too, and
// the one refusal is reported once.
func TestAppendResultRefusedLineQuotesItsHopLines(t *testing.T) {
	r := probe.Result{Target: "t", IP: "192.0.2.1", Protocol: config.ICMP, Code: probe.OK, Transmitted: 1, Received: 1, TTL: 64,
		RTT:  &probe.RTT{Min: 1, Avg: 1, Max: 1, Detail: true},
		Tags: map[string]string{"site": "par\t1"},
		Path: &probe.Path{HopCount: 1, Reached: true, ID: "0000000000000002", Hops: []probe.Hop{
			{Hop: 1, IP: "192.0.2.1", Transmitted: 1, Received: 1, RTT: &probe.RTT{Min: 1, Avg: 1, Max: 1, Detail: true}}}}}
	var enc lineprotocol.Encoder
	err := AppendResult(&enc, &r, ts)
	want := `hping3,ip=192.0.2.1,protocol=icmp,site="par\t1",target=t packets_transmitted=1i,packets_received=1i,percent_packet_loss=0,` +
		`minimum_response_ms=1,average_response_ms=1,maximum_response_ms=1,standard_deviation_ms=0,ttl=64i,duplicates=0i,icmp_errors=0i,` +
		`hop_count=1i,path_id="0000000000000002",dns_ms=0,result_code=0i 1764045600123456789` + "\n" +
		`hping3_hop,hop=1,hop_ip=192.0.2.1,protocol=icmp,site="par\t1",target=t packets_transmitted=1i,packets_received=1i,` +
		`percent_packet_loss=0,minimum_response_ms=1,average_response_ms=1,maximum_response_ms=1,standard_deviation_ms=0 1764045600123456789` + "\n"
	if got := string(enc.Bytes()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	wantErr := `line protocol refused the line of target "t", written instead with its unsafe tags quoted: invalid tag value site="par\t1"`
	if err == nil || err.Error() != wantErr || enc.Err() != nil {
		t.Errorf("error %v (encoder %v), want %s", err, enc.Err(), wantErr)
	}
}

// The long-running mode writes a window's hop lines with its target lines,
// before the window's hping3_round line, in the window's one Write.
func TestLoopWritesHopLines(t *testing.T) {
	win := core.Report{Window: true, Start: ts, Duration: 10 * time.Second, Processes: 1, Packets: 4, Results: []probe.Result{pathResult()}}
	out := newWrites()
	l := loop{round: func(context.Context) core.Report { return win }, continuous: true, out: out, log: logger.New(io.Discard, false), grace: stopGrace}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- l.run(context.Background(), pr, nil) }()
	writeLine(t, pw)
	out.wait(t, 1)
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := wantPathTarget + wantPathHops +
		"hping3_round targets=1i,processes=1i,failures=0i,packets=4i,engine_restarts=0i,kernel_stamped=0i,send_stamp_fallbacks=0i,hping3_stamped=0i,capture_drops=0i,duration_ms=10000,overrun=false 1764045600123456789\n"
	if got := out.all(); len(got) != 1 || got[0] != want {
		t.Errorf("writes %q\nwant one: %q", got, want)
	}
}
