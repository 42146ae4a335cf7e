package hping3

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bare hping3 name is a program on PATH, never a file in the directory
// the plugin happens to run in.
func TestBinaryBareNameUsesPATH(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hping3-in-cwd"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if p, err := Binary("hping3-in-cwd"); err == nil || !strings.Contains(err.Error(), `hping3 "hping3-in-cwd" not found on PATH`) {
		t.Errorf("Binary(hping3-in-cwd) = %q, %v; want not found on PATH", p, err)
	}
	if p, err := Binary("sh"); err != nil || !filepath.IsAbs(p) || filepath.Base(p) != "sh" {
		t.Errorf(`Binary("sh") = %q, %v; want sh's absolute path from PATH`, p, err)
	}
	if p, err := Binary("./hping3-in-cwd"); err != nil || p != "./hping3-in-cwd" {
		t.Errorf("an explicit relative path: %q, %v; want it as given", p, err)
	}
}
