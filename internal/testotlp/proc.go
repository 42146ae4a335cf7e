package testotlp

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Proc is a child process whose stdout and stderr, together, the test
// reads: the plugin logs to stderr and prints to stdout, and the order
// between the two is part of what a test may look at.
type Proc struct {
	Cmd *exec.Cmd
	Out *Lines

	name   string        // the program's base name, for messages
	exited chan struct{} // closed when the process has exited
	err    error         // Wait's error, valid once exited is closed
}

// Start runs name with args, its environment the test's plus env. The test's
// cleanup kills the process if it still runs, and logs its output if the
// test failed.
func Start(t testing.TB, env []string, name string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{Cmd: cmd, Out: ReadLines(r), name: filepath.Base(name), exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		// Wait returns once all the output is copied into w: closing it
		// ends ReadLines at EOF.
		w.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", p.name, strings.Join(args, " "), p.Out)
		}
	})
	return p
}

// Stop sends SIGTERM and returns the exit status and how long the process
// took to exit, failing the test if it still runs after within.
func (p *Proc) Stop(t testing.TB, within time.Duration) (code int, took time.Duration) {
	t.Helper()
	sent := time.Now()
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(within):
		t.Fatalf("%s still running %s after SIGTERM", p.name, within)
	}
	took = time.Since(sent)
	if p.err == nil {
		return 0, took
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode(), took
	}
	t.Fatal(p.err)
	return -1, took
}
