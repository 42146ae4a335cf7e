package bench

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestWatch watches this test process start sleep: the peak read is
// sleep's own (a megabyte or two), not the test binary's, which its
// ru_maxrss reports.
func TestWatch(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("no /proc")
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep")
	}
	stop := Watch(os.Getpid(), "", "sleep", 10*time.Millisecond)
	cmd := exec.Command(sleep, "0.3")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	own, got := stop()
	if _, _, ok := status(os.Getpid()); !ok {
		t.Skip("no VmHWM in /proc/PID/status")
	}
	if self := SelfPeakRSS(); own <= 0 || own > self {
		t.Errorf("own peak RSS read as %d KiB, SelfPeakRSS %d KiB", own, self)
	}
	if got <= 0 || got > 8*1024 {
		t.Errorf("sleep's peak RSS read as %d KiB", got)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		t.Logf("sleep: VmHWM %d KiB; its ru_maxrss %d KiB", got, ru.Maxrss)
	}
}
