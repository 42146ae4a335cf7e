package dist

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// The release make dist builds, once per test process, into a temporary
// directory removed by TestMain.
var (
	relOnce sync.Once
	rel     struct {
		dir, version, commit string
		mtime                time.Time
		took                 time.Duration
		err                  error
	}
)

func TestMain(m *testing.M) {
	code := m.Run()
	if rel.dir != "" {
		os.RemoveAll(rel.dir)
	}
	os.Exit(code)
}

// release runs `make dist DISTDIR=...` the first time a test asks, and
// returns the directory and the version and commit it must have built.
func release(t *testing.T) (dir, version string) {
	t.Helper()
	testbin.RequireTool(t, "make")
	testbin.RequireTool(t, "git")
	relOnce.Do(func() {
		root := testbin.RepoRoot()
		d, err := gitOut(root, "describe", "--tags", "--match", "v[0-9]*", "--always", "--dirty", "--abbrev=12")
		if err == nil {
			rel.version, err = VersionFromDescribe(d)
		}
		if err == nil {
			rel.commit, err = gitOut(root, "rev-parse", "HEAD")
		}
		var ct string
		if err == nil {
			ct, err = gitOut(root, "log", "-1", "--format=%ct")
		}
		if err != nil {
			rel.err = err
			return
		}
		n, _ := strconv.ParseInt(ct, 10, 64)
		rel.mtime = time.Unix(n, 0)
		if rel.dir, rel.err = os.MkdirTemp("", "hping3-plugin-dist-test-"); rel.err != nil {
			return
		}
		// apt-get reads a local package as its _apt user when it can.
		os.Chmod(rel.dir, 0o755)
		start := time.Now()
		cmd := exec.Command("make", "--no-print-directory", "dist", "DISTDIR="+rel.dir)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=", "VERSION=")
		out, err := cmd.CombinedOutput()
		rel.took = time.Since(start)
		if err != nil {
			rel.err = fmt.Errorf("make dist: %v\n%s", err, out)
		}
	})
	if rel.err != nil {
		t.Fatal(rel.err)
	}
	return rel.dir, rel.version
}

func gitOut(root string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// releaseNames are the files make dist must write for version, by name.
func releaseNames(t *testing.T, version string) []string {
	t.Helper()
	var names []string
	for _, arch := range []string{"amd64", "arm64"} {
		rpmArch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[arch]
		names = append(names,
			"hping3-plugin_"+version+"_linux_"+arch+".tar.gz",
			"hping3-plugin_"+version+"-1_"+arch+".deb",
			"hping3-plugin-"+version+"-1."+rpmArch+".rpm")
	}
	sort.Strings(names)
	return names
}

func TestMakeDistWritesTheRelease(t *testing.T) {
	dir, version := release(t)
	t.Logf("make dist took %v", rel.took.Round(time.Second))
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	want := append(releaseNames(t, version), "SHA256SUMS")
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("make dist wrote:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSHA256SUMS(t *testing.T) {
	dir, version := release(t)
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n") {
		hash, name, ok := strings.Cut(l, "  ")
		if !ok || len(hash) != 64 {
			t.Fatalf("SHA256SUMS line %q is not sha256sum's HASH  NAME", l)
		}
		names = append(names, name)
	}
	if want := releaseNames(t, version); strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("SHA256SUMS lists:\n%s\nwant every release file once, sorted:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	sha256sum := testbin.RequireTool(t, "sha256sum")
	cmd := exec.Command(sha256sum, "--check", "--strict", "SHA256SUMS")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
	}
	// The check can fail: one digit off in a copy of the sums.
	bad := []byte(string(sums))
	if bad[0] == '0' {
		bad[0] = '1'
	} else {
		bad[0] = '0'
	}
	badFile := filepath.Join(t.TempDir(), "SHA256SUMS")
	os.WriteFile(badFile, bad, 0o644)
	cmd = exec.Command(sha256sum, "--check", "--strict", badFile)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("sha256sum -c passed with a wrong digest:\n%s", out)
	}
}

// entry is one file of a package or tarball: type and mode as ls shows
// them, and its path.
type entry struct{ mode, path string }

func (e entry) String() string { return e.mode + " " + e.path }

func joinEntries(es []entry) string {
	var s []string
	for _, e := range es {
		s = append(s, e.String())
	}
	return strings.Join(s, "\n")
}

// repoFile is a file the release ships from the repository.
type repoFile struct {
	rel  string // path in the repository
	exec bool
}

// shippedDocs are README.md, LICENSE and every file git tracks under
// docs/ and examples/, sorted.
func shippedDocs(t *testing.T) []repoFile {
	t.Helper()
	root := testbin.RepoRoot()
	out, err := gitOut(root, "ls-files", "--", "docs", "examples")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"LICENSE", "README.md"}
	files = append(files, strings.Split(out, "\n")...)
	var rf []repoFile
	for _, f := range files {
		st, err := os.Stat(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		rf = append(rf, repoFile{f, st.Mode()&0o100 != 0})
	}
	for _, must := range []string{"docs/install.md", "examples/hping3-plugin.conf", "examples/systemd/hping3-plugin-otlp.service", "examples/telegraf.conf"} {
		if !containsFile(rf, must) {
			t.Fatalf("git ls-files docs examples lacks %s", must)
		}
	}
	return rf
}

func containsFile(rf []repoFile, rel string) bool {
	for _, f := range rf {
		if f.rel == rel {
			return true
		}
	}
	return false
}

// tree is files (relative paths, no leading "./") with every directory
// above them, directories with a trailing "/", each path behind prefix,
// sorted.
func tree(prefix string, files map[string]string) []entry {
	all := map[string]string{}
	for p, mode := range files {
		all[p] = mode
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			all[d+"/"] = "drwxr-xr-x"
		}
	}
	var es []entry
	for p, m := range all {
		es = append(es, entry{m, prefix + p})
	}
	sortEntries(es)
	return es
}

func sortEntries(es []entry) {
	sort.Slice(es, func(i, j int) bool { return es[i].path < es[j].path })
}

func fileMode(exec bool) string {
	if exec {
		return "-rwxr-xr-x"
	}
	return "-rw-r--r--"
}

func readTarGz(t *testing.T, file string) (entries []entry, hdrs []*tar.Header, data map[string][]byte) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return readTar(t, zr)
}

func readTar(t *testing.T, r io.Reader) (entries []entry, hdrs []*tar.Header, data map[string][]byte) {
	t.Helper()
	tr := tar.NewReader(r)
	data = map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, entry{h.FileInfo().Mode().String(), h.Name})
		hdrs = append(hdrs, h)
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			data[h.Name] = b
		}
	}
	return entries, hdrs, data
}

// checkBinary: a static Linux executable for arch, stripped of nothing
// that --version needs.
func checkBinary(t *testing.T, name string, b []byte, arch string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s is not an ELF file: %v", name, err)
	}
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if f.Machine != want || f.Type != elf.ET_EXEC {
		t.Errorf("%s: machine %v, type %v; want %v, ET_EXEC", name, f.Machine, f.Type, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a dynamic loader: built with cgo, so it needs a matching libc", name)
		}
	}
}

func TestTarballs(t *testing.T) {
	dir, version := release(t)
	root := testbin.RepoRoot()
	docs := shippedDocs(t)
	for _, arch := range []string{"amd64", "arm64"} {
		top := "hping3-plugin_" + version + "_linux_" + arch
		files := map[string]string{top + "/hping3-plugin": "-rwxr-xr-x"}
		for _, f := range docs {
			files[top+"/"+f.rel] = fileMode(f.exec)
		}
		want := tree("", files)
		got, hdrs, data := readTarGz(t, filepath.Join(dir, top+".tar.gz"))
		sortEntries(got)
		if joinEntries(got) != joinEntries(want) {
			t.Errorf("%s.tar.gz holds:\n%s\nwant:\n%s", top, joinEntries(got), joinEntries(want))
		}
		for _, h := range hdrs {
			if h.Uname != "root" || h.Gname != "root" || h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(rel.mtime) {
				t.Errorf("%s: owner %s:%s (%d:%d), time %v; want root:root and the commit's time %v", h.Name, h.Uname, h.Gname, h.Uid, h.Gid, h.ModTime, rel.mtime)
			}
		}
		for _, f := range docs {
			b, err := os.ReadFile(filepath.Join(root, f.rel))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data[top+"/"+f.rel], b) {
				t.Errorf("%s/%s differs from the repository's", top, f.rel)
			}
		}
		checkBinary(t, top+"/hping3-plugin", data[top+"/hping3-plugin"], arch)
		if arch == "amd64" {
			checkVersionOutput(t, data[top+"/hping3-plugin"], version)
		}
	}
}

// checkVersionOutput runs the released binary's --version: the stamped
// version and commit, the Go that built it.
func checkVersionOutput(t *testing.T, bin []byte, version string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hping3-plugin")
	if err := os.WriteFile(p, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(p, "--version").CombinedOutput()
	lines := strings.Split(string(out), "\n")
	if err != nil || len(lines) < 4 || lines[0] != "hping3-plugin "+version {
		t.Fatalf("hping3-plugin --version: %v\n%s\nwant first line %q: is --version wired into run() in cmd/hping3-plugin/main.go (hasVersionFlag, writeVersion)?", err, out, "hping3-plugin "+version)
	}
	if want := "commit: " + rel.commit; lines[1] != want {
		t.Errorf("--version line 2 = %q, want %q", lines[1], want)
	}
	if !strings.HasPrefix(lines[2], "go: go1.") || !strings.HasSuffix(lines[2], " linux/amd64") {
		t.Errorf("--version line 3 = %q, want go: goVERSION linux/amd64", lines[2])
	}
	if !strings.HasPrefix(lines[3], "hping3: ") {
		t.Errorf("--version line 4 = %q, want the hping3 it would run", lines[3])
	}
}

// The files of the package, as dpkg-deb -c lists them (rpm lists only the
// directories the package owns: see rpmOwned).
func packageFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{
		"/usr/bin/hping3-plugin":                             "-rwxr-xr-x",
		"/etc/hping3-plugin/hping3-plugin.conf":              "-rw-r--r--",
		"/usr/lib/systemd/system/hping3-plugin-otlp.service": "-rw-r--r--",
	}
	for _, f := range shippedDocs(t) {
		files["/usr/share/doc/hping3-plugin/"+f.rel] = fileMode(f.exec)
	}
	return files
}

// packageContent is what each file of the package must hold, but the
// binary.
func packageContent(t *testing.T) map[string][]byte {
	t.Helper()
	root := testbin.RepoRoot()
	read := func(rel string) []byte {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	c := map[string][]byte{
		"/etc/hping3-plugin/hping3-plugin.conf":              wantConf(t),
		"/usr/lib/systemd/system/hping3-plugin-otlp.service": read("packaging/hping3-plugin-otlp.service"),
	}
	for _, f := range shippedDocs(t) {
		c["/usr/share/doc/hping3-plugin/"+f.rel] = read(f.rel)
	}
	return c
}

func debFile(version, arch string) string { return "hping3-plugin_" + version + "-1_" + arch + ".deb" }

func TestDebPackages(t *testing.T) {
	dir, version := release(t)
	dpkgDeb := testbin.RequireTool(t, "dpkg-deb")
	root := testbin.RepoRoot()
	for _, arch := range []string{"amd64", "arm64"} {
		deb := filepath.Join(dir, debFile(version, arch))
		out, err := exec.Command(dpkgDeb, "--field", deb, "Package", "Version", "Architecture", "Depends", "Section", "Priority").Output()
		if err != nil {
			t.Fatalf("dpkg-deb --field %s: %v", deb, err)
		}
		want := "Package: hping3-plugin\nVersion: " + version + "-1\nArchitecture: " + arch +
			"\nDepends: hping3, passwd\nSection: net\nPriority: optional\n"
		if string(out) != want {
			t.Errorf("%s control:\n%s\nwant:\n%s", arch, out, want)
		}

		ctl := t.TempDir()
		if out, err := exec.Command(dpkgDeb, "--control", deb, ctl).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb --control: %v\n%s", err, out)
		}
		ents, _ := os.ReadDir(ctl)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if got := strings.Join(names, " "); got != "conffiles control md5sums postinst postrm prerm" {
			t.Errorf("%s control files: %s", arch, got)
		}
		if b, _ := os.ReadFile(filepath.Join(ctl, "conffiles")); string(b) != "/etc/hping3-plugin/hping3-plugin.conf\n" {
			t.Errorf("%s conffiles = %q, want only /etc/hping3-plugin/hping3-plugin.conf", arch, b)
		}
		for script, src := range map[string]string{"postinst": "postinstall.sh", "prerm": "preremove.sh", "postrm": "postremove.sh"} {
			got, _ := os.ReadFile(filepath.Join(ctl, script))
			want, _ := os.ReadFile(filepath.Join(root, "packaging/scripts", src))
			if !bytes.Equal(got, want) {
				t.Errorf("%s %s differs from packaging/scripts/%s", arch, script, src)
			}
			if st, _ := os.Stat(filepath.Join(ctl, script)); st == nil || st.Mode().Perm() != 0o755 {
				t.Errorf("%s %s is not mode 0755", arch, script)
			}
		}

		fsys, err := exec.Command(dpkgDeb, "--fsys-tarfile", deb).Output()
		if err != nil {
			t.Fatalf("dpkg-deb --fsys-tarfile: %v", err)
		}
		got, hdrs, data := readTar(t, bytes.NewReader(fsys))
		sortEntries(got)
		files := map[string]string{}
		for p, m := range packageFiles(t) {
			files[strings.TrimPrefix(p, "/")] = m
		}
		wantEntries := tree("./", files)
		if joinEntries(got) != joinEntries(wantEntries) {
			t.Errorf("%s .deb holds:\n%s\nwant:\n%s", arch, joinEntries(got), joinEntries(wantEntries))
		}
		for _, h := range hdrs {
			if h.Uname != "root" || h.Gname != "root" {
				t.Errorf("%s: %s owned by %s:%s, want root:root", arch, h.Name, h.Uname, h.Gname)
			}
		}
		for p, want := range packageContent(t) {
			if !bytes.Equal(data["."+p], want) {
				t.Errorf("%s .deb: %s differs from what it is made of", arch, p)
			}
		}
		checkBinary(t, arch+" .deb /usr/bin/hping3-plugin", data["./usr/bin/hping3-plugin"], arch)
	}
}

// rpmOwned is what rpm -qlp must list: the files and the package's own
// directories, not /usr or /etc.
func rpmOwned(t *testing.T) []string {
	t.Helper()
	owned := map[string]bool{"/etc/hping3-plugin": true, "/usr/share/doc/hping3-plugin": true}
	for p := range packageFiles(t) {
		owned[p] = true
		for d := path.Dir(p); strings.HasPrefix(d, "/usr/share/doc/hping3-plugin/"); d = path.Dir(d) {
			owned[d] = true
		}
	}
	var out []string
	for p := range owned {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func TestRPMPackages(t *testing.T) {
	dir, version := release(t)
	rpm := testbin.RequireTool(t, "rpm")
	for _, arch := range []string{"amd64", "arm64"} {
		rpmArch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[arch]
		file := filepath.Join(dir, "hping3-plugin-"+version+"-1."+rpmArch+".rpm")
		q := func(args ...string) string {
			t.Helper()
			out, err := exec.Command(rpm, append(args, file)...).CombinedOutput()
			if err != nil {
				t.Fatalf("rpm %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return string(out)
		}
		if got, want := q("-qlp"), strings.Join(rpmOwned(t), "\n")+"\n"; got != want {
			t.Errorf("%s rpm -qlp:\n%s\nwant:\n%s", rpmArch, got, want)
		}
		if got, want := q("-qRp"), "hping3\nshadow-utils\n"; got != want {
			t.Errorf("%s rpm -qRp:\n%s\nwant:\n%s", rpmArch, got, want)
		}
		if got, want := q("-qp", "--queryformat", "%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{LICENSE} %{OS} %{BUILDHOST} %{BUILDTIME}"),
			"hping3-plugin "+version+" 1 "+rpmArch+" MIT linux reproducible "+strconv.FormatInt(rel.mtime.Unix(), 10); got != want {
			t.Errorf("%s rpm header: %q, want %q", rpmArch, got, want)
		}
		if got, want := q("-qcp"), "/etc/hping3-plugin/hping3-plugin.conf\n"; got != want {
			t.Errorf("%s rpm -qcp (configuration files): %q, want %q", rpmArch, got, want)
		}
		// Per file: flags (cn: %config(noreplace)), mode, owner, digest.
		content := packageContent(t)
		files := packageFiles(t)
		for _, l := range strings.Split(strings.TrimSuffix(q("-qp", "--queryformat", "[%{FILEFLAGS:fflags}|%{FILEMODES:perms}|%{FILEUSERNAME}:%{FILEGROUPNAME}|%{FILEDIGESTS}|%{FILENAMES}\n]"), "\n"), "\n") {
			parts := strings.Split(l, "|")
			if len(parts) != 5 {
				t.Fatalf("rpm query line %q", l)
			}
			flags, mode, owner, digest, name := parts[0], parts[1], parts[2], parts[3], parts[4]
			wantFlags := ""
			if name == "/etc/hping3-plugin/hping3-plugin.conf" {
				wantFlags = "cn"
			}
			wantMode := files[name]
			if wantMode == "" {
				wantMode = "drwxr-xr-x"
			}
			if flags != wantFlags || mode != wantMode || owner != "root:root" {
				t.Errorf("%s %s: flags %q mode %s owner %s; want flags %q mode %s owner root:root", rpmArch, name, flags, mode, owner, wantFlags, wantMode)
			}
			if c, ok := content[name]; ok {
				sum := sha256.Sum256(c)
				if digest != hex.EncodeToString(sum[:]) {
					t.Errorf("%s rpm: %s differs from what it is made of", rpmArch, name)
				}
			}
		}
		scripts := q("-qp", "--scripts")
		root := testbin.RepoRoot()
		for _, s := range []string{"postinstall", "preuninstall", "postuninstall"} {
			if !strings.Contains(scripts, s+" scriptlet (using /bin/sh):") {
				t.Errorf("%s rpm has no %s scriptlet:\n%s", rpmArch, s, scripts)
			}
		}
		for _, src := range []string{"postinstall.sh", "preremove.sh", "postremove.sh"} {
			b, _ := os.ReadFile(filepath.Join(root, "packaging/scripts", src))
			if !strings.Contains(scripts, strings.TrimSuffix(string(b), "\n")) {
				t.Errorf("%s rpm scriptlets lack packaging/scripts/%s", rpmArch, src)
			}
		}
	}
}
