package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/internal/testotlp"
)

// podman runs podman or buildah against a storage of the test's own, with
// the flags each of which was found needed here: vfs storage (no overlay
// mounts in this sandbox), runc with cgroupfs (crun refuses the hybrid
// cgroup layout), and no default ulimits (see newPodman).
type podman struct {
	root, runroot, conf string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	testbin.RequireRoot(t)
	for _, tool := range []string{"podman", "buildah", "runc", "debootstrap"} {
		testbin.RequireTool(t, tool)
	}
	removeStaleStorage(t)
	// Short: podman's sockets live under runroot. The pid lets a later run
	// remove what a killed one left.
	dir, err := os.MkdirTemp("", fmt.Sprintf("h3ctr-%d-", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	p := &podman{root: filepath.Join(dir, "root"), runroot: filepath.Join(dir, "run"), conf: filepath.Join(dir, "containers.conf")}
	// podman's default ulimits exceed the sandbox's hard limits.
	writeFile(t, p.conf, "[containers]\ndefault_ulimits = []\n")
	t.Cleanup(func() {
		p.cmd("podman", "rm", "--all", "--force").Run()
		p.cmd("podman", "rmi", "--all", "--force").Run()
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing the test's container storage: %v", err)
		}
	})
	return p
}

// removeStaleStorage removes the container storage of test processes that
// died before their cleanup ran (their containers died with them: podman
// run --detach leaves no daemon behind, conmon exits with the container).
func removeStaleStorage(t *testing.T) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "h3ctr-*-*"))
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(d), "h3ctr-%d-", &pid); err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); err == nil || err == syscall.EPERM {
			continue // still running
		}
		t.Logf("removing %s, left by test process %d", d, pid)
		os.RemoveAll(d)
	}
}

func (p *podman) cmd(tool string, args ...string) *exec.Cmd {
	global := []string{"--root", p.root, "--runroot", p.runroot, "--storage-driver", "vfs"}
	if tool == "podman" {
		global = append(global, "--runtime", "runc", "--cgroup-manager", "cgroupfs")
	}
	cmd := exec.Command(tool, append(global, args...)...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	return cmd
}

// run runs the tool and returns its stdout, failing the test on an error.
func (p *podman) run(t *testing.T, tool string, args ...string) string {
	t.Helper()
	cmd := p.cmd(tool, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", tool, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

// baseImage is the Containerfile's FROM, imported into the test's storage
// from a Debian 12 root file system that debootstrap builds from the
// machine's own apt mirror once (about 35 s) and the tools cache keeps.
const baseImage = "debian:bookworm-slim"

func debianRootfs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testbin.ToolsDir(), "debian-bookworm-minbase")
	tarball := filepath.Join(dir, "rootfs.tar")
	if _, err := os.Stat(tarball); err == nil {
		return tarball
	}
	must(t, os.MkdirAll(dir, 0o755), "tools cache")
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	must(t, err, "lock")
	defer lock.Close()
	must(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_EX), "lock")
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(tarball); err == nil {
		return tarball // built by another test process meanwhile
	}
	mirror := aptMirror(t)
	tree, err := os.MkdirTemp(dir, "tree-")
	must(t, err, "debootstrap directory")
	defer os.RemoveAll(tree)
	began := time.Now()
	if out, err := exec.Command("debootstrap", "--variant=minbase", "bookworm", tree, mirror).CombinedOutput(); err != nil {
		t.Fatalf("debootstrap bookworm from %s: %v\n%s", mirror, err, out)
	}
	// The tree's top is the image's /: MkdirTemp made it 0700.
	must(t, os.Chmod(tree, 0o755), "debootstrap directory")
	tmp := tarball + ".tmp"
	if out, err := exec.Command("tar", "-C", tree, "-cf", tmp, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar of the root file system: %v\n%s", err, out)
	}
	must(t, os.Rename(tmp, tarball), "caching the root file system")
	t.Logf("debootstrapped Debian 12 from %s into %s in %s (cached for later runs)", mirror, tarball, time.Since(began).Round(time.Second))
	return tarball
}

// aptMirror is the first Debian archive of the machine's apt sources.
func aptMirror(t *testing.T) string {
	t.Helper()
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range append(files, "/etc/apt/sources.list") {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			switch {
			case len(fs) >= 2 && fs[0] == "URIs:" && !strings.Contains(fs[1], "security"):
				return fs[1]
			case len(fs) >= 3 && fs[0] == "deb" && !strings.HasPrefix(fs[1], "[") && !strings.Contains(fs[1], "security"):
				return fs[1]
			}
		}
	}
	testbin.Skip(t, "no Debian mirror in /etc/apt/sources.list or sources.list.d")
	return ""
}

// buildImage builds the repository's Containerfile, unchanged, from a
// context of the files it copies: the plugin built static, and the example
// settings.
func buildImage(t *testing.T, pm *podman) string {
	t.Helper()
	tarball := debianRootfs(t)
	began := time.Now()
	f, err := os.Open(tarball)
	must(t, err, "root file system")
	defer f.Close()
	// With the PATH the registry's image sets.
	imp := pm.cmd("podman", "import", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "-", baseImage)
	imp.Stdin = f
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("podman import %s: %v\n%s", baseImage, err, out)
	}
	imported := time.Since(began)

	ctx := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(ctx, "examples"), 0o755), "context")
	writeFile(t, filepath.Join(ctx, "Containerfile"), example(t, "Containerfile"))
	writeFile(t, filepath.Join(ctx, "examples", "hping3-plugin.conf"), example(t, "examples/hping3-plugin.conf"))
	gobuild := exec.Command("go", "build", "-o", filepath.Join(ctx, "hping3-plugin"), "./cmd/hping3-plugin")
	gobuild.Dir = testbin.RepoRoot()
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	image := fmt.Sprintf("localhost/hping3-plugin-test:%d", os.Getpid())
	began = time.Now()
	pm.run(t, "buildah", "bud", "--isolation", "chroot", "--pull=never", "-t", image, ctx)
	t.Logf("imported %s in %s, built the image in %s", baseImage, imported.Round(100*time.Millisecond), time.Since(began).Round(100*time.Millisecond))
	return image
}

// TestContainer builds the Containerfile with no image registry and runs
// it as the README and docs/deployment.md say: only NET_RAW added (all
// else dropped), read-only, host network, the Collector from
// OTEL_EXPORTER_OTLP_ENDPOINT, the settings mounted over the image's. The
// container probes 127.0.0.1 as uid 10001 with no capability but NET_RAW
// in reach, and a real Collector on the host receives its points with the
// vantage of the mounted settings. Then, with --once: hping3's file
// capability alone suffices (as under Kubernetes, which gives a non-root
// container no ambient capability), and no_new_privs or no NET_RAW makes
// every probe fail with result_code=2.
func TestContainer(t *testing.T) {
	pm := newPodman(t)
	image := buildImage(t, pm)

	var cfg struct {
		User       string
		Entrypoint []string
		Cmd        []string
	}
	must(t, json.Unmarshal([]byte(pm.run(t, "podman", "image", "inspect", "--format", "{{json .Config}}", image)), &cfg), "image config")
	if cfg.User != "10001:10001" {
		t.Errorf("image user %q, want 10001:10001", cfg.User)
	}
	if want := []string{"/usr/local/bin/hping3-plugin", "--otlp"}; !slices.Equal(cfg.Entrypoint, want) {
		t.Errorf("entrypoint %q, want %q", cfg.Entrypoint, want)
	}
	// hping3 and the plugin each hold their own file capability: the
	// plugin's permitted only (plugin/capture/caps.go).
	for bin, want := range map[string]string{"/usr/sbin/hping3": "cap_net_raw=ep", "/usr/local/bin/hping3-plugin": "cap_net_raw=p"} {
		if got := pm.run(t, "podman", "run", "--rm", "--entrypoint", "/usr/sbin/getcap", image, bin); strings.TrimSpace(got) != bin+" "+want {
			t.Errorf("getcap %s in the image: %q, want %s", bin, got, want)
		}
	}

	// A real Collector on the host, passing everything on to the test.
	s := testotlp.StartSink(t)
	recv := testotlp.FreePort(t)
	collectorCfg := writeFile(t, filepath.Join(t.TempDir(), "otelcol.yaml"), testotlp.ForwardingConfig(recv, s.Addr, false))
	testotlp.StartCollector(t, testbin.Otelcol(t), collectorCfg)

	const vantage = "container-e2e"
	settingsDir := t.TempDir()
	must(t, os.Chmod(settingsDir, 0o755), "settings directory") // for uid 10001
	writeFile(t, filepath.Join(settingsDir, "hping3-plugin.conf"), `vantage = "`+vantage+`"
poll_interval = "1s"
[[inputs.hping3]]
targets = ["127.0.0.1"]
count = 2
interval = "100ms"
`)
	name := fmt.Sprintf("hping3-plugin-test-%d", os.Getpid())
	began := time.Now()
	pm.run(t, "podman", "run", "--detach", "--name", name, "--network", "host", "--read-only",
		"--cap-drop", "ALL", "--cap-add", "NET_RAW",
		"--env", "OTEL_EXPORTER_OTLP_ENDPOINT=http://"+recv,
		"--volume", settingsDir+":/etc/hping3-plugin:ro", image)
	rcv := s.WaitPoint(t, 60*time.Second, "hping3.packets.received for 127.0.0.1 from "+vantage, probePoint("hping3.packets.received", vantage))
	t.Logf("first point from the container %s after podman run", time.Since(began).Round(100*time.Millisecond))
	if rcv.Value < 1 {
		t.Errorf("hping3.packets.received = %v, want at least 1 from loopback", rcv.Value)
	}
	if st := s.WaitPoint(t, 10*time.Second, "hping3.probe.status", probePoint("hping3.probe.status", vantage)); st.Value != 0 {
		t.Errorf("hping3.probe.status = %v, want 0", st.Value)
	}

	// The process, seen from the host: the entrypoint and CMD, uid and gid
	// 10001, nothing but NET_RAW in its bounding set.
	pid := strings.TrimSpace(pm.run(t, "podman", "inspect", "--format", "{{.State.Pid}}", name))
	cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline")
	must(t, err, "the container's process")
	if got, want := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00"), []string{"/usr/local/bin/hping3-plugin", "--otlp", "--config", "/etc/hping3-plugin/hping3-plugin.conf"}; !slices.Equal(got, want) {
		t.Errorf("container process %q, want %q", got, want)
	}
	status, err := os.ReadFile("/proc/" + pid + "/status")
	must(t, err, "the container's process")
	for field, want := range map[string]string{"Uid:": "10001 10001 10001 10001", "Gid:": "10001 10001 10001 10001",
		"CapBnd:": "0000000000002000", "NoNewPrivs:": "0"} {
		if got := statusField(string(status), field); got != want {
			t.Errorf("container process %s %q, want %q", field, got, want)
		}
	}

	pm.run(t, "podman", "stop", "--time", "10", name)
	if code := strings.TrimSpace(pm.run(t, "podman", "inspect", "--format", "{{.State.ExitCode}}", name)); code != "0" {
		t.Errorf("exit status %s after podman stop, want 0", code)
	}
	logs := pm.cmd("podman", "logs", name)
	out, _ := logs.CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		// No E!, and no W! about the plugin's capture: it holds
		// CAP_NET_RAW of its own and times with the kernel's clock.
		if strings.HasPrefix(l, "E! ") || strings.HasPrefix(l, "W! ") {
			t.Errorf("the container logged %q", l)
		}
	}
	pm.run(t, "podman", "rm", name)

	// One round with --once, the plugin started with no inherited or
	// ambient capability (setpriv clears the ambient set podman gives a
	// non-root user): the file capabilities are what count.
	once := func(opts ...string) string {
		t.Helper()
		args := append([]string{"run", "--rm", "--network", "host", "--read-only", "--cap-drop", "ALL"}, opts...)
		args = append(args, "--entrypoint", "setpriv", image, "--inh-caps=-all", "--ambient-caps=-all")
		args = append(args, "--", "/usr/local/bin/hping3-plugin", "--once", "--target", "127.0.0.1", "--count", "1", "--interval", "100ms")
		out := pm.run(t, "podman", args...)
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "hping3,") {
				i := strings.Index(l, "result_code=")
				if i < 0 {
					break
				}
				return strings.Fields(l[i+len("result_code="):])[0]
			}
		}
		t.Fatalf("no hping3 line from podman %s:\n%s", strings.Join(args, " "), out)
		return ""
	}
	for _, c := range []struct {
		opts []string
		want string
		why  string
	}{
		{[]string{"--cap-add", "NET_RAW"}, "0i", "hping3's and the plugin's file capabilities within the bounding set"},
		{nil, "2i", "no NET_RAW in the bounding set"},
		// no_new_privs lets a file capability grant nothing the process
		// did not hold already; setpriv held NET_RAW in its permitted set
		// (podman gives it), so the plugin and hping3 keep it.
		{[]string{"--cap-add", "NET_RAW", "--security-opt", "no-new-privileges"}, "0i", "no_new_privs: nothing gained beyond what the container gave"},
	} {
		if got := once(c.opts...); got != c.want {
			t.Errorf("podman run --cap-drop ALL %s, plugin without capabilities: result_code=%s, want %s (%s)", strings.Join(c.opts, " "), got, c.want, c.why)
		}
	}
}

// statusField is a field of /proc/PID/status with its blanks made single
// spaces.
func statusField(status, field string) string {
	for _, l := range strings.Split(status, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == field {
			return strings.Join(f[1:], " ")
		}
	}
	return ""
}
