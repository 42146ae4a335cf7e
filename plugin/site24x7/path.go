package site24x7

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// The agent starts the plugin anew for every poll, so the previous run's
// path can only be known from a file. It goes in the user's cache
// directory: losing it costs one "path changed" of 0, nothing more.
const (
	pathDir      = "hping3-plugin" // under os.UserCacheDir()
	maxStateName = 200             // of a host in a file name; NAME_MAX is 255 bytes
)

// pathFile is the file that keeps the path of the monitor of host with this
// protocol and port: one per monitor, since each probes its own path.
func pathFile(host string, protocol config.Protocol, port int) (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: %w", err)
	}
	name := "site24x7-" + fileSafe(host) + "-" + string(protocol)
	if protocol != config.ICMP {
		name += "-" + strconv.Itoa(port)
	}
	return filepath.Join(dir, pathDir, name+".path"), nil
}

// fileSafe writes host as part of a file name: lower case (a host name is
// the same in any case), only letters, digits, '.', '-' and '_', which is
// all a valid host name has anyway, and short enough for any file system, a
// hash of the whole name keeping two long names apart.
func fileSafe(host string) string {
	s := []byte(strings.ToLower(host))
	for i, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			s[i] = '_'
		}
	}
	if len(s) > maxStateName {
		h := fnv.New64a()
		h.Write([]byte(host))
		s = fmt.Appendf(s[:maxStateName-17], "-%016x", h.Sum64())
	}
	return string(s)
}

// rememberPath reports whether id differs from the path the previous run of
// this monitor kept, and keeps id for the next run. The first run, and any
// run whose comparison fails, reports no change: a missing file is not a
// changed path. The error says what failed.
func rememberPath(host string, protocol config.Protocol, port int, id string) (bool, error) {
	file, err := pathFile(host, protocol, port)
	if err != nil {
		return false, err
	}
	b, err := os.ReadFile(file)
	first := errors.Is(err, fs.ErrNotExist)
	var readErr error
	if err != nil && !first {
		// Written anyway below: a new file may mend what cannot be read.
		readErr = fmt.Errorf("reading %s: %w", file, err)
	}
	prev := strings.TrimSpace(string(b))
	if readErr == nil && prev == id {
		return false, nil
	}
	if err := writeFileAtomic(file, id+"\n"); err != nil {
		// The cause the reader must fix, and most often the read's too.
		return false, fmt.Errorf("keeping the path in %s: %w", file, err)
	}
	if readErr != nil {
		return false, readErr
	}
	return prev != "", nil
}

// writeFileAtomic replaces file with text through a temporary file in the
// same directory and a rename, so that a run killed meanwhile (the agent's
// script timeout) leaves the old path or the new one, never half of one.
// The directory is made 0700 and the file 0600: they are the user's own.
func writeFileAtomic(file, text string) error {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(file)+".*") // mode 0600
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), file)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
