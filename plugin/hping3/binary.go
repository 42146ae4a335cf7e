package hping3

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// DefaultBinary is where Debian installs hping3; used when it is not on PATH.
const DefaultBinary = "/usr/sbin/hping3"

// Binary returns the hping3 program to run for the configured path: "" is
// hping3 on PATH, else DefaultBinary; a bare name is looked up on PATH; a
// path is used as given once it is an executable file.
func Binary(configured string) (string, error) {
	if configured == "" {
		if p, err := exec.LookPath("hping3"); err == nil {
			return p, nil
		}
		configured = DefaultBinary
	}
	if !strings.Contains(configured, "/") {
		// A bare name means a program on PATH, as in a shell, never a file
		// in whatever directory the plugin was started from.
		p, err := exec.LookPath(configured)
		if err != nil {
			return "", fmt.Errorf("hping3 %q not found on PATH: install it (apt-get install hping3) or set hping3 = \"/path/to/hping3\"", configured)
		}
		return p, nil
	}
	st, err := os.Stat(configured)
	switch {
	case err != nil:
		return "", fmt.Errorf("hping3 not found at %s: install it (apt-get install hping3) or set hping3 = \"/path/to/hping3\"", configured)
	case st.IsDir() || st.Mode()&0o111 == 0:
		return "", fmt.Errorf("hping3 at %s is not an executable file: check the hping3 setting and its permissions (chmod +x)", configured)
	}
	return configured, nil
}
