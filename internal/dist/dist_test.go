package dist

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

var zeroTime time.Time

func TestVersionFromDescribe(t *testing.T) {
	cases := []struct{ describe, want string }{
		{"v1.2.0", "1.2.0"},
		{"v1.2.0-dirty", "1.2.0+dirty"},
		{"v1.3.0-rc1", "1.3.0-rc1"},
		{"v1.3.0-rc.2", "1.3.0-rc.2"},
		{"v1.2.0-5-g0123456789ab", "1.2.0+5.g0123456789ab"},
		{"v1.2.0-5-g0123456789ab-dirty", "1.2.0+5.g0123456789ab.dirty"},
		{"v1.3.0-rc1-12-gabcdefabcdef", "1.3.0-rc1+12.gabcdefabcdef"},
		{"0123456789ab", "0.0.0+g0123456789ab"},
		{"0123456789ab-dirty", "0.0.0+g0123456789ab.dirty"},
		{"0123456789ab\n", "0.0.0+g0123456789ab"},
	}
	for _, c := range cases {
		got, err := VersionFromDescribe(c.describe)
		if err != nil || got != c.want {
			t.Errorf("VersionFromDescribe(%q) = %q, %v; want %q", c.describe, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "release-1", "v1.2", "v1.2.0.1", "v01.2.0", "v1.2.0_beta", "v1.2.0+meta-3-gabc", "xyz"} {
		if got, err := VersionFromDescribe(bad); err == nil {
			t.Errorf("VersionFromDescribe(%q) = %q, want an error", bad, got)
		}
	}
}

func TestCheckVersion(t *testing.T) {
	for in, want := range map[string]string{"1.2.0": "1.2.0", "v1.2.0": "1.2.0", "1.3.0-rc1": "1.3.0-rc1", "0.0.0+g1234": "0.0.0+g1234"} {
		if got, err := CheckVersion(in); err != nil || got != want {
			t.Errorf("CheckVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "1", "1.2", "1.2.0-", "1.2.0-rc_1", "1.2.0 ", "1.2.0-rc-1", "1.2.0~rc1", "latest", "1.2.0+a+b"} {
		if got, err := CheckVersion(bad); err == nil {
			t.Errorf("CheckVersion(%q) = %q, want an error", bad, got)
		}
	}
}

// TestPackageFileName: nfpm's names and its deb and rpm spellings of a
// version: a prerelease sorts before the release (~), metadata after it.
func TestPackageFileName(t *testing.T) {
	root := testbin.RepoRoot()
	cases := []struct{ format, version, arch, want string }{
		{"deb", "1.2.0", "amd64", "hping3-plugin_1.2.0-1_amd64.deb"},
		{"deb", "1.2.0", "arm64", "hping3-plugin_1.2.0-1_arm64.deb"},
		{"rpm", "1.2.0", "amd64", "hping3-plugin-1.2.0-1.x86_64.rpm"},
		{"rpm", "1.2.0", "arm64", "hping3-plugin-1.2.0-1.aarch64.rpm"},
		{"deb", "1.3.0-rc1", "amd64", "hping3-plugin_1.3.0~rc1-1_amd64.deb"},
		{"rpm", "1.3.0-rc1", "amd64", "hping3-plugin-1.3.0~rc1-1.x86_64.rpm"},
		{"deb", "0.0.0+g0123456789ab.dirty", "amd64", "hping3-plugin_0.0.0+g0123456789ab.dirty-1_amd64.deb"},
		{"rpm", "0.0.0+g0123456789ab", "arm64", "hping3-plugin-0.0.0+g0123456789ab-1.aarch64.rpm"},
	}
	for _, c := range cases {
		got, err := PackageFileName(root, c.format, c.version, c.arch)
		if err != nil || got != c.want {
			t.Errorf("PackageFileName(%s, %s, %s) = %q, %v; want %q", c.format, c.version, c.arch, got, err, c.want)
		}
	}
}

// wantConf is the packaged configuration file, made here without the
// builder's code: the header, then the example with the package's path.
func wantConf(t *testing.T) []byte {
	t.Helper()
	root := testbin.RepoRoot()
	head, err := os.ReadFile(filepath.Join(root, "packaging/conf-header"))
	if err != nil {
		t.Fatal(err)
	}
	ex, err := os.ReadFile(filepath.Join(root, "examples/hping3-plugin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(string(head) + strings.ReplaceAll(string(ex), "/etc/hping3-plugin.conf", "/etc/hping3-plugin/hping3-plugin.conf"))
}

// TestPackagedConf: the conffile is every line of the example, all comments
// before its one table, names the package's own path only, and loads with
// 127.0.0.1 as its target.
func TestPackagedConf(t *testing.T) {
	got, err := packagedConf(testbin.RepoRoot())
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(wantConf(t)) {
		t.Fatalf("packaged conf differs from packaging/conf-header + examples/hping3-plugin.conf:\n%s", got)
	}
	s := string(got)
	if strings.Contains(s, "/etc/hping3-plugin.conf") {
		t.Error("the packaged conf still names /etc/hping3-plugin.conf")
	}
	if !strings.HasPrefix(s, "# /etc/hping3-plugin/hping3-plugin.conf, from the hping3-plugin package.\n") {
		t.Errorf("the packaged conf does not start with its header:\n%.200s", s)
	}
	for i, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if l == "[[inputs.hping3]]" {
			break
		}
		if l != "" && !strings.HasPrefix(l, "#") {
			t.Errorf("line %d before the first table is a setting, not a comment: %q", i+1, l)
		}
	}
	path := filepath.Join(t.TempDir(), "hping3-plugin.conf")
	if err := os.WriteFile(path, got, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(path)
	if err != nil {
		t.Fatalf("the packaged conf does not load: %v", err)
	}
	if len(cfg.Groups) != 1 || strings.Join(cfg.Groups[0].Targets, ",") != "127.0.0.1" {
		t.Errorf("the packaged conf probes %+v, want one table with 127.0.0.1", cfg.Groups)
	}
}

// TestNfpmConfigNeedsEveryVariable: a source left with a variable is an
// error, not a file looked up under a literal "${STAGE}".
func TestNfpmConfigNeedsEveryVariable(t *testing.T) {
	info, err := packageInfo(testbin.RepoRoot(), "deb", "1.2.0", "amd64", "/stage", "/conf", zeroTime)
	if err != nil {
		t.Fatal(err)
	}
	var srcs []string
	for _, c := range info.Contents {
		if c.Source != "" {
			srcs = append(srcs, c.Source)
		}
	}
	root := testbin.RepoRoot()
	want := []string{"/stage/hping3-plugin", "/conf", root + "/packaging/hping3-plugin-otlp.service", "/stage/README.md", "/stage/LICENSE", "/stage/docs", "/stage/examples"}
	if strings.Join(srcs, "\n") != strings.Join(want, "\n") {
		t.Errorf("package sources:\n%s\nwant:\n%s", strings.Join(srcs, "\n"), strings.Join(want, "\n"))
	}
	dir := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join(root, NfpmConfig))
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(cfg), "    expand: true\n", "", 1)
	if broken == string(cfg) {
		t.Fatal("packaging/nfpm.yaml has no expand: true")
	}
	os.MkdirAll(filepath.Join(dir, "packaging"), 0o755)
	os.WriteFile(filepath.Join(dir, NfpmConfig), []byte(broken), 0o644)
	if _, err := packageInfo(dir, "deb", "1.2.0", "amd64", "/stage", "/conf", zeroTime); err == nil || !strings.Contains(err.Error(), "unexpanded") {
		t.Errorf("a source without expand: true gave %v, want an error saying a variable was left unexpanded", err)
	}
}
