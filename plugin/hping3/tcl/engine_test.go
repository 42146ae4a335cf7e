package tcl

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// wantEvent is what parseLine must return for one captured line; a pkt
// line's packet is wantPackets["file:line"].
type wantEvent struct {
	kind  EventKind // 0: the ready line
	id    int
	us    int64 // the stamp, microseconds; 0: no time
	iface string
	err   string
}

var wantEvents = map[string][]wantEvent{
	"loopback.out": {
		{kind: 0},
		{kind: Listening, iface: "lo"},
		{kind: Sent, id: 1, us: 1796127211947899},
		{kind: Captured, iface: "lo", us: 1796127211948072},
		{kind: Sent, id: 2, us: 1796127212049757},
		{kind: Captured, iface: "lo", us: 1796127212050001},
		{kind: Sent, id: 3, us: 1796127212151392},
		{kind: Captured, iface: "lo", us: 1796127212152033},
		{kind: Sent, id: 4, us: 1796127212254407},
		{kind: Captured, iface: "lo", us: 1796127212255028},
		{kind: Sent, id: 5, us: 1796127212355540},
		{kind: Captured, iface: "lo", us: 1796127212356017},
		{kind: Sent, id: 6, us: 1796127212457296},
		{kind: Captured, iface: "lo", us: 1796127212458085},
		{kind: Captured, iface: "lo", us: 1796127212477111},
		{kind: SendFailed, id: 7, us: 1796127212559172,
			err: "Packet building error: 'Unknown keyword: 'bogus'' in packet ip(saddr=127.0.0.1,daddr=127.0.0.1,ttl=0,tos=0,id=107)+bogus(x=1)"},
		{kind: Captured, iface: "lo", us: 1796127212577043},
		{kind: Synced, id: 1, us: 1796127212660788},
	},
	"router.out": {
		{kind: 0},
		{kind: Listening, iface: "a0"},
		{kind: Sent, id: 1, us: 1796127223389769},
		{kind: Captured, iface: "a0", us: 1796127223391512},
		{kind: Sent, id: 2, us: 1796127223492061},
		{kind: Captured, iface: "a0", us: 1796127223492399},
		{kind: Sent, id: 3, us: 1796127223593823},
		{kind: Captured, iface: "a0", us: 1796127223594401},
		{kind: Sent, id: 4, us: 1796127223696186},
		{kind: Captured, iface: "a0", us: 1796127223696399},
		{kind: Sent, id: 5, us: 1796127223797647},
		{kind: Captured, iface: "a0", us: 1796127223798586},
		{kind: Sent, id: 6, us: 1796127223901257},
		{kind: Captured, iface: "a0", us: 1796127223901324},
		{kind: Sent, id: 7, us: 1796127224001784},
		{kind: Captured, iface: "a0", us: 1796127224002400},
		{kind: SendFailed, id: 8, us: 1796127224105899, err: "Sending packet: Network is unreachable"},
		{kind: Synced, id: 2, us: 1796127224208816},
	},
}

func checkEvent(t *testing.T, where string, ev Event, w wantEvent) {
	t.Helper()
	if ev.Kind != w.kind || ev.ID != w.id || ev.Iface != w.iface || ev.Err != w.err {
		t.Errorf("%s: got kind %d id %d iface %q err %q; want kind %d id %d iface %q err %q",
			where, ev.Kind, ev.ID, ev.Iface, ev.Err, w.kind, w.id, w.iface, w.err)
	}
	switch {
	case w.us == 0 && !ev.At.IsZero():
		t.Errorf("%s: time %v, want none", where, ev.At)
	case w.us != 0 && (!ev.At.Equal(time.UnixMicro(w.us)) || ev.At.UnixMicro() != w.us):
		t.Errorf("%s: time %v (%d us), want %v", where, ev.At, ev.At.UnixMicro(), time.UnixMicro(w.us))
	}
	if w.kind != Captured && ev.Packet != nil {
		t.Errorf("%s: a %d event with a packet", where, ev.Kind)
	}
}

func TestParseLineCaptures(t *testing.T) {
	for _, name := range captureFiles {
		lines := captureLines(t, name)
		want := wantEvents[name]
		if len(lines) != len(want) {
			t.Fatalf("%s has %d lines, the test expects %d", name, len(lines), len(want))
		}
		for i, line := range lines {
			where := fmt.Sprintf("%s:%d", name, i+1)
			ev, err := parseLine(line)
			if err != nil {
				t.Errorf("%s: parseLine(%.80q): %v", where, line, err)
				continue
			}
			checkEvent(t, where, ev, want[i])
			if want[i].kind == Captured {
				wp, ok := wantPackets[where]
				if !ok {
					t.Fatalf("%s: no expected packet", where)
				}
				samePacket(t, where, ev.Packet, wp)
			}
		}
	}
}

// Records the script prints but no capture above holds.
func TestParseLineOtherRecords(t *testing.T) {
	for _, c := range []struct {
		line string
		want wantEvent
	}{
		{"ready 1", wantEvent{kind: 0}},
		{"error listen eth9 Unable to open the interface", wantEvent{kind: ListenFailed, iface: "eth9", err: "Unable to open the interface"}},
		{"error listen a0", wantEvent{kind: ListenFailed, iface: "a0"}},
		{"failed 8 1796127224105899", wantEvent{kind: SendFailed, id: 8, us: 1796127224105899}},
		{"failed 0 1 Error opening raw socket: Operation not permitted", wantEvent{kind: SendFailed, id: 0, us: 1, err: "Error opening raw socket: Operation not permitted"}},
		{"sent 0 1796127211947899", wantEvent{kind: Sent, id: 0, us: 1796127211947899}},
		{"sent 2147483647 1796127211947899", wantEvent{kind: Sent, id: 2147483647, us: 1796127211947899}},
		{"sync 0 1796127212660788", wantEvent{kind: Synced, id: 0, us: 1796127212660788}},
		{"listening veth-lab0", wantEvent{kind: Listening, iface: "veth-lab0"}},
	} {
		ev, err := parseLine(c.line)
		if err != nil {
			t.Errorf("parseLine(%q): %v", c.line, err)
			continue
		}
		checkEvent(t, c.line, ev, c.want)
	}
}

func TestParseLineGarbage(t *testing.T) {
	const pkt = "ip(ihl=0x5,ver=0x4,tos=0x00,totlen=28,id=41735,fragoff=0,mf=0,df=0,rf=0,ttl=64,proto=1,cksum=0xd7d9,saddr=127.0.0.1,daddr=127.0.0.1)+icmp(type=0,code=0,id=777,seq=1)"
	// Lines that break the protocol: the engine is not our script.
	for _, line := range []string{
		"",
		" ",
		"hello",
		"hello 1 2",
		"Ready 1796127211651974",
		"SENT 1 1796127211947899",
		"ready",
		"ready ",
		"ready x",
		"ready 0",
		"ready -1796127211651974",
		"ready 1796127211651974 extra",
		"ready 99999999999999999999",
		"sent",
		"sent 1",
		"sent 1 ",
		"sent 1 1796127211947899 extra",
		"sent -1 1796127211947899",
		"sent x 1796127211947899",
		"sent 1.5 1796127211947899",
		"sent 99999999999999999999 1796127211947899",
		"sent 1 0",
		"sent 1 -5",
		"sent 1 1796127211.947899",
		"sent 1 1796127211947899x",
		"sync",
		"sync 1",
		"sync 1 1796127212660788 1",
		"sync -1 1796127212660788",
		"sync 1 x",
		"failed",
		"failed 7",
		"failed -7 1796127212559172 Sending packet: Success",
		"failed 7 now Sending packet: Success",
		"listening",
		"listening ",
		"error",
		"error listen",
		"error send a0 message",
		"pkt",
		"pkt lo",
		"pkt lo 1796127211948072",
		"pkt lo x " + pkt,
		"pkt lo 0 " + pkt,
		"pkt lo -1 " + pkt,
		"pkt " + pkt,
	} {
		ev, err := parseLine(line)
		if err == nil {
			t.Errorf("parseLine(%q) = %+v, want an error", line, ev)
			continue
		}
		if errors.Is(err, errUnparsedPacket) {
			t.Errorf("parseLine(%q): %v is errUnparsedPacket, want a protocol error", line, err)
		}
	}
	// A pkt record whose packet text cannot be read: counted, not fatal.
	for _, text := range []string{
		"",
		"garbage",
		"arp(op=1)",
		strings.Replace(pkt, "ttl=64", "ttl=256", 1),
		strings.Replace(pkt, "saddr=127.0.0.1", "saddr=::1", 1),
		pkt + "+data(str=XXX)",
		pkt + "+data(hex=5)",
		pkt + "+",
		pkt + " trailing",
		strings.Replace(pkt, "+icmp(type=0,code=0,id=777,seq=1)", "+tcp(sport=1)", 1),
	} {
		line := "pkt lo 1796127211948072 " + text
		ev, err := parseLine(line)
		if !errors.Is(err, errUnparsedPacket) {
			t.Errorf("parseLine(%.100q) = %+v, %v; want errUnparsedPacket", line, ev, err)
		}
		if ev.Packet != nil {
			t.Errorf("parseLine(%.100q) gave a packet with its error", line)
		}
	}
}

func TestStamp(t *testing.T) {
	for _, c := range []struct {
		s  string
		us int64
		ok bool
	}{
		{"1", 1, true},
		{"1796127211651974", 1796127211651974, true},
		{"9223372036854775807", 9223372036854775807, true},
		{"0", 0, false},
		{"-1", 0, false},
		{"", 0, false},
		{"1.5", 0, false},
		{"0x10", 0, false},
		{"9223372036854775808", 0, false},
	} {
		at, err := stamp(c.s)
		switch {
		case c.ok && err != nil:
			t.Errorf("stamp(%q): %v", c.s, err)
		case !c.ok && err == nil:
			t.Errorf("stamp(%q) = %v, want an error", c.s, at)
		case c.ok && !at.Equal(time.UnixMicro(c.us)):
			t.Errorf("stamp(%q) = %v, want %v", c.s, at, time.UnixMicro(c.us))
		}
	}
}
