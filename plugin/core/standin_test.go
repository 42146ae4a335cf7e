package core

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// standIn writes the stand-in hping3 into a temp dir and returns its path
// and the path of the log it appends to.
func standIn(t *testing.T, sleep string) (bin, log string) {
	t.Helper()
	src, err := os.ReadFile("testdata/stand-in-hping3")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log = filepath.Join(dir, "log")
	text := strings.NewReplacer("@LOG@", log, "@SLEEP@", sleep).Replace(string(src))
	bin = filepath.Join(dir, "hping3")
	if err := os.WriteFile(bin, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, log
}
