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

// A bare hping3 name is a program on PATH, never a file in the directory
// the plugin happens to run in.
func TestBinaryBareNameUsesPATH(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hping3-in-cwd"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if p, err := Binary("hping3-in-cwd"); err == nil || !strings.Contains(err.Error(), `hping3 "hping3-in-cwd" not found on PATH`) {
		t.Errorf("Binary(hping3-in-cwd) = %q, %v; want not found on PATH", p, err)
	}
	if p, err := Binary("sh"); err != nil || !filepath.IsAbs(p) || filepath.Base(p) != "sh" {
		t.Errorf(`Binary("sh") = %q, %v; want sh's absolute path from PATH`, p, err)
	}
	if p, err := Binary("./hping3-in-cwd"); err != nil || p != "./hping3-in-cwd" {
		t.Errorf("an explicit relative path: %q, %v; want it as given", p, err)
	}
}

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
