package export

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"sort"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.yaml.in/yaml/v3"
)

// full sets every setting a profile can carry, so each target must either
// write it or warn about it.
func full() *Input {
	return &Input{
		Name: "nightly", Source: "nightly.toml", Argv: []string{"/usr/local/bin/backup.sh", "--full", "50%", "$HOME"},
		Limits: Limits{CPUPercent: 20, CPUPeriodUS: 50000, CPUWeight: 100, Cpuset: "0-1", Mem: 500 << 20, MemHigh: 400 << 20,
			Swap: 0, SwapSet: true, Pids: 200,
			IO: []IO{{8, 0, WriteIOPS, 200}, {8, 0, ReadBPS, 20 << 20}, {8, 16, ReadBPS, 5 << 20}, {8, 0, WriteBPS, 10 << 20}, {8, 0, ReadIOPS, 500}}},
		User: "0", Group: "0", Groups: []string{"4"},
		Caps:     Caps{Prune: true, Keep: []string{"net_bind_service", "CAP_KILL"}, NoNewPrivs: true},
		NS:       NS{PID: true, Mount: true, Net: true, UTS: true, IPC: true, User: true, Cgroup: true, Hostname: "box", ReadOnlyRoot: true, RoBind: []Bind{{"/usr", ""}}, Bind: []Bind{{"/srv/data", "/data"}}, Tmpfs: []string{"/tmp"}},
		RconOnly: []string{"run.fit"},
	}
}

func mustExport(t *testing.T, target string, in *Input) *Result {
	t.Helper()
	r, err := Export(target, in)
	if err != nil {
		t.Fatalf("Export(%s): %v", target, err)
	}
	for _, w := range r.Warnings {
		if strings.Contains(w, "\n") {
			t.Errorf("%s: a warning of more than one line: %q", target, w)
		}
	}
	return r
}

func warned(r *Result, sub string) bool {
	for _, w := range r.Warnings {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

func TestSystemdExactConversions(t *testing.T) {
	r := mustExport(t, "systemd", full())
	lines := map[string]bool{}
	for _, l := range strings.Split(r.Text, "\n") {
		lines[l] = true
	}
	for _, want := range []string{
		`ExecStart=/usr/local/bin/backup.sh --full 50%% $$HOME`,
		"CPUQuota=20%", "CPUQuotaPeriodSec=50000us", "CPUWeight=100", "AllowedCPUs=0-1",
		"MemoryMax=500M", "MemoryHigh=400M", "MemorySwapMax=0", "TasksMax=200",
		// Bandwidths in bytes: systemd reads 20M there as 20×1000².
		"IOReadBandwidthMax=/dev/block/8:0 20971520", "IOReadBandwidthMax=/dev/block/8:16 5242880",
		"IOWriteBandwidthMax=/dev/block/8:0 10485760", "IOReadIOPSMax=/dev/block/8:0 500", "IOWriteIOPSMax=/dev/block/8:0 200",
		"User=0", "Group=0", "SupplementaryGroups=4",
		"CapabilityBoundingSet=CAP_KILL CAP_NET_BIND_SERVICE", "AmbientCapabilities=CAP_KILL CAP_NET_BIND_SERVICE",
		"SecureBits=noroot noroot-locked", "NoNewPrivileges=yes",
		"PrivateNetwork=yes", "PrivateIPC=yes", "PrivateUsers=yes", "ProtectHostname=yes", "PrivateMounts=yes",
		"ReadOnlyPaths=/", "BindReadOnlyPaths=/usr:/usr", "BindPaths=/srv/data:/data", "TemporaryFileSystem=/tmp",
	} {
		if !lines[want] {
			t.Errorf("unit lacks the line %q:\n%s", want, r.Text)
		}
	}
	for _, w := range []string{"unshare pid", "unshare cgroup", "hostname", "cpu_weight 100: on cgroup v1 hosts systemd writes cpu.shares 1024", "run.fit"} {
		if !warned(r, w) {
			t.Errorf("no warning about %q: %q", w, r.Warnings)
		}
	}
}

func TestSystemdDropKeepNoneAndDropIn(t *testing.T) {
	in := &Input{Name: "x", Caps: Caps{Prune: true, Drop: []string{"sys_admin", "net_raw"}}}
	r := mustExport(t, "systemd", in)
	if !strings.Contains(r.Text, "CapabilityBoundingSet=~CAP_NET_RAW CAP_SYS_ADMIN\n") || !strings.Contains(r.Text, "NoNewPrivileges=no\n") {
		t.Errorf("drop list:\n%s", r.Text)
	}
	if strings.Contains(r.Text, "ExecStart") || !strings.HasPrefix(strings.SplitN(r.Text, "\n[", 2)[1], "Service]") {
		t.Errorf("without a command, want a [Service] drop-in:\n%s", r.Text)
	}
	in.Caps = Caps{Prune: true, Keep: []string{}}
	if r := mustExport(t, "systemd", in); !strings.Contains(r.Text, "\nCapabilityBoundingSet=\n") {
		t.Errorf("keep none must be an empty bounding set:\n%s", r.Text)
	}
}

func TestExecLineQuoting(t *testing.T) {
	for argv, want := range map[string]string{
		"/bin/echo|a b":       `/bin/echo "a b"`,
		`/bin/echo|say "hi"`:  `/bin/echo "say \"hi\""`,
		"/bin/echo|;":         `/bin/echo \;`,
		"-weird|x":            `"-weird" x`,
		"/bin/echo|-n|100%":   `/bin/echo -n 100%%`,
		`/bin/echo|a\b|${X}`:  `/bin/echo "a\\b" $${X}`,
		"/bin/echo|tab\there": `/bin/echo "tab\there"`,
	} {
		if got := execLine(strings.Split(argv, "|")); got != want {
			t.Errorf("execLine(%q) = %s, want %s", argv, got, want)
		}
	}
}

// The OCI output decodes into the runtime-spec's own Go types with no
// unknown field, and holds rcon's numbers.
func TestOCIExactConversions(t *testing.T) {
	in := full()
	in.Limits.CPUPercent, in.Limits.Swap = 150, 64<<20
	r := mustExport(t, "oci", in)
	var s specs.Spec
	dec := json.NewDecoder(strings.NewReader(r.Text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("config.json does not decode as a runtime-spec Spec: %v\n%s", err, r.Text)
	}
	res := s.Linux.Resources
	if *res.CPU.Quota != 75000 || *res.CPU.Period != 50000 || *res.CPU.Shares != 2597 || res.CPU.Cpus != "0-1" {
		t.Errorf("cpu = quota %d period %d shares %d cpus %q; want 75000 (150%% of 50000), 50000, 2597, 0-1",
			*res.CPU.Quota, *res.CPU.Period, *res.CPU.Shares, res.CPU.Cpus)
	}
	if *res.Memory.Limit != 500<<20 || *res.Memory.Swap != 564<<20 || *res.Memory.Reservation != 400<<20 {
		t.Errorf("memory = %d, swap %d, reservation %d; want the limit, limit + swap, mem_high", *res.Memory.Limit, *res.Memory.Swap, *res.Memory.Reservation)
	}
	if *res.Pids.Limit != 200 {
		t.Errorf("pids %d", *res.Pids.Limit)
	}
	b := res.BlockIO
	if len(b.ThrottleReadBpsDevice) != 2 || b.ThrottleReadBpsDevice[1].Minor != 16 || b.ThrottleReadBpsDevice[0].Rate != 20<<20 ||
		b.ThrottleWriteIOPSDevice[0].Rate != 200 || b.ThrottleReadIOPSDevice[0].Rate != 500 || b.ThrottleWriteBpsDevice[0].Rate != 10<<20 {
		t.Errorf("blockIO %+v", b)
	}
	want := []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"}
	c := s.Process.Capabilities
	for name, set := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted, "inheritable": c.Inheritable, "ambient": c.Ambient} {
		if strings.Join(set, ",") != strings.Join(want, ",") {
			t.Errorf("capabilities.%s = %v, want %v", name, set, want)
		}
	}
	if !s.Process.NoNewPrivileges || s.Process.User.UID != 0 || len(s.Process.User.AdditionalGids) != 1 || s.Process.User.AdditionalGids[0] != 4 {
		t.Errorf("process %+v", s.Process)
	}
	var ns []string
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, string(n.Type))
	}
	sort.Strings(ns)
	if strings.Join(ns, ",") != "cgroup,ipc,mount,network,pid,user,uts" {
		t.Errorf("namespaces %v", ns)
	}
	if s.Hostname != "box" || !s.Root.Readonly {
		t.Errorf("hostname %q, readonly root %v", s.Hostname, s.Root.Readonly)
	}
	if !warned(r, "cpu_weight 100: written as cpu.shares 2597, which runtimes on cgroup v2 hosts turn back into cpu.weight 99") || !warned(r, "uidMappings") {
		t.Errorf("warnings %q", r.Warnings)
	}
}

func TestOCIUnprunedRootGetsAll(t *testing.T) {
	r := mustExport(t, "oci", &Input{Name: "x", Argv: []string{"/bin/true"}})
	var s specs.Spec
	if err := json.Unmarshal([]byte(r.Text), &s); err != nil {
		t.Fatal(err)
	}
	if c := s.Process.Capabilities; len(c.Bounding) < 38 || len(c.Effective) != len(c.Bounding) || len(c.Ambient) != 0 {
		t.Errorf("unpruned root: %+v", c)
	}
	if !warned(r, "prunes no capabilities") || !warned(r, "mount namespace") {
		t.Errorf("warnings %q", r.Warnings)
	}
	if _, err := Export("oci", &Input{Name: "x", User: "no-such-user-rcon"}); err == nil || !strings.Contains(err.Error(), `run.user "no-such-user-rcon"`) {
		t.Errorf("an unknown user name: %v", err)
	}
}

// k8sFields are the field names of core/v1 Container, ResourceRequirements,
// SecurityContext and Capabilities, from the Kubernetes API reference
// (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#Container,
// "Resources" and "Security Context" sections; v1.33): every key the export
// writes must be one of them, at that place.
var k8sFields = map[string][]string{
	"":                             {"name", "image", "command", "args", "workingDir", "env", "resources", "securityContext", "volumeMounts", "ports"},
	"resources":                    {"limits", "requests", "claims"},
	"resources.limits":             {"cpu", "memory", "ephemeral-storage"},
	"securityContext":              {"runAsUser", "runAsGroup", "runAsNonRoot", "allowPrivilegeEscalation", "readOnlyRootFilesystem", "privileged", "capabilities", "procMount", "seccompProfile", "seLinuxOptions", "appArmorProfile", "windowsOptions"},
	"securityContext.capabilities": {"add", "drop"},
}

func checkKeys(t *testing.T, fields map[string][]string, path string, v any) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for k, sub := range m {
		allowed := false
		for _, f := range fields[path] {
			allowed = allowed || f == k
		}
		if !allowed {
			t.Errorf("field %q at %q is not in the API reference's %v", k, path, fields[path])
		}
		p := k
		if path != "" {
			p = path + "." + k
		}
		checkKeys(t, fields, p, sub)
	}
}

func TestKubernetesFieldNamesAndValues(t *testing.T) {
	in := full()
	in.Name = "Nightly_Backup"
	in.User = "1000"
	r := mustExport(t, "kubernetes", in)
	var c map[string]any
	if err := yaml.Unmarshal([]byte(r.Text), &c); err != nil {
		t.Fatalf("%v\n%s", err, r.Text)
	}
	checkKeys(t, k8sFields, "", c)
	lim := c["resources"].(map[string]any)["limits"].(map[string]any)
	sc := c["securityContext"].(map[string]any)
	caps := sc["capabilities"].(map[string]any)
	if c["name"] != "nightly-backup" || lim["cpu"] != "200m" || lim["memory"] != "500Mi" || sc["runAsUser"] != 1000 ||
		sc["allowPrivilegeEscalation"] != false || sc["readOnlyRootFilesystem"] != true ||
		strings.Join(strs(caps["add"]), ",") != "KILL,NET_BIND_SERVICE" || strings.Join(strs(caps["drop"]), ",") != "ALL" {
		t.Errorf("container:\n%s", r.Text)
	}
	for _, w := range []string{"limits.pids", "io_read_bps 8:0", "io_write_iops", "limits.swap", "limits.mem_high", "requests", "run.groups", "ambient", "unshare net", "name \"Nightly_Backup\""} {
		if !warned(r, w) {
			t.Errorf("no warning about %q: %q", w, r.Warnings)
		}
	}
	for pct, want := range map[float64]string{150: "1500m", 0.5: "5m", 0.05: "1m"} {
		r := mustExport(t, "kubernetes", &Input{Name: "x", Limits: Limits{CPUPercent: pct, Mem: 3 << 29}})
		if !strings.Contains(r.Text, "cpu: "+want+"\n") || !strings.Contains(r.Text, "memory: 1536Mi\n") {
			t.Errorf("cpu %g%%: want %s, memory 1536Mi:\n%s", pct, want, r.Text)
		}
	}
}

func strs(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}

// nomadFields are the job specification's names: the task block, the
// docker driver's config and the resources block
// (https://developer.hashicorp.com/nomad/docs/job-specification/task,
// .../job-specification/resources, .../docs/drivers/docker).
var nomadFields = map[string]bool{
	"task": true, "driver": true, "user": true, "config": true, "resources": true,
	"image": true, "command": true, "args": true, "cpu_hard_limit": true, "cpu_cfs_period": true, "pids_limit": true,
	"cap_add": true, "cap_drop": true, "security_opt": true, "network_mode": true, "hostname": true, "readonly_rootfs": true, "volumes": true,
	"cpu": true, "memory": true,
}

var hclKey = regexp.MustCompile(`^\s*([a-z_]+)\s*(=|"[^"]*"\s*\{|\{)`)

func TestNomadFieldNamesAndValues(t *testing.T) {
	in := full()
	in.MHzPerCPU = 2500
	in.User = "backup"
	r := mustExport(t, "nomad", in)
	for _, l := range strings.Split(r.Text, "\n") {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#") || strings.TrimSpace(l) == "}" {
			continue
		}
		m := hclKey.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("not an HCL attribute or block: %q", l)
			continue
		}
		if !nomadFields[m[1]] {
			t.Errorf("%q is not a Nomad job specification name", m[1])
		}
	}
	for _, want := range []string{
		`task "nightly" {`, `user   = "backup:0"`, `command = "/usr/local/bin/backup.sh"`, `args    = ["--full", "50%", "$HOME"]`,
		"cpu_hard_limit = true", "cpu_cfs_period = 50000", "pids_limit = 200", `cap_drop = ["all"]`,
		`cap_add  = ["kill", "net_bind_service"]`, `security_opt = ["no-new-privileges"]`, `network_mode = "none"`,
		`hostname = "box"`, "readonly_rootfs = true", `volumes = ["/usr:/usr:ro", "/srv/data:/data"]`,
		"cpu    = 500 # MHz", "memory = 500 # MB",
	} {
		if !strings.Contains(r.Text, want+"\n") {
			t.Errorf("task lacks %q:\n%s", want, r.Text)
		}
	}
	if !warned(r, "a share the scheduler reserves, not a cap: written as 20/100 × 2500 MHz per core") || !warned(r, "limits.swap") || !warned(r, "run.tmpfs") {
		t.Errorf("warnings %q", r.Warnings)
	}
	if got := hclString(`a"b\c ${x} %{y}`); got != `"a\"b\\c $${x} %%{y}"` {
		t.Errorf("hclString = %s", got)
	}
}

func TestSlurm(t *testing.T) {
	r := mustExport(t, "slurm", full())
	for _, want := range []string{"#SBATCH --job-name=nightly\n", "#SBATCH --cpus-per-task=1\n", "#SBATCH --mem=500M\n", "exec /usr/local/bin/backup.sh --full 50% '$HOME'\n"} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("script lacks %q:\n%s", want, r.Text)
		}
	}
	for _, w := range []string{"rounded up to --cpus-per-task=1", "caps: Slurm", "limits.pids", "run.unshare", "run.user"} {
		if !warned(r, w) {
			t.Errorf("no warning about %q: %q", w, r.Warnings)
		}
	}
	r = mustExport(t, "slurm", &Input{Name: "x", Limits: Limits{CPUPercent: 200, Mem: 1<<20 + 1}})
	if !strings.Contains(r.Text, "--cpus-per-task=2\n") || !strings.Contains(r.Text, "--mem=2M\n") || warned(r, "cpus-per-task") || !warned(r, "rounded up to 2M") {
		t.Errorf("200%% and 1M+1:\n%s%q", r.Text, r.Warnings)
	}
}

func TestUnknownTarget(t *testing.T) {
	_, err := Export("docker", full())
	var u *UnknownTargetError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "systemd, oci, kubernetes, nomad, slurm") {
		t.Errorf("unknown target: %v", err)
	}
}

// Every target says something (a line or a warning) about every setting:
// a setting dropped silently is a limit that no longer holds.
func TestEveryTargetWarnsRconOnly(t *testing.T) {
	for _, target := range Targets {
		r := mustExport(t, target, full())
		if !warned(r, "run.fit: acted on by rcon itself") {
			t.Errorf("%s: no warning for run.fit", target)
		}
		var buf bytes.Buffer
		buf.WriteString(r.Text)
		if buf.Len() == 0 {
			t.Errorf("%s: no output", target)
		}
	}
}
