package bench

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Peak RSS figures are VmHWM, the high-water mark of a process's own
// memory, never ru_maxrss: a process started by vfork and exec (as Go starts
// every process, and as `ip netns exec` then execs the tool) inherits its
// parent's high-water mark in ru_maxrss at exec, so a tool started by this
// bench would report at least the bench's own RSS, and an hping3 started by
// the plugin at least the plugin's.

// Watch reads, every interval until stop is called, the VmHWM of pid while
// it is named own (as /proc/PID/status "Name:" has it: after `ip netns exec`
// has exec'd the tool; "" any name) and of its child processes named child
// ("" watches no child), and keeps the largest of each; stop returns them
// in KiB, 0 for what it never read. Reading from another
// process keeps the cost out of the measured process's rusage; a peak
// reached in the last interval before an exit may be missed.
func Watch(pid int, own, child string, interval time.Duration) (stop func() (ownPeak, childPeak int64)) {
	quit := make(chan struct{})
	done := make(chan [2]int64, 1)
	go func() {
		var peak [2]int64
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if n, hwm, ok := status(pid); ok && (own == "" || n == own) {
				peak[0] = max(peak[0], hwm)
			}
			if child != "" {
				for _, c := range children(pid) {
					if n, hwm, ok := status(c); ok && n == child {
						peak[1] = max(peak[1], hwm)
					}
				}
			}
			select {
			case <-quit:
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() (int64, int64) {
		close(quit)
		p := <-done
		return p[0], p[1]
	}
}

// SelfPeakRSS is this process's VmHWM in KiB, or 0 when /proc lacks it.
func SelfPeakRSS() int64 {
	_, hwm, _ := status(os.Getpid())
	return hwm
}

// children lists the children of every thread of pid
// (/proc/PID/task/TID/children).
func children(pid int) []int {
	base := filepath.Join("/proc", strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(base)
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		data, err := os.ReadFile(filepath.Join(base, t.Name(), "children"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// status reads a process's name and VmHWM (KiB) from /proc/PID/status.
func status(pid int) (name string, hwm int64, ok bool) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return "", 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, found := strings.Cut(sc.Text(), ":")
		if !found {
			continue
		}
		switch k {
		case "Name":
			name = strings.TrimSpace(v)
		case "VmHWM":
			f := strings.Fields(v) // "1234 kB"
			if len(f) > 0 {
				hwm, _ = strconv.ParseInt(f[0], 10, 64)
				ok = true
			}
		}
	}
	return name, hwm, ok && name != ""
}

// VmRSS is a process's resident set in bytes (0: unreadable).
func VmRSS(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
