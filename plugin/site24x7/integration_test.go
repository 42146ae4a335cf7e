package site24x7

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// runPlugin runs the built binary with args and returns the one JSON object
// it printed. It fails the test unless the exit status is 0 and stdout is
// exactly one line of JSON, as the agent needs.
func runPlugin(t *testing.T, cred *syscall.Credential, bin string, args ...string) map[string]any {
	t.Helper()
	// A bound far above any deadline used here, only so a hang fails the
	// test instead of stalling the suite.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if err := cmd.Run(); err != nil {
		t.Fatalf("%q: %v\nstdout: %s\nstderr: %s", args, err, stdout.Bytes(), stderr.Bytes())
	}
	out := stdout.Bytes()
	if bytes.Count(out, []byte("\n")) != 1 || !bytes.HasSuffix(out, []byte("\n")) {
		t.Fatalf("%q: stdout is not one line:\n%s", args, out)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("%q: stdout is not a JSON object: %v\n%s", args, err, out)
	}
	t.Logf("%q -> %s", args, out)
	return m
}

// wantDown checks a Down object: status 0 and a msg containing every part.
func wantDown(t *testing.T, m map[string]any, parts ...string) {
	t.Helper()
	msg, _ := m["msg"].(string)
	if m["status"] != 0.0 || msg == "" {
		t.Fatalf("status = %v, msg = %q; want status 0 with a msg", m["status"], msg)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("msg %q lacks %q", msg, p)
		}
	}
	for _, k := range []string{"rt min", "rt avg", "rt max"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s present in a Down object: %v", k, m[k])
		}
	}
}

// openPort returns a loopback TCP port that the test listens on for its
// duration: a SYN to it draws a SYN-ACK.
func openPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func TestBinaryOldCommandLine(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	bin := testbin.Plugin(t)
	// Port 8040's state is whatever this host runs there, so these cases
	// check everything but the port state; TestBinaryPortState checks that
	// on ports the test holds.
	cases := []struct {
		args      []string
		heartbeat bool
		version   float64
	}{
		// Exactly the old plugin's documented test command: TCP SYN to
		// port 8040, 2 packets 2 s apart.
		{[]string{"--site24x7", "--host", "localhost", "--plugin-version", "1", "--heartbeat", "True"}, true, 1},
		{[]string{"--site24x7", "--host", "localhost", "--plugin-version", "1", "--heartbeat", "True", "--count", "2", "--interval", "100ms"}, true, 1},
		// As the agent passes the .cfg keys.
		{[]string{"--site24x7", "--host=localhost", "--plugin_version=2", "--heartbeat=False", "--count=3", "--interval=100ms"}, false, 2},
	}
	for _, c := range cases {
		m := runPlugin(t, nil, bin, c.args...)
		if _, down := m["status"]; down {
			t.Fatalf("%q: Down: %v", c.args, m["msg"])
		}
		if m["host"] != "localhost" || m["plugin_version"] != c.version || m["heartbeat_required"] != c.heartbeat {
			t.Errorf("%q: header host=%v plugin_version=%v heartbeat_required=%v", c.args, m["host"], m["plugin_version"], m["heartbeat_required"])
		}
		sent := 2.0
		if strings.Contains(strings.Join(c.args, " "), "--count=3") {
			sent = 3
		}
		if m["packets transmitted"] != sent || m["packets received"] != sent || m["packets loss"] != 0.0 {
			t.Errorf("%q: transmitted %v received %v loss %v; want %v, %v, 0 (loopback answers every SYN)",
				c.args, m["packets transmitted"], m["packets received"], m["packets loss"], sent, sent)
		}
		// hping3 prints rtt to 0.1 ms, so a loopback reply may read 0.0.
		lo, ok1 := m["rt min"].(float64)
		avg, ok2 := m["rt avg"].(float64)
		hi, ok3 := m["rt max"].(float64)
		if !(ok1 && ok2 && ok3 && lo >= 0 && lo <= avg && avg <= hi && hi < 500) {
			t.Errorf("%q: rt min/avg/max = %v/%v/%v; want numbers 0 <= min <= avg <= max < 500 ms on loopback", c.args, m["rt min"], m["rt avg"], m["rt max"])
		}
		if m["ttl"] != 64.0 || m["ip"] != "127.0.0.1" || m["protocol"] != "tcp" || m["port"] != 8040.0 {
			t.Errorf("%q: ttl %v ip %v protocol %v port %v", c.args, m["ttl"], m["ip"], m["protocol"], m["port"])
		}
		units, _ := m["units"].(map[string]any)
		if units["packets loss"] != "%" || units["rt avg"] != "ms" {
			t.Errorf("%q: units %v", c.args, m["units"])
		}
	}
}

// The old probe's port state, against a port the test listens on and one
// it holds closed, so the check never depends on what the host runs.
func TestBinaryPortState(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	bin := testbin.Plugin(t)
	for _, c := range []struct {
		state string
		port  int
	}{{"open", openPort(t)}, {"closed", testbin.ClosedPort(t, false)}} {
		args := []string{"--site24x7", "--host", "127.0.0.1", "--port", strconv.Itoa(c.port), "--count", "2", "--interval", "100ms"}
		m := runPlugin(t, nil, bin, args...)
		if _, down := m["status"]; down {
			t.Fatalf("%q: Down: %v", args, m["msg"])
		}
		if m["port state"] != c.state || m["port"] != float64(c.port) || m["protocol"] != "tcp" || m["packets received"] != 2.0 || m["packets loss"] != 0.0 {
			t.Errorf("%s port %d: port state %v, port %v, protocol %v, received %v, loss %v; want %s, %d, tcp, 2, 0",
				c.state, c.port, m["port state"], m["port"], m["protocol"], m["packets received"], m["packets loss"], c.state, c.port)
		}
	}
}

// standIn writes an executable script to stand in for hping3.
func standIn(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hping3")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// processesWith returns the pids whose command line contains marker.
func processesWith(marker string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err == nil && bytes.Contains(b, []byte(marker)) {
			if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func TestBinaryDeadline(t *testing.T) {
	bin := testbin.Plugin(t)
	// An hping3 that ignores SIGINT and SIGTERM and never exits; the sleep
	// length is a marker to find it afterwards.
	const marker = "86399.4242"
	fake := standIn(t, "trap '' INT TERM\nexec sleep "+marker)
	t.Cleanup(func() {
		for _, pid := range processesWith(marker) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	start := time.Now()
	m := runPlugin(t, nil, bin, "--site24x7", "--host", "127.0.0.1", "--hping3", fake,
		"--count", "2", "--interval", "100ms", "--deadline", "2s")
	took := time.Since(start)
	wantDown(t, m, "timed out", "2s deadline", "--deadline")
	// Not a timing benchmark: a bound that separates "stopped near the
	// deadline" from "waited for the stand-in", which never ends.
	if took > 2*time.Second+stopGrace+5*time.Second {
		t.Errorf("the run took %v with a 2s deadline", took)
	}
	// The stand-in must not outlive the plugin. The core kills the process
	// group before returning; allow it a moment to be reaped.
	for i := 0; i < 20 && len(processesWith(marker)) > 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if p := processesWith(marker); len(p) > 0 {
		t.Errorf("the stand-in hping3 is still running after the plugin exited: pids %v", p)
	}
}

func TestBinaryHPing3Missing(t *testing.T) {
	bin := testbin.Plugin(t)
	m := runPlugin(t, nil, bin, "--site24x7", "--host", "127.0.0.1", "--plugin-version", "1",
		"--heartbeat", "True", "--hping3", "/nonexistent/hping3")
	wantDown(t, m, "hping3 not found at /nonexistent/hping3", "apt-get install hping3")
	if m["host"] != "127.0.0.1" || m["plugin_version"] != 1.0 || m["heartbeat_required"] != true {
		t.Errorf("header %v %v %v", m["host"], m["plugin_version"], m["heartbeat_required"])
	}
}

func TestBinaryNoPermission(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	// The plugin as an ordinary user without CAP_NET_RAW, like an agent
	// running as its own user: hping3 cannot open its raw socket.
	dir, err := os.MkdirTemp("", "site24x7-noperm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	copyBin := filepath.Join(dir, "hping3-plugin")
	b, err := os.ReadFile(testbin.Plugin(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyBin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	m := runPlugin(t, nobody, copyBin, "--site24x7", "--host", "localhost", "--count", "1", "--interval", "100ms")
	wantDown(t, m, "no permission to open raw sockets", "setcap cap_net_raw+ep")
}

func TestBinaryHostileHosts(t *testing.T) {
	bin := testbin.Plugin(t)
	dir := t.TempDir()
	// A stand-in hping3 that leaves a mark if it is ever run: hostile
	// names must be refused before anything runs.
	ran := filepath.Join(dir, "hping3-ran")
	fake := standIn(t, "touch '"+ran+"'")
	pwned := filepath.Join(dir, "pwned")
	_, statErr := os.Stat("/tmp/x")
	tmpXBefore := !errors.Is(statErr, os.ErrNotExist)
	cases := map[string]string{
		"localhost; touch /tmp/x":       "is not a valid host name",
		"localhost; touch " + pwned:     "is not a valid host name",
		"$(touch " + pwned + ")":        "is not a valid host name",
		"`touch " + pwned + "`":         "is not a valid host name",
		"-c 1000000":                    "begins with '-'",
		"$(id)":                         "is not a valid host name",
		strings.Repeat("a", 300):        "300 characters",
		"localhost\n--flood":            "is not a valid host name",
		"localhost --flood --rand-dest": "is not a valid host name",
	}
	for host, want := range cases {
		m := runPlugin(t, nil, bin, "--site24x7", "--host", host, "--plugin-version", "1",
			"--heartbeat", "True", "--hping3", fake)
		wantDown(t, m, want, "nothing was sent", "hping3.cfg")
		if m["host"] != host {
			t.Errorf("host = %q, want the value given, %q", m["host"], host)
		}
	}
	if _, err := os.Stat(ran); err == nil {
		t.Fatal("hping3 was run for a hostile host")
	}
	// The stand-in does leave its mark when a valid host reaches it, so
	// the check above can fail.
	runPlugin(t, nil, bin, "--site24x7", "--host", "127.0.0.1", "--hping3", fake, "--count", "1", "--interval", "100ms")
	if _, err := os.Stat(ran); err != nil {
		t.Fatalf("the stand-in hping3 left no mark for a valid host: %v", err)
	}
	for _, p := range []string{pwned} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists: a hostile host ran something", p)
		}
	}
	if _, err := os.Stat("/tmp/x"); !tmpXBefore && err == nil {
		t.Error("/tmp/x was created by a hostile host")
	}
}

// TestBinaryPath: --path through the real binary and hping3. The path to
// loopback is one hop; the first run has no previous path (no change), the
// second the same one, and after the kept path is replaced by another the
// third reports the change.
func TestBinaryPath(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	bin := testbin.Plugin(t)
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	port := openPort(t)
	args := []string{"--site24x7", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--count", "2", "--interval", "100ms", "--path"}
	for run, want := range []float64{0, 0, 1} {
		if run == 2 {
			kept := filepath.Join(cache, "hping3-plugin", "site24x7-127.0.0.1-tcp-"+strconv.Itoa(port)+".path")
			if _, err := os.Stat(kept); err != nil {
				t.Fatalf("the previous path is not kept: %v", err)
			}
			if err := os.WriteFile(kept, []byte("00000000000000ff\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		m := runPlugin(t, nil, bin, args...)
		if _, down := m["status"]; down {
			t.Fatalf("run %d: Down: %v", run+1, m["msg"])
		}
		if m["hop count"] != 1.0 || m["path changed"] != want || m["port state"] != "open" {
			t.Errorf("run %d: hop count %v, path changed %v, port state %v; want 1, %v, open", run+1, m["hop count"], m["path changed"], m["port state"], want)
		}
	}
}
