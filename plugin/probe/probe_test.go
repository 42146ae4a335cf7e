package probe

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// hping3 printing statistics for 0 packets sent measured nothing: the probe
// failed, it did not see 0% loss.
func TestRunNothingSentIsAFailure(t *testing.T) {
	stand := filepath.Join(t.TempDir(), "hping3")
	script := "#!/bin/sh\n" +
		"echo 'HPING 127.0.0.1 (lo 127.0.0.1): icmp mode set, 28 headers + 0 data bytes'\n" +
		"printf '\\n--- 127.0.0.1 hping statistic ---\\n0 packets transmitted, 0 packets received, 0%% packet loss\\nround-trip min/avg/max = 0.0/0.0/0.0 ms\\n' >&2\n" +
		"exit 1\n"
	if err := os.WriteFile(stand, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := config.DefaultSettings()
	s.HPing3, s.Count, s.Interval, s.Timeout = stand, 2, 100*time.Millisecond, 200*time.Millisecond
	r := Run(context.Background(), Target{Name: "t", Res: Resolution{IP: "127.0.0.1"}}, s, 3000)
	if r.Code != Failed || r.Err == nil || !strings.Contains(r.Err.Error(), "hping3 sent no packet (exit status 1)") {
		t.Errorf("result code %d, error %v; want %d and 'sent no packet'", r.Code, r.Err, Failed)
	}
}
