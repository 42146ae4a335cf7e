// Command capture re-creates plugin/hping3/testdata: it runs the real hping3
// for every case the output parser must understand and stores stdout, stderr
// and the exit code of each run separately (NAME.stdout, NAME.stderr,
// NAME.rc), plus README.md with the exact argv of every case.
//
// Probes go only to loopback or to addresses inside network namespaces this
// program creates and deletes (lab.go; docs/maintainers.md, "The lab"): the
// client namespace has no default route, so nothing can leave the machine.
// It needs root, iproute2, nftables, setpriv and hping3.
//
//	go run ./internal/capture -out plugin/hping3/testdata
//
// Files named synthetic-* are written by hand (output that cannot be forced
// on purpose) and are never touched here.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
)

func main() {
	out := flag.String("out", "plugin/hping3/testdata", "directory for the captures")
	only := flag.String("only", "", "capture only cases whose name matches this regexp")
	hping := flag.String("hping3", "/usr/sbin/hping3", "hping3 binary")
	flag.Parse()
	if os.Geteuid() != 0 {
		log.Fatal("capture needs root: raw sockets and network namespaces")
	}
	var match *regexp.Regexp
	if *only != "" {
		match = regexp.MustCompile(*only)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	l, err := newLab()
	if err != nil {
		log.Fatalf("lab: %v", err)
	}
	// The lab is removed on every exit path, including a failed case.
	code := run(ctx, l, *out, *hping, match)
	l.Close()
	os.Exit(code)
}

func run(ctx context.Context, l *lab, out, hping string, match *regexp.Regexp) int {
	if err := os.MkdirAll(out, 0o755); err != nil {
		log.Print(err)
		return 1
	}
	cs := cases(l)
	for _, c := range cs {
		if match != nil && !match.MatchString(c.name) {
			continue
		}
		res, err := c.capture(ctx, l, hping)
		if err != nil {
			log.Printf("%s: %v", c.name, err)
			return 1
		}
		base := filepath.Join(out, c.name)
		for ext, data := range map[string][]byte{
			".stdout": res.stdout,
			".stderr": res.stderr,
			".rc":     fmt.Appendf(nil, "%d\n", res.rc),
		} {
			if err := os.WriteFile(base+ext, data, 0o644); err != nil {
				log.Print(err)
				return 1
			}
		}
		log.Printf("%-28s rc=%d stdout=%dB stderr=%dB", c.name, res.rc, len(res.stdout), len(res.stderr))
	}
	if err := os.WriteFile(filepath.Join(out, "README.md"), readme(cs), 0o644); err != nil {
		log.Print(err)
		return 1
	}
	return 0
}
