package deploy

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/internal/testotlp"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// manifests are the documents of examples/kubernetes/*.yaml, decoded
// strictly: a field the Kubernetes API types do not have fails the test.
type manifests struct {
	daemonSets []*appsv1.DaemonSet
	configMaps []*corev1.ConfigMap
	services   []*corev1.Service
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

func decodeManifests(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testbin.RepoRoot(), "examples", "kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples/kubernetes/*.yaml: %v", err)
	}
	var m manifests
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range docSeparator.Split(string(b), -1) {
			where := fmt.Sprintf("%s document %d", filepath.Base(f), i+1)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			if tm.Kind == "" && tm.APIVersion == "" && strings.TrimSpace(stripComments(doc)) == "" {
				continue // comments only
			}
			var obj any
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 DaemonSet":
				ds := &appsv1.DaemonSet{}
				m.daemonSets, obj = append(m.daemonSets, ds), ds
			case "v1 ConfigMap":
				cm := &corev1.ConfigMap{}
				m.configMaps, obj = append(m.configMaps, cm), cm
			case "v1 Service":
				svc := &corev1.Service{}
				m.services, obj = append(m.services, svc), svc
			default:
				t.Errorf("%s: %s %s, want a DaemonSet (apps/v1), ConfigMap or Service (v1)", where, tm.APIVersion, tm.Kind)
				continue
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Errorf("%s (%s): %v", where, tm.Kind, err)
			}
		}
	}
	if len(m.daemonSets) != 1 || len(m.configMaps) != 1 || len(m.services) != 1 {
		t.Fatalf("%d DaemonSets, %d ConfigMaps, %d Services in examples/kubernetes, want one each", len(m.daemonSets), len(m.configMaps), len(m.services))
	}
	return m
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// containerfileUser is the uid and gid of the Containerfile's USER line.
func containerfileUser(t *testing.T) (uid, gid int64) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^USER (\d+):(\d+)$`).FindStringSubmatch(example(t, "Containerfile"))
	if m == nil {
		t.Fatal("Containerfile has no numeric USER uid:gid line")
	}
	uid, _ = strconv.ParseInt(m[1], 10, 64)
	gid, _ = strconv.ParseInt(m[2], 10, 64)
	return uid, gid
}

// TestKubernetesManifests: examples/kubernetes decodes strictly into the
// Kubernetes API types; the DaemonSet runs the image as its non-root user
// with NET_RAW the only capability, not privileged, with a memory limit;
// it exports to the Service of the same directory; and the ConfigMap's
// settings, with the DaemonSet's arguments, pass the plugin's own
// validation.
func TestKubernetesManifests(t *testing.T) {
	m := decodeManifests(t)
	ds, cm, svc := m.daemonSets[0], m.configMaps[0], m.services[0]
	pod := ds.Spec.Template.Spec

	for k, v := range ds.Spec.Selector.MatchLabels {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("DaemonSet selector %s=%s does not match the pod template's labels %v", k, v, ds.Spec.Template.Labels)
		}
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("%d containers and %d init containers, want one container", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	if pod.HostPID || pod.HostIPC {
		t.Errorf("hostPID %v, hostIPC %v: want neither", pod.HostPID, pod.HostIPC)
	}

	// Security: the user of the Containerfile, non-root, NET_RAW only.
	uid, gid := containerfileUser(t)
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatal("want a pod and a container securityContext")
	}
	pick := func(container, pod *int64) *int64 {
		if container != nil {
			return container
		}
		return pod
	}
	if u := pick(sc.RunAsUser, psc.RunAsUser); u == nil || *u != uid {
		t.Errorf("runAsUser %v, want the Containerfile's %d", deref(u), uid)
	}
	if g := pick(sc.RunAsGroup, psc.RunAsGroup); g == nil || *g != gid {
		t.Errorf("runAsGroup %v, want the Containerfile's %d", deref(g), gid)
	}
	nonRoot := psc.RunAsNonRoot
	if sc.RunAsNonRoot != nil {
		nonRoot = sc.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		t.Errorf("runAsNonRoot %v, want true", derefBool(nonRoot))
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged: true; want only NET_RAW added")
	}
	if sc.Capabilities == nil {
		t.Fatal("no capabilities in the container's securityContext")
	}
	if got := sc.Capabilities.Add; !slices.Equal(got, []corev1.Capability{"NET_RAW"}) {
		t.Errorf("capabilities.add %q, want exactly [NET_RAW]", got)
	}
	if got := sc.Capabilities.Drop; !slices.Equal(got, []corev1.Capability{"ALL"}) {
		t.Errorf("capabilities.drop %q, want [ALL]", got)
	}
	// The user gains NET_RAW through hping3's file capability, which
	// no_new_privs (allowPrivilegeEscalation: false) disables: the
	// container test shows both.
	if sc.AllowPrivilegeEscalation == nil || !*sc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation %v: want true, or hping3's file capability is ignored and every probe fails", derefBool(sc.AllowPrivilegeEscalation))
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem not true (the container test runs the image read-only)")
	}

	// Resources: a memory limit, a request at most that; no CPU limit.
	lim, req := c.Resources.Limits, c.Resources.Requests
	if q, ok := lim[corev1.ResourceMemory]; !ok || q.IsZero() {
		t.Error("no memory limit")
	} else if r, ok := req[corev1.ResourceMemory]; !ok || r.Cmp(q) > 0 {
		t.Errorf("memory request %v, want one of at most the limit %v", req[corev1.ResourceMemory], q)
	}
	if _, ok := req[corev1.ResourceCPU]; !ok {
		t.Error("no CPU request")
	}
	if q, ok := lim[corev1.ResourceCPU]; ok {
		t.Errorf("CPU limit %v: throttling would show as RTT; want none", &q)
	}

	// Where it exports: the Service, by its cluster name and port.
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	var port int32
	for _, p := range svc.Spec.Ports {
		if p.Name == "otlp-grpc" {
			port = p.Port
		}
	}
	wantEndpoint := fmt.Sprintf("http://%s.%s.svc:%d", svc.Name, svc.Namespace, port)
	if got := env["OTEL_EXPORTER_OTLP_ENDPOINT"].Value; got != wantEndpoint {
		t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %q, want the Service's %q", got, wantEndpoint)
	}
	if svc.Namespace != ds.Namespace || cm.Namespace != ds.Namespace {
		t.Errorf("namespaces: DaemonSet %q, ConfigMap %q, Service %q: want one", ds.Namespace, cm.Namespace, svc.Namespace)
	}
	if f := env["NODE_NAME"].ValueFrom; f == nil || f.FieldRef == nil || f.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("NODE_NAME %+v, want the downward API's spec.nodeName", env["NODE_NAME"])
	}

	// The arguments, with Kubernetes' $(NODE_NAME) expanded, and the
	// ConfigMap mounted where --config points: the configuration the
	// plugin would run, through its own loader and validation.
	args := slices.Clone(c.Args)
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "$(NODE_NAME)", "node-1")
	}
	fs := flag.NewFlagSet("hping3-plugin", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	confPath := fs.String("config", "", "")
	pf := config.RegisterProbeFlags(fs, config.DefaultSettings())
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		t.Fatalf("DaemonSet args %q: %v %q", c.Args, err, fs.Args())
	}
	dir, key := filepath.Split(*confPath)
	var mounted string
	for _, vm := range c.VolumeMounts {
		if filepath.Clean(vm.MountPath) == filepath.Clean(dir) {
			mounted = vm.Name
		}
	}
	var fromConfigMap bool
	for _, v := range pod.Volumes {
		if v.Name == mounted && v.ConfigMap != nil && v.ConfigMap.Name == cm.Name {
			fromConfigMap = true
		}
	}
	if !fromConfigMap {
		t.Fatalf("--config %s is not in a volume of ConfigMap %s", *confPath, cm.Name)
	}
	text, ok := cm.Data[key]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %q (--config %s)", cm.Name, key, *confPath)
	}
	file := writeFile(t, filepath.Join(t.TempDir(), key), text)
	if _, err := config.LoadFile(file); err != nil {
		t.Errorf("the ConfigMap's %s does not load: %v", key, err)
	}
	cfg, err := pf.Build(file, config.DefaultSettings())
	if err != nil {
		t.Fatalf("the ConfigMap's %s with the DaemonSet's args does not validate: %v", key, err)
	}
	if cfg.Vantage != "node-1" {
		t.Errorf("vantage %q with NODE_NAME=node-1, want node-1", cfg.Vantage)
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func derefBool(p *bool) any {
	if p == nil {
		return nil
	}
	return *p
}

// daemonSetMemoryLimit is the DaemonSet's memory limit and its GOMEMLIMIT
// (written in MiB), in bytes.
func daemonSetMemoryLimit(t *testing.T) (limit, goMemLimit int64) {
	t.Helper()
	c := decodeManifests(t).daemonSets[0].Spec.Template.Spec.Containers[0]
	q := c.Resources.Limits[corev1.ResourceMemory]
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			mib, err := strconv.ParseInt(strings.TrimSuffix(e.Value, "MiB"), 10, 64)
			if err != nil || !strings.HasSuffix(e.Value, "MiB") {
				t.Errorf("GOMEMLIMIT %q, want a whole number of MiB", e.Value)
			}
			goMemLimit = mib << 20
		}
	}
	return q.Value(), goMemLimit
}

// TestDaemonSetMemoryLimit measures what the DaemonSet's memory limit is
// for: the plugin in --otlp mode (the default mode, continuous, and probe
// settings) with 1000 ICMP targets on 127.0.0.0/8 for 25 s, exporting to an
// OTLP server in the test every 10 s. The peak RSS of the plugin and its
// hping3 together must stay under half the limit (measured by hand, the
// peak is flat after the first minute, a few MiB above 25 s's), and the
// container's GOMEMLIMIT under the limit.
func TestDaemonSetMemoryLimit(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	if testing.Short() {
		t.Skip("25 s of probing")
	}
	limit, goMemLimit := daemonSetMemoryLimit(t)
	if goMemLimit <= 0 || goMemLimit >= limit {
		t.Errorf("GOMEMLIMIT %d bytes, want one below the memory limit %d", goMemLimit, limit)
	}
	plugin := testbin.Plugin(t)
	s := testotlp.StartSink(t)
	var targets []string
	for i := 2; len(targets) < 1000; i++ {
		targets = append(targets, fmt.Sprintf("%q", fmt.Sprintf("127.0.%d.%d", i/250, i%250+1)))
	}
	conf := writeFile(t, filepath.Join(t.TempDir(), "targets.conf"), "[[inputs.hping3]]\ntargets = ["+strings.Join(targets, ", ")+"]\n")
	p := testotlp.Start(t, nil, plugin, "--otlp", "--otlp-endpoint", "http://"+s.Addr, "--config", conf, "--poll-interval", "10s")

	var hping3Peak int64
	deadline := time.Now().Add(25 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		for _, kid := range children(p.Cmd.Process.Pid) {
			if hwm := statusKiB(kid, "VmHWM:"); hwm > hping3Peak {
				hping3Peak = hwm
			}
		}
	}
	pluginPeak := statusKiB(p.Cmd.Process.Pid, "VmHWM:")
	if code, _ := p.Stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	first := strings.Trim(targets[0], `"`)
	s.WaitPoint(t, time.Second, "for "+first, func(p testotlp.Point) bool { return p.Attrs["server.address"] == first })
	total := (pluginPeak + hping3Peak) << 10
	t.Logf("1000 targets, 25 s: plugin peak RSS %.1f MiB, hping3 %.1f MiB; DaemonSet limit %v",
		float64(pluginPeak)/1024, float64(hping3Peak)/1024, resource.NewQuantity(limit, resource.BinarySI))
	if pluginPeak == 0 || hping3Peak == 0 {
		t.Fatalf("no peak RSS read (plugin %d KiB, hping3 %d KiB)", pluginPeak, hping3Peak)
	}
	if 2*total > limit {
		t.Errorf("peak RSS %d MiB is more than half the DaemonSet's memory limit %d MiB: raise the limit (and its comment)", total>>20, limit>>20)
	}
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		kid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces; split after ")".
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, kid)
		}
	}
	return out
}

// statusKiB reads a kB field (VmHWM:, VmRSS:) of /proc/pid/status; 0 when
// the process is gone.
func statusKiB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}
