package tcl

import (
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// TestEngineExitsOnEndOfInput: the script ends by itself when the plugin
// closes its input (hping3 would not notice), so an engine never outlives
// the plugin's side of the pipe.
func TestEngineExitsOnEndOfInput(t *testing.T) {
	bin := testbin.RequireTool(t, "hping3")
	p, err := Start(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Sync(7); err != nil {
		t.Fatal(err)
	}
	select {
	case evs := <-p.Events():
		if len(evs) != 1 || evs[0].Kind != Synced || evs[0].ID != 7 {
			t.Fatalf("events %+v, want sync 7", evs)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no answer to sync")
	}
	p.stdin.Close()
	select {
	case <-p.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("the engine still runs 2s after its input closed")
	}
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "the hping3 engine stopped (exit status 0)") {
		t.Errorf("Err() = %v, want a clean exit", err)
	}
}

// TestEngineReadsOnlyItsLines: a send line is "send", a number and one
// word of printable characters, split by single spaces; the script exits
// (status 4) on any other line, without sending. A word holding Tcl's
// own syntax is data: `hping send` refuses it as a packet, and the script
// goes on.
func TestEngineReadsOnlyItsLines(t *testing.T) {
	bin := testbin.RequireTool(t, "hping3")
	const pkt = "ip(saddr=127.0.0.1,daddr=127.0.0.1,ttl=64,tos=0,id=1)+icmp(type=8,code=0,id=1,seq=1)"
	start := func() *Process {
		p, err := Start(bin)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}
	next := func(p *Process) []Event {
		select {
		case evs := <-p.Events():
			return evs
		case <-time.After(2 * time.Second):
			t.Fatal("no record within 2s")
		}
		return nil
	}
	for _, line := range []string{
		"send 1 " + pkt + " x", "send x " + pkt, "send -1 " + pkt, "send 1", "send 1 ", "send  1 " + pkt,
		"send 1 \t" + pkt, "Send 1 " + pkt, "send 1 " + pkt + "\r", "exit 0",
	} {
		p := start()
		if err := p.write(line + "\n"); err != nil {
			t.Fatal(err)
		}
		select {
		case evs, ok := <-p.Events():
			if ok {
				t.Errorf("%q: records %+v, want none", line, evs)
				continue
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("%q: the engine still runs 2s later", line)
		}
		<-p.Done() // the events end when the engine has
		if err := p.Err(); err == nil || !strings.Contains(err.Error(), "exit status 4") {
			t.Errorf("%q: %v, want exit status 4", line, err)
		}
	}

	p := start()
	if err := p.write("send 1 " + pkt + "\nsend 2 ip(saddr=[exit_9])\nsync 3\n"); err != nil {
		t.Fatal(err)
	}
	var got []Event
	for len(got) < 3 {
		got = append(got, next(p)...)
	}
	if got[0].Kind != Sent || got[0].ID != 1 || got[1].Kind != SendFailed || got[1].ID != 2 || got[2].Kind != Synced || got[2].ID != 3 {
		t.Fatalf("records %+v, want sent 1, failed 2, sync 3", got)
	}
	if !strings.Contains(got[1].Err, "[exit_9]") {
		t.Errorf("failed 2: %q, want hping3's refusal of the packet text", got[1].Err)
	}
}
