// Package site24x7 is the Site24x7 Linux agent front end: one round against one
// host, printed as the agent's plugin JSON.
package site24x7

import (
	"fmt"
	"io"
)

// Main runs the Site24x7 mode with the command-line arguments after the
// program name and returns the exit status (0 whenever JSON was printed).
func Main(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "E! the Site24x7 mode is not built yet")
	return 2
}
