package bench

import (
	"reflect"
	"testing"
)

func TestParseFpingLoop(t *testing.T) {
	// fping 5.1 -l -Q 10 on stderr: a summary per period under its time,
	// then the totals as it stops; the last line per target wins.
	out := "[12:44:52]\n" +
		"198.19.0.1 : xmt/rcv/%loss = 10/10/0%, min/avg/max = 0.080/0.080/0.080\n" +
		"198.19.0.2 : xmt/rcv/%loss = 10/9/10%, min/avg/max = 0.060/0.060/0.060\n" +
		"198.19.0.1 : xmt/rcv/%loss = 21/21/0%, min/avg/max = 0.060/0.068/0.080\n" +
		"198.19.0.2 : xmt/rcv/%loss = 21/19/9%, min/avg/max = 0.060/0.068/0.080\n" +
		"198.19.0.3 : xmt/rcv/%loss = 21/0/100%\n"
	got := ParseFpingLoop(out)
	want := map[string][2]int{"198.19.0.1": {21, 21}, "198.19.0.2": {21, 19}, "198.19.0.3": {21, 0}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestPluginLines(t *testing.T) {
	out := "hping3,ip=198.19.0.1,protocol=icmp,target=198.19.0.1 packets_transmitted=10i,packets_received=10i,percent_packet_loss=0,average_response_ms=0.0625,result_code=0i 1\n" +
		"hping3,ip=198.19.0.2,protocol=icmp,target=198.19.0.2 packets_transmitted=10i,packets_received=8i,percent_packet_loss=20,result_code=0i 1\n" +
		"hping3,protocol=icmp,target=198.19.0.3 result_code=2i 1\n" +
		"hping3_round targets=3i,processes=1i,failures=1i,packets=20i,capture_drops=4i 1\n" +
		"hping3,ip=198.19.0.1,protocol=icmp,target=198.19.0.1 packets_transmitted=10i,packets_received=9i,result_code=0i 2\n" +
		"hping3_round targets=3i,processes=1i,failures=0i,packets=10i 2\n"
	got := parsePluginLines(out)
	want := map[string]lineCounts{
		"198.19.0.1": {sent: 20, received: 19, average: 0.0625, averaged: true},
		"198.19.0.2": {sent: 10, received: 8},
		"198.19.0.3": {failed: 1, code: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("per target: got %+v, want %+v", got, want)
	}
	windows := make(chan struct{}, 4)
	w := &lineWriter{windows: windows}
	for _, chunk := range []string{out[:50], out[50:200], out[200:]} { // lines split across writes
		w.Write([]byte(chunk))
	}
	if want := (lineCounts{sent: 30, received: 27, failed: 1, windows: 2, drops: 4}); w.total != want || len(windows) != 2 {
		t.Errorf("stream: got %+v and %d window signals, want %+v and 2", w.total, len(windows), want)
	}
}
