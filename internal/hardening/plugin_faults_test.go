package hardening

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// hangingHPing3 is a stand-in that writes its pid and then neither answers
// nor stops on SIGINT, so a round is surely running when the test acts.
func hangingHPing3(t *testing.T, dir string) (bin, pidFile string) {
	pidFile = filepath.Join(dir, "pid")
	bin = script(t, dir, "hping3-hang", "trap '' INT TERM\necho $$ >"+pidFile+"\nwhile :; do sleep 1; done\n")
	return bin, pidFile
}

// startPlugin starts the binary in Telegraf's STDIN mode with pipes for all
// three streams.
func startPlugin(t *testing.T, args ...string) (cmd *exec.Cmd, stdin io.WriteCloser, stdout io.ReadCloser, stderr *bytes.Buffer) {
	t.Helper()
	return startPluginEnv(t, nil, args...)
}

// startPluginEnv is startPlugin with extra environment variables.
func startPluginEnv(t *testing.T, env []string, args ...string) (cmd *exec.Cmd, stdin io.WriteCloser, stdout io.ReadCloser, stderr *bytes.Buffer) {
	t.Helper()
	cmd = exec.Command(testbin.Plugin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var err error
	if stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if stdout, err = cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	stderr = &bytes.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, stdin, stdout, stderr
}

// exitWithin waits for cmd and returns its exit status, failing when it
// takes longer than limit.
func exitWithin(t *testing.T, cmd *exec.Cmd, limit time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, time.Since(start)
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the plugin did not exit within %v", limit)
		return 0, 0
	}
}

// TestStopMidRound: stdin EOF (Telegraf's stop) and SIGTERM while hping3
// runs each end the plugin with status 0 within about a second, with
// nothing on stdout (no partial round) and no hping3 left.
func TestStopMidRound(t *testing.T) {
	for _, how := range []string{"stdin EOF", "SIGTERM", "SIGINT"} {
		t.Run(how, func(t *testing.T) {
			dir := testbin.OpenDir(t)
			bin, pidFile := hangingHPing3(t, dir)
			cmd, stdin, stdout, stderr := startPlugin(t, "--mode", "rounds", "--hping3", bin, "--target", "127.0.0.1", "--target", "127.0.0.2", "--count", "3", "--interval", "100ms")
			out := make(chan []byte, 1)
			go func() { b, _ := io.ReadAll(stdout); out <- b }()
			io.WriteString(stdin, "\n")
			pid := readPID(t, pidFile, 5*time.Second)
			switch how {
			case "stdin EOF":
				stdin.Close()
			case "SIGTERM":
				cmd.Process.Signal(syscall.SIGTERM)
			case "SIGINT":
				cmd.Process.Signal(syscall.SIGINT)
			}
			code, took := exitWithin(t, cmd, 3*time.Second)
			if code != 0 || took > 1200*time.Millisecond {
				t.Errorf("exit %d after %v; want 0 within about 1s. stderr:\n%s", code, took, stderr)
			}
			if b := <-out; len(b) != 0 {
				t.Errorf("stdout after a stop mid-round: %q", b)
			}
			if strings.Contains(stderr.String(), "E! ") {
				t.Errorf("an error was logged for a stop:\n%s", stderr)
			}
			if !gone(pid, time.Second) {
				t.Errorf("hping3 stand-in %d still runs after the plugin exited: %v", pid, groupMembers(pid))
			}
		})
	}
}

// TestStdoutClosedByTheReader: when Telegraf goes away its end of the pipe
// closes; the plugin's next write fails and it exits quietly (status 0, no
// SIGPIPE death, no error line), leaving no hping3 behind.
func TestStdoutClosedByTheReader(t *testing.T) {
	dir := testbin.OpenDir(t)
	bin, log := recorder(t, dir)
	cmd, stdin, stdout, stderr := startPlugin(t, "--mode", "rounds", "--hping3", bin, "--target", "127.0.0.1", "--count", "1", "--interval", "10ms")
	stdout.Close()
	io.WriteString(stdin, "\n")
	code, _ := exitWithin(t, cmd, 10*time.Second)
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() || code != 0 {
		t.Errorf("exit %d (signal %v); want a quiet exit 0. stderr:\n%s", code, ws.Signal(), stderr)
	}
	if strings.Contains(stderr.String(), "E! ") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if got := runs(t, log); len(got) != 1 {
		t.Errorf("hping3 ran %d times, want 1 (the round before the write)", len(got))
	}
	if kids := childrenOf(cmd.Process.Pid); len(kids) != 0 {
		t.Errorf("processes left: %v", kids)
	}
}
