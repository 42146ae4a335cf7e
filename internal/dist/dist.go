// Package dist builds the release files `make dist` writes: for each
// architecture a tarball (binary, README.md, LICENSE, docs/, examples/), a .deb and
// an .rpm made with nfpm from packaging/nfpm.yaml, and SHA256SUMS over them
// all. The plugin binary never links this package: only the small main in
// internal/dist/cmd/dist does.
package dist

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// Name is the program's and the packages' name.
const Name = "hping3-plugin"

// Arches are the Linux architectures released, in Go's names (GOARCH).
var Arches = []string{"amd64", "arm64"}

// Formats are the packages built for each architecture, by nfpm's names.
var Formats = []string{"deb", "rpm"}

// ConfHeader, NfpmConfig and Example are the repository files the packaged
// configuration file and the packages are made from.
const (
	NfpmConfig = "packaging/nfpm.yaml"
	ConfHeader = "packaging/conf-header"
	Example    = "examples/hping3-plugin.conf"
)

// Options say what to build.
type Options struct {
	Root    string   // the repository: go.mod, cmd/, packaging/, examples/
	Out     string   // where the release files go (created; old release files are removed)
	Version string   // the release's version, e.g. 1.2.0; "" takes it from git describe
	Arches  []string // nil: Arches
	Go      string   // the go command; "" is "go"
	Log     io.Writer
}

// Release is what Build made.
type Release struct {
	Version string   // as stamped into the binary and used in the file names
	Commit  string   // the full commit hash built
	Files   []string // the release files' names in Out, SHA256SUMS last
}

// Build writes every release file into o.Out.
func Build(o Options) (*Release, error) {
	if o.Go == "" {
		o.Go = "go"
	}
	if o.Arches == nil {
		o.Arches = Arches
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return nil, fmt.Errorf("%s is not the repository root: %w", root, err)
	}
	rel := &Release{}
	if rel.Commit, err = git(root, "rev-parse", "HEAD"); err != nil {
		return nil, err
	}
	if o.Version != "" {
		rel.Version, err = CheckVersion(o.Version)
	} else {
		var d string
		if d, err = git(root, "describe", "--tags", "--match", "v[0-9]*", "--always", "--dirty", "--abbrev=12"); err == nil {
			rel.Version, err = VersionFromDescribe(d)
		}
	}
	if err != nil {
		return nil, err
	}
	mtime, err := sourceDate(root)
	if err != nil {
		return nil, err
	}
	examples, err := trackedFiles(root, "examples")
	if err != nil {
		return nil, err
	}
	// The docs README.md links into, shipped beside it so the links work
	// where it is installed.
	docs, err := trackedFiles(root, "docs")
	if err != nil {
		return nil, err
	}

	out, err := filepath.Abs(o.Out)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	if err := removeOldRelease(out); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "hping3-plugin-dist-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	conf, err := packagedConf(root)
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(work, "hping3-plugin.conf")
	if err := writeFile(confPath, conf, 0o644, mtime); err != nil {
		return nil, err
	}

	for _, arch := range o.Arches {
		base := TarballBase(rel.Version, arch)
		stage := filepath.Join(work, base)
		fmt.Fprintf(o.Log, "dist: building %s/%s\n", "linux", arch)
		if err := buildBinary(o.Go, root, filepath.Join(stage, Name), arch, rel, mtime); err != nil {
			return nil, err
		}
		for _, f := range slices.Concat([]string{"README.md", "LICENSE"}, docs, examples) {
			if err := copyFile(filepath.Join(root, f), filepath.Join(stage, f), mtime); err != nil {
				return nil, err
			}
		}
		if err := chtimesDirs(stage, mtime); err != nil {
			return nil, err
		}
		tgz := base + ".tar.gz"
		if err := writeTarball(filepath.Join(out, tgz), stage, base, mtime); err != nil {
			return nil, err
		}
		rel.Files = append(rel.Files, tgz)
		for _, format := range Formats {
			name, err := writePackage(root, out, format, arch, rel.Version, stage, confPath, mtime)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", format, arch, err)
			}
			rel.Files = append(rel.Files, name)
		}
	}
	if err := writeChecksums(out, rel.Files); err != nil {
		return nil, err
	}
	rel.Files = append(rel.Files, "SHA256SUMS")
	for _, f := range rel.Files {
		st, err := os.Stat(filepath.Join(out, f))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Log, "dist: %s (%.1f MB)\n", filepath.Join(o.Out, f), float64(st.Size())/1e6)
	}
	return rel, nil
}

// TarballBase is a tarball's name without .tar.gz, also its top directory.
func TarballBase(version, arch string) string {
	return Name + "_" + version + "_linux_" + arch
}

// buildBinary cross-compiles the plugin without cgo (it needs none), so it
// runs on any Linux of that architecture, with the version stamped.
func buildBinary(goCmd, root, dst, arch string, rel *Release, mtime time.Time) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	ldflags := "-s -w -X main.version=" + rel.Version + " -X main.commit=" + rel.Commit
	cmd := exec.Command(goCmd, "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", dst, "./cmd/hping3-plugin")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build linux/%s: %v\n%s", arch, err, out)
	}
	return os.Chtimes(dst, mtime, mtime)
}

// writeTarball packs dir as top/... in name order, owned by root, with
// every time set to mtime, so the same sources give the same bytes.
func writeTarball(dst, dir, top string, mtime time.Time) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		name := top
		if rel != "." {
			name = top + "/" + filepath.ToSlash(rel)
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		h := &tar.Header{Name: name, Mode: int64(st.Mode().Perm()), ModTime: mtime, Uname: "root", Gname: "root"}
		if d.IsDir() {
			h.Typeflag, h.Name = tar.TypeDir, name+"/"
			return tw.WriteHeader(h)
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		h.Typeflag, h.Size = tar.TypeReg, st.Size()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// writeChecksums writes SHA256SUMS in sha256sum's format, for
// `sha256sum -c SHA256SUMS` in the directory.
func writeChecksums(out string, names []string) error {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	var b strings.Builder
	for _, n := range sorted {
		f, err := os.Open(filepath.Join(out, n))
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), n)
	}
	return os.WriteFile(filepath.Join(out, "SHA256SUMS"), []byte(b.String()), 0o644)
}

// removeOldRelease deletes release files an earlier make dist left in out,
// so SHA256SUMS and the directory agree; nothing else is touched.
func removeOldRelease(out string) error {
	ents, err := os.ReadDir(out)
	if err != nil {
		return err
	}
	for _, e := range ents {
		n := e.Name()
		old := n == "SHA256SUMS" ||
			strings.HasPrefix(n, Name+"_") && (strings.HasSuffix(n, ".tar.gz") || strings.HasSuffix(n, ".deb")) ||
			strings.HasPrefix(n, Name+"-") && strings.HasSuffix(n, ".rpm")
		if old && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(out, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// sourceDate is the time every packed file gets: $SOURCE_DATE_EPOCH, else
// the commit's time.
func sourceDate(root string) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		var err error
		if s, err = git(root, "log", "-1", "--format=%ct"); err != nil {
			return time.Time{}, err
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("source date %q: %w", s, err)
	}
	return time.Unix(n, 0).UTC(), nil
}

// trackedFiles lists the files git tracks under dir, so a stray file in a
// checkout is never shipped.
func trackedFiles(root, dir string) ([]string, error) {
	s, err := git(root, "ls-files", "-z", "--", dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range strings.Split(s, "\x00") {
		if f != "" {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("git tracks no file under %s", dir)
	}
	sort.Strings(out)
	return out, nil
}

func git(root string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

func writeFile(path string, b []byte, mode fs.FileMode, mtime time.Time) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, b, mode); err != nil {
		return err
	}
	if err := os.Chmod(path, mode); err != nil {
		return err
	}
	return os.Chtimes(path, mtime, mtime)
}

// copyFile copies a repository file as 0644, or 0755 when it is executable
// (examples/site24x7/hping3.sh).
func copyFile(src, dst string, mtime time.Time) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	mode := fs.FileMode(0o644)
	if st.Mode()&0o100 != 0 {
		mode = 0o755
	}
	return writeFile(dst, b, mode, mtime)
}

func chtimesDirs(dir string, mtime time.Time) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return os.Chtimes(path, mtime, mtime)
	})
}
