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
