package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// In the Telegraf mode a targets file that changes is read again: the
// next report has its targets, with their labels as tags, and no more the
// ones it dropped. A file made invalid is refused with one E!, and the
// reports go on with the targets before.
func TestTelegrafModeRereadsTheTargetsFile(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	dir := t.TempDir()
	sd := filepath.Join(dir, "targets.yml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(sd+".new", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(sd+".new", sd); err != nil {
			t.Fatal(err)
		}
	}
	write("- targets: [127.0.0.1]\n  labels: {rack: a}\n")
	conf := filepath.Join(dir, "hping3.conf")
	os.WriteFile(conf, []byte("[[inputs.hping3]]\ntargets_file = \"targets.yml\"\ninterval = \"100ms\"\ntimeout = \"200ms\"\n"), 0o644)

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, testbin.Plugin(t), "--config", conf)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr := &testbin.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("plugin stderr:\n%s", stderr)
		}
	}()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// report asks for a report and returns its hping3 lines.
	report := func() []string {
		t.Helper()
		io.WriteString(stdin, "\n")
		var out []string
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("the plugin's stdout ended")
				}
				if strings.HasPrefix(l, "hping3_round") {
					return out
				}
				if strings.HasPrefix(l, "hping3,") {
					out = append(out, l)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no report within 10 s")
			}
		}
	}
	waitLog := func(s string, n int) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); strings.Count(stderr.String(), s) < n; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log within 15 s", s)
			}
		}
	}
	time.Sleep(time.Second)
	first := report()
	if len(first) != 1 || !strings.Contains(first[0], "rack=a") || !strings.Contains(first[0], "target=127.0.0.1") {
		t.Fatalf("first report %q, want 127.0.0.1 with rack=a", first)
	}

	write("- targets: [127.0.0.2]\n  labels: {rack: b}\n")
	waitLog("I! reload: 1 target from the configuration and "+sd, 1)
	time.Sleep(time.Second)
	report() // the window of the change
	time.Sleep(time.Second)
	got := report()
	if len(got) != 1 || !strings.Contains(got[0], "rack=b") || !strings.Contains(got[0], "target=127.0.0.2") || !strings.Contains(got[0], "result_code=0i") {
		t.Fatalf("report after the change %q, want only 127.0.0.2 with rack=b, probed", got)
	}

	write("- targets: [127.0.0.3]\n  labels: {instance: c}\n")
	waitLog("E! reload refused, the previous configuration keeps running: ", 1)
	if n := strings.Count(stderr.String(), "E! "); n != 1 {
		t.Errorf("%d E! lines for one broken file, want 1", n)
	}
	time.Sleep(500 * time.Millisecond)
	report()
	time.Sleep(time.Second)
	got = report()
	if len(got) != 1 || !strings.Contains(got[0], "target=127.0.0.2") {
		t.Errorf("report after a broken file %q, want 127.0.0.2 still", got)
	}
}
