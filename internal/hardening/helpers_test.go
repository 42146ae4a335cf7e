package hardening

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// script writes an executable shell stand-in for hping3 into dir.
func script(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// recorder is a stand-in hping3 that appends its arguments, one run per
// line, to the returned log and answers every packet like hping3 would, so
// the plugin has something valid to measure.
func recorder(t testing.TB, dir string) (bin, log string) {
	t.Helper()
	log = filepath.Join(dir, "argv.log")
	bin = script(t, dir, "hping3-recorder", `printf '%s\n' "$*" >>`+log+`
count=1
while [ $# -gt 1 ]; do
	case "$1" in
	-c) count=$2; shift ;;
	--) shift; break ;;
	esac
	shift
done
echo "HPING $1 (lo $1): icmp mode set, 28 headers + 0 data bytes"
i=0
while [ $i -lt "$count" ]; do
	echo "len=28 ip=$1 ttl=64 id=1 icmp_seq=$i rtt=1.0 ms"
	i=$((i + 1))
done
printf '\n--- %s hping statistic ---\n%d packets transmitted, %d packets received, 0%% packet loss\nround-trip min/avg/max = 1.0/1.0/1.0 ms\n' "$1" "$count" "$count" >&2
`)
	return bin, log
}

// runs returns the argument lists a recorder saw, one per hping3 run.
func runs(t testing.TB, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// result is one run of the plugin binary.
type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// runPlugin runs the built binary with args and stdin until it exits; it
// fails the test if that takes longer than limit.
func runPlugin(t testing.TB, limit time.Duration, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, testbin.Plugin(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("%v did not exit within %v; stderr:\n%s", args, limit, r.stderr)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// snapshot counts what a leak would grow: goroutines, open file
// descriptors and child processes of this test process.
type snapshot struct {
	goroutines, fds int
	children        []int
}

func take() snapshot {
	return snapshot{goroutines: runtime.NumGoroutine(), fds: countFDs(), children: childrenOf(os.Getpid())}
}

func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// procStat returns the state, parent and process group of pid from
// /proc/PID/stat, and false when pid is gone.
func procStat(pid int) (state byte, ppid, pgrp int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	// The command name is in parentheses and may hold spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 3 {
		return 0, 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	pgrp, _ = strconv.Atoi(f[2])
	return f[0][0], ppid, pgrp, true
}

// processes returns every live pid matching keep(ppid, pgrp).
func processes(keep func(pid, ppid, pgrp int) bool) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, pgrp, ok := procStat(pid); ok && keep(pid, ppid, pgrp) {
			out = append(out, pid)
		}
	}
	return out
}

func childrenOf(parent int) []int {
	return processes(func(_, ppid, _ int) bool { return ppid == parent })
}

// groupMembers returns the processes of process group pgid: hping3 runs in
// a group of its own, so this finds it and anything it started.
func groupMembers(pgid int) []int {
	return processes(func(pid, _, pgrp int) bool { return pgrp == pgid && alive(pid) })
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	st, _, _, ok := procStat(pid)
	return ok && st != 'Z'
}

// checkNoLeak waits up to two seconds for the counts to come back to
// before, then fails naming what grew. Goroutines may settle by slack.
func checkNoLeak(t testing.TB, before snapshot, slack int) snapshot {
	t.Helper()
	var now snapshot
	for deadline := time.Now().Add(2 * time.Second); ; {
		now = take()
		if now.goroutines <= before.goroutines+slack && now.fds <= before.fds && len(now.children) <= len(before.children) {
			return now
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if now.goroutines > before.goroutines+slack {
		buf := make([]byte, 1<<16)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("goroutines: %d before, %d after:\n%s", before.goroutines, now.goroutines, buf)
	}
	if now.fds > before.fds {
		t.Errorf("open file descriptors: %d before, %d after", before.fds, now.fds)
	}
	if len(now.children) > len(before.children) {
		t.Errorf("child processes: %v before, %v after", before.children, now.children)
	}
	return now
}

// readPID waits for a stand-in to write its pid into file.
func readPID(t testing.TB, file string, limit time.Duration) int {
	t.Helper()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(file)
		if s := strings.TrimSpace(string(b)); err == nil && strings.HasSuffix(string(b), "\n") && s != "" {
			pid, err := strconv.Atoi(strings.Fields(s)[0])
			if err != nil {
				t.Fatalf("pid file %s: %q", file, b)
			}
			return pid
		}
	}
	t.Fatalf("no pid in %s after %v", file, limit)
	return 0
}

// gone waits up to limit for pid and its process group to disappear.
func gone(pid int, limit time.Duration) bool {
	for deadline := time.Now().Add(limit); ; time.Sleep(10 * time.Millisecond) {
		if !alive(pid) && len(groupMembers(pid)) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
