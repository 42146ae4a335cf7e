package hardening

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// TestMakeRunSaysWhatItNeeds: `make run` checks, before building, what a
// newcomer may lack: as nobody, with an hping3 that has no CAP_NET_RAW, it
// says to run as root or give hping3 the capability, instead of probing
// and printing result_code=2; with a Go older than go.mod's it names both
// versions; as root with this Go it goes on.
func TestMakeRunSaysWhatItNeeds(t *testing.T) {
	testbin.RequireRoot(t)
	mk := testbin.RequireTool(t, "make")
	setpriv := testbin.RequireTool(t, "setpriv")
	hping3 := testbin.RequireTool(t, "hping3")
	if out, _ := exec.Command("getcap", hping3).CombinedOutput(); strings.Contains(string(out), "cap_net_raw") {
		t.Fatalf("%s has CAP_NET_RAW on this host (%s): this test needs it without", hping3, out)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	repo := testbin.RepoRoot()
	preflight := func(env []string, argv ...string) (string, error) {
		cmd := exec.Command(argv[0], append(argv[1:], mk, "-s", "-C", repo, "preflight", "GO="+goBin)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := preflight(nil, "env"); err != nil {
		t.Errorf("as root: %v\n%s", err, out)
	}
	out, err := preflight([]string{"HOME=/tmp"}, setpriv, "--reuid=65534", "--regid=65534", "--clear-groups")
	if err == nil || !strings.Contains(out, "run it as root (sudo make run), or give hping3 CAP_NET_RAW (sudo setcap cap_net_raw+ep "+hping3) {
		t.Errorf("as nobody: %v, %q; want it to stop, saying it needs root or CAP_NET_RAW on %s", err, out, hping3)
	}

	mod, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var want string
	for _, l := range strings.Split(string(mod), "\n") {
		if v, ok := strings.CutPrefix(l, "go "); ok {
			want = v
		}
	}
	old := filepath.Join(t.TempDir(), "go")
	if err := os.WriteFile(old, []byte("#!/bin/sh\necho go1.22.1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mk, "-s", "-C", repo, "preflight", "GO="+old)
	got, err := cmd.CombinedOutput()
	if err == nil || want == "" || !strings.Contains(string(got), "make run needs Go "+want+" or later (go.mod); "+old+" is 1.22.1") {
		t.Errorf("with Go 1.22.1: %v, %q; want it to stop, naming both versions", err, got)
	}
}
