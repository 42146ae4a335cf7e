// Command dist writes the release files (make dist): per architecture a
// tarball, a .deb and an .rpm, and SHA256SUMS. See internal/dist and
// docs/install.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/hping3-plugin/hping3-plugin/internal/dist"
)

func main() {
	root := flag.String("root", ".", "the repository's root")
	out := flag.String("out", "dist", "where the release files go")
	version := flag.String("version", "", "the release's version, MAJOR.MINOR.PATCH[-PRERELEASE]; empty: from git describe")
	arches := flag.String("arch", strings.Join(dist.Arches, ","), "architectures, comma-separated")
	goCmd := flag.String("go", "go", "the go command")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "dist: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	_, err := dist.Build(dist.Options{
		Root: *root, Out: *out, Version: *version,
		Arches: strings.Split(*arches, ","), Go: *goCmd, Log: os.Stdout,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "dist: %v\n", err)
		os.Exit(1)
	}
}
