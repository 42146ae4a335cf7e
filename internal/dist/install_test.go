package dist

import (
	"bytes"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

const (
	unitPath  = "/usr/lib/systemd/system/hping3-plugin-otlp.service"
	confPath  = "/etc/hping3-plugin/hping3-plugin.conf"
	wantsLink = "/etc/systemd/system/multi-user.target.wants/hping3-plugin-otlp.service"
	sysUser   = "hping3-plugin"
)

// run runs a command and returns its combined output; it fails the test
// unless the command exits 0.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func dpkgInstalled(dpkgQuery string) bool {
	out, err := exec.Command(dpkgQuery, "-W", "-f", "${Status}", Name).Output()
	return err == nil && strings.HasSuffix(string(out), " installed")
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// TestDebInstallUpgradePurge installs the amd64 .deb with apt-get (which
// pulls hping3 where it is missing), checks what it installed and that it
// works, upgrades it over an edited conffile, then purges it and checks
// that nothing of it is left. It leaves the machine as it found it, also
// when it fails.
func TestDebInstallUpgradePurge(t *testing.T) {
	testbin.RequireRoot(t)
	aptGet := testbin.RequireTool(t, "apt-get")
	dpkg := testbin.RequireTool(t, "dpkg")
	dpkgQuery := testbin.RequireTool(t, "dpkg-query")
	systemctl := testbin.RequireTool(t, "systemctl")
	analyze := testbin.RequireTool(t, "systemd-analyze")
	setpriv := testbin.RequireTool(t, "setpriv")
	getcap := testbin.RequireTool(t, "getcap")
	getent := testbin.RequireTool(t, "getent")
	if dpkgInstalled(dpkgQuery) {
		testbin.Skip(t, "hping3-plugin is installed on this machine, and this test installs and purges it: apt-get purge hping3-plugin first")
	}
	dir, version := release(t)
	deb := filepath.Join(dir, debFile(version, "amd64"))

	// dpkg -L's list: every file and every directory above it.
	listed := map[string]bool{}
	for p := range packageFiles(t) {
		for q := p; q != "/"; q = path.Dir(q) {
			listed[q] = true
		}
	}
	var wantList []string
	existedBefore := map[string]bool{}
	for p := range listed {
		wantList = append(wantList, p)
		existedBefore[p] = exists(p)
	}
	sort.Strings(wantList)
	hping3 := testbin.RequireTool(t, "hping3")
	capsBefore := run(t, getcap, hping3)

	userBefore := exec.Command(getent, "passwd", sysUser).Run() == nil
	groupBefore := exec.Command(getent, "group", sysUser).Run() == nil
	t.Cleanup(func() {
		if dpkgInstalled(dpkgQuery) || exec.Command(dpkgQuery, "-W", Name).Run() == nil {
			if out, err := exec.Command(aptGet, "purge", "-y", Name).CombinedOutput(); err != nil {
				t.Errorf("cleanup: apt-get purge %s: %v\n%s", Name, err, out)
			}
		}
		os.Remove(wantsLink)
		// What a broken postrm would leave.
		if !userBefore && exec.Command(getent, "passwd", sysUser).Run() == nil {
			exec.Command("userdel", sysUser).Run()
		}
		if !groupBefore && exec.Command(getent, "group", sysUser).Run() == nil {
			exec.Command("groupdel", sysUser).Run()
		}
	})

	run(t, aptGet, "install", "-y", "--no-install-recommends", deb)
	if out := run(t, dpkgQuery, "-W", "-f", "${Status} ${Version}", Name); out != "install ok installed "+version+"-1" {
		t.Fatalf("after apt-get install: %q", out)
	}
	got := strings.Fields(run(t, dpkg, "-L", Name))
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(wantList, "\n") {
		t.Errorf("dpkg -L %s:\n%s\nwant:\n%s", Name, strings.Join(got, "\n"), strings.Join(wantList, "\n"))
	}
	if f := strings.Fields(run(t, dpkgQuery, "-W", "-f", "${Conffiles}", Name)); len(f) != 2 || f[0] != confPath {
		t.Errorf("conffiles %q, want %s only", f, confPath)
	}
	for p, want := range packageContent(t) {
		if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, want) {
			t.Errorf("installed %s differs from what it is made of (%v)", p, err)
		}
	}
	if st, err := os.Stat("/usr/bin/hping3-plugin"); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("/usr/bin/hping3-plugin: %v, %v", st, err)
	}

	// The system user: no login, no home, below the ordinary users' UIDs.
	pw := strings.Split(strings.TrimSpace(run(t, getent, "passwd", sysUser)), ":")
	if len(pw) != 7 || pw[5] != "/nonexistent" || pw[6] != "/usr/sbin/nologin" {
		t.Errorf("user %s: %q, want home /nonexistent and shell /usr/sbin/nologin", sysUser, pw)
	}
	if uid, err := strconv.Atoi(pw[2]); err != nil || uid >= 1000 || uid == 0 {
		t.Errorf("user %s has UID %s, want a system UID", sysUser, pw[2])
	}
	uid := pw[2]
	if g := strings.Split(strings.TrimSpace(run(t, getent, "group", sysUser)), ":"); g[2] != pw[3] {
		t.Errorf("user %s's group is %s, not its own group %s", sysUser, pw[3], g[2])
	}
	if exists("/nonexistent") {
		t.Error("/nonexistent exists: the user's home was created")
	}

	// Installed, not enabled; hping3 itself left without capabilities.
	if out, _ := exec.Command(systemctl, "is-enabled", "hping3-plugin-otlp.service").CombinedOutput(); strings.TrimSpace(string(out)) != "disabled" {
		t.Errorf("systemctl is-enabled hping3-plugin-otlp.service: %q, want disabled", out)
	}
	if exists(wantsLink) {
		t.Errorf("%s exists: the service was enabled", wantsLink)
	}
	if caps := run(t, getcap, hping3); caps != capsBefore {
		t.Errorf("getcap %s: %q after the install, %q before: the package must not give hping3 capabilities", hping3, caps, capsBefore)
	}
	// Nor the plugin: a file capability on it would clear the service's
	// ambient set when systemd starts it, and with it hping3's only way
	// to CAP_NET_RAW (docs/install.md).
	pluginCaps := func(when string) {
		t.Helper()
		if caps := strings.TrimSpace(run(t, getcap, "/usr/bin/hping3-plugin")); caps != "" {
			t.Errorf("getcap /usr/bin/hping3-plugin %s: %q, want none", when, caps)
		}
	}
	pluginCaps("after the install")

	// The unit: systemd's own check (needs no running systemd) says
	// nothing, and it runs the installed binary as the system user with
	// raw sockets only.
	cmd := exec.Command(analyze, "verify", unitPath)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitPath, err, out)
	}
	unit := unitDirectives(t, unitPath)
	for k, want := range map[string]string{
		"ExecStart":             "/usr/bin/hping3-plugin --otlp --config " + confPath,
		"ExecReload":            "/bin/kill -HUP $MAINPID",
		"User":                  sysUser,
		"Group":                 sysUser,
		"AmbientCapabilities":   "CAP_NET_RAW",
		"CapabilityBoundingSet": "CAP_NET_RAW",
		"NoNewPrivileges":       "yes",
		"WantedBy":              "multi-user.target",
	} {
		if got := strings.Join(unit[k], "|"); got != want {
			t.Errorf("%s: %s=%q, want %q", unitPath, k, got, want)
		}
	}
	if v := unit["DynamicUser"]; len(v) > 0 {
		t.Errorf("%s: DynamicUser=%v, want the package's user", unitPath, v)
	}

	// The installed binary.
	out := run(t, "/usr/bin/hping3-plugin", "--version")
	lines := strings.Split(out, "\n")
	if lines[0] != "hping3-plugin "+version {
		t.Fatalf("/usr/bin/hping3-plugin --version:\n%s\nwant first line %q: is --version wired into run() in cmd/hping3-plugin/main.go?", out, "hping3-plugin "+version)
	}
	if want := "hping3: " + hping3 + " (Tcl API: yes, engine tcl)"; len(lines) < 4 || lines[3] != want {
		t.Errorf("--version:\n%s\nwant line 4 %q", out, want)
	}
	once := []string{"--once", "--target", "127.0.0.1", "--count", "2", "--interval", "100ms"}
	checkProbe(t, "--once --target 127.0.0.1", run(t, "/usr/bin/hping3-plugin", once...), "packets_received=2i", "result_code=0i")
	checkProbe(t, "--config "+confPath+" --once", run(t, "/usr/bin/hping3-plugin", "--config", confPath, "--once"),
		"target=127.0.0.1", "packets_transmitted=5i", "result_code=0i")
	// As the unit runs it: the system user, CAP_NET_RAW in the ambient and
	// bounding sets, no new privileges. Without the capability the same
	// command gets no raw socket (result_code=2), so the capability is what
	// makes it work.
	asService := func(caps string) string {
		args := []string{"--reuid=" + sysUser, "--regid=" + sysUser, "--clear-groups",
			"--inh-caps=" + caps, "--ambient-caps=" + caps, "--bounding-set=" + caps, "--no-new-privs", "--", "/usr/bin/hping3-plugin"}
		if caps == "-all" {
			args = []string{"--reuid=" + sysUser, "--regid=" + sysUser, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", "/usr/bin/hping3-plugin"}
		}
		return run(t, setpriv, append(args, once...)...)
	}
	checkProbe(t, "as "+sysUser+" with CAP_NET_RAW", asService("-all,+net_raw"), "packets_received=2i", "result_code=0i")
	// The ambient capability serves the plugin's own capture too: the
	// kernel's clock.
	once = append(once, "--debug")
	if out := asService("-all,+net_raw"); strings.Count(out, "(kernel clock)") != 2 || strings.Contains(out, "W! ") {
		t.Errorf("as %s with CAP_NET_RAW, --debug: want two packets on the kernel's clock and no W!:\n%s", sysUser, out)
	}
	once = once[:len(once)-1]
	checkProbe(t, "as "+sysUser+" without capabilities", asService("-all"), "result_code=2i")

	// An upgrade keeps an edited conffile and the user.
	const edit = "# edited by TestDebInstallUpgradePurge\n"
	f, err := os.OpenFile(confPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(edit)
	f.Close()
	const upgrade = "999.0.0"
	upOut := t.TempDir()
	os.Chmod(upOut, 0o755)
	// In its own process: under go test -race, nfpm's compression in this
	// one takes a minute.
	build := exec.Command("go", "run", "./internal/dist/cmd/dist", "-out", upOut, "-version", upgrade, "-arch", "amd64")
	build.Dir = testbin.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("dist -version %s: %v\n%s", upgrade, err, out)
	}
	upDeb := debFile(upgrade, "amd64")
	run(t, aptGet, "install", "-y", "--no-install-recommends", filepath.Join(upOut, upDeb))
	if out := run(t, dpkgQuery, "-W", "-f", "${Status} ${Version}", Name); out != "install ok installed "+upgrade+"-1" {
		t.Fatalf("after the upgrade: %q", out)
	}
	if b, _ := os.ReadFile(confPath); !bytes.Equal(b, append(wantConf(t), edit...)) {
		t.Errorf("the upgrade did not keep the edited %s:\n%s", confPath, b)
	}
	if m, _ := filepath.Glob(confPath + ".*"); len(m) > 0 {
		t.Errorf("the upgrade left %v", m)
	}
	if out := run(t, "/usr/bin/hping3-plugin", "--version"); !strings.HasPrefix(out, "hping3-plugin "+upgrade+"\n") {
		t.Errorf("after the upgrade --version says:\n%s", out)
	}
	pluginCaps("after the upgrade")
	if pw2 := strings.Split(strings.TrimSpace(run(t, getent, "passwd", sysUser)), ":"); pw2[2] != uid {
		t.Errorf("user %s has UID %s after the upgrade, %s before", sysUser, pw2[2], uid)
	}

	// Enabled, then purged: nothing of the package is left, nor its user,
	// nor the enablement.
	run(t, systemctl, "enable", "hping3-plugin-otlp.service")
	if !exists(wantsLink) {
		t.Fatalf("systemctl enable made no %s", wantsLink)
	}
	run(t, aptGet, "purge", "-y", Name)
	if out, err := exec.Command(dpkgQuery, "-W", "-f", "${Status}", Name).CombinedOutput(); err == nil && strings.TrimSpace(string(out)) != "unknown ok not-installed" {
		t.Errorf("after apt-get purge, dpkg-query says %q", out)
	}
	for _, p := range wantList {
		if !existedBefore[p] && exists(p) {
			t.Errorf("apt-get purge left %s", p)
		}
	}
	if exists(wantsLink) {
		t.Errorf("apt-get purge left %s", wantsLink)
	}
	for _, db := range []string{"passwd", "group"} {
		if out, err := exec.Command(getent, db, sysUser).CombinedOutput(); err == nil {
			t.Errorf("apt-get purge left %s in %s: %s", sysUser, db, out)
		}
	}
	if caps := run(t, getcap, hping3); caps != capsBefore {
		t.Errorf("getcap %s: %q after the purge, %q before", hping3, caps, capsBefore)
	}
}

// unitDirectives reads a unit file's Key=Value lines, all sections.
func unitDirectives(t *testing.T, file string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			m[k] = append(m[k], v)
		}
	}
	return m
}

// checkProbe: one line-protocol line for 127.0.0.1 with every field given.
func checkProbe(t *testing.T, what, out string, want ...string) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "hping3,") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Errorf("%s: %d hping3 lines, want 1:\n%s", what, len(lines), out)
		return
	}
	for _, w := range want {
		if !strings.Contains(lines[0], " "+w) && !strings.Contains(lines[0], ","+w) {
			t.Errorf("%s: no %s in\n%s", what, w, lines[0])
		}
	}
}
