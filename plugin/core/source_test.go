package core

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// A reload that changes the mode is refused, and the old configuration
// keeps running; a rounds source takes a new configuration for its next
// round.
func TestReloadRefusesAModeChange(t *testing.T) {
	net := newFakeNet(5 * time.Millisecond)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			h := newHarness(t, mode, net, []string{"127.0.0.1"}, fakeSettings())
			other := config.ModeRounds
			if mode == config.ModeRounds {
				other = config.ModeContinuous
			}
			var cfg *config.Config
			if st, ok := h.src.(*Stream); ok {
				cfg = st.st.cfg
			} else {
				cfg = h.src.(*Runner).st.cfg
			}
			bad := withTargets(cfg, "127.0.0.1", "127.0.0.2")
			bad.Mode = other
			err := h.src.(Reloader).Reload(bad)
			if err == nil || !strings.Contains(err.Error(), "mode changed from") {
				t.Fatalf("reload to mode %s: %v, want refused", other, err)
			}
			if n := h.src.Targets(); n != 1 {
				t.Errorf("%d targets after a refused reload, want 1", n)
			}
			if err := h.src.(Reloader).Reload(withTargets(cfg, "127.0.0.1", "127.0.0.2")); err != nil {
				t.Fatal(err)
			}
			if mode == config.ModeRounds {
				if rd := h.src.Next(context.Background()); len(rd.Results) != 2 {
					t.Errorf("round after the reload: %d results, want 2", len(rd.Results))
				}
			}
		})
	}
}
