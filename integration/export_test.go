package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestExportSystemdUnitVerifies: the unit (and the drop-in) that rcon
// profile export writes pass systemd-analyze verify without a single
// complaint: verify exits 0 on an unknown key or a bad value (it only
// logs "ignoring"), so any line on its stderr fails the test. It runs
// without systemd as PID 1: --man=no and --generators=no keep it from
// what needs a running manager.
func TestExportSystemdUnitVerifies(t *testing.T) {
	analyze := needProgram(t, "systemd-analyze", "systemd")
	prof := writeProfile(t, "svc", `
[limits]
cpu = 150
cpu_period_us = 50000
cpu_weight = 200
cpuset = "0"
mem = "500M"
mem_high = "400M"
swap = "0"
pids = 200
io_read_bps = { "8:0" = "20M" }
io_write_bps = { "8:0" = "10M" }
io_read_iops = { "8:0" = 500 }
io_write_iops = { "8:0" = 300 }

[run]
command = ["/bin/echo", "100%", "a b", "$HOME"]
user = "daemon"
group = "daemon"
groups = ["adm"]
unshare = ["net", "ipc", "uts", "user", "mount", "pid"]
read_only_root = true
ro_bind = ["/usr"]
bind = ["/srv:/data"]
tmpfs = ["/tmp"]

[caps]
keep = ["net_bind_service"]
no_new_privs = true
`)
	dir := t.TempDir()
	verify := func(unit string) {
		t.Helper()
		cmd := exec.Command(analyze, "verify", "--man=no", "--generators=no", "--recursive-errors=no", unit)
		out, err := cmd.CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", filepath.Base(unit), err, out)
		}
	}
	r := rcon(t, "profile", "export", prof, "--to", "systemd")
	if r.Code != 0 {
		t.Fatalf("export: exit %d: %s", r.Code, r.Stderr)
	}
	for _, want := range []string{"CPUQuota=150%", "IOReadBandwidthMax=/dev/block/8:0 20971520", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "PrivateNetwork=yes"} {
		if !strings.Contains(r.Stdout, want+"\n") {
			t.Errorf("unit lacks %q:\n%s", want, r.Stdout)
		}
	}
	if !strings.Contains(r.Stderr, "rcon: export systemd: warning: run.unshare pid:") {
		t.Errorf("no warning for the pid namespace on stderr: %q", r.Stderr)
	}
	unit := filepath.Join(dir, "rcontest-export.service")
	if err := os.WriteFile(unit, []byte(r.Stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	verify(unit)

	// Without a command: a drop-in, verified on a unit that has one.
	prof2 := writeProfile(t, "dropin", "[limits]\ncpu = 20\nmem = \"1G\"\n[caps]\ndrop = [\"sys_admin\"]\n")
	r = rcon(t, "profile", "export", prof2, "--to", "systemd")
	if r.Code != 0 || strings.Contains(r.Stdout, "ExecStart") {
		t.Fatalf("export drop-in: exit %d: %s\n%s", r.Code, r.Stderr, r.Stdout)
	}
	base := filepath.Join(dir, "rcontest-base.service")
	if err := os.WriteFile(base, []byte("[Service]\nExecStart=/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := base + ".d"
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "rcon.conf"), []byte(r.Stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	verify(base)
	// verify reads the drop-in: a bad line in it is reported, so the
	// clean verify above did check the export.
	if err := os.WriteFile(filepath.Join(d, "bad.conf"), []byte("[Service]\nCPUQuota=lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command(analyze, "verify", "--man=no", "--generators=no", "--recursive-errors=no", base).CombinedOutput(); !strings.Contains(string(out), "lots") {
		t.Errorf("verify did not read the drop-in directory: %s", out)
	}
}

// cgFiles are the limit files a v1 host holds for the settings compared,
// by hierarchy.
var cgFiles = []string{
	"cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us", "cpu/cpu.shares", "cpuset/cpuset.cpus",
	"memory/memory.limit_in_bytes", "memory/memory.soft_limit_in_bytes", "memory/memory.memsw.limit_in_bytes",
	"pids/pids.max", "blkio/blkio.throttle.read_bps_device", "blkio/blkio.throttle.write_iops_device",
}

// cgValues reads cgFiles for the process whose /proc/PID/cgroup is
// procCgroup, from the v1 hierarchies under /sys/fs/cgroup.
func cgValues(procCgroup string) map[string]string {
	dirs := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(procCgroup), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 || f[1] == "" {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			dirs[c] = filepath.Join("/sys/fs/cgroup", f[1], f[2])
		}
	}
	out := map[string]string{}
	for _, cf := range cgFiles {
		ctrl, file, _ := strings.Cut(cf, "/")
		data, err := os.ReadFile(filepath.Join(dirs[ctrl], file))
		if err != nil {
			out[cf] = "error: " + err.Error()
			continue
		}
		out[cf] = strings.TrimSpace(string(data))
	}
	return out
}

// capLines are the capability and no_new_privs lines of a status file.
func capLines(status string) string {
	var out []string
	for _, l := range strings.Split(status, "\n") {
		if strings.HasPrefix(l, "Cap") || strings.HasPrefix(l, "NoNewPrivs:") {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(out, "\n")
}

// cgFilesHelper prints, as JSON, the limit files of its own groups and its
// capability lines: what rcon set up, seen from inside the command.
func cgFilesHelper() int {
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out, _ := json.Marshal(map[string]any{"files": cgValues(string(cg)), "caps": capLines(string(st))})
	fmt.Println(string(out))
	return 0
}

// ownV1Path is a cgroup path beneath this process's own group in every
// v1 hierarchy (they may differ: the deepest one, when the others are
// its prefixes), or "" when there is none.
func ownV1Path(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	deepest := "/"
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 || f[1] == "" {
			continue
		}
		paths = append(paths, f[2])
		if len(f[2]) > len(deepest) {
			deepest = f[2]
		}
	}
	for _, p := range paths {
		if p != "/" && deepest != p && !strings.HasPrefix(deepest, p+"/") {
			return ""
		}
	}
	return deepest
}

// TestExportOCIBundleRunsUnderCrunAsRcon: the config.json rcon profile
// export writes runs under Debian's crun, and the cgroup files crun wrote
// for the container hold what rcon writes for a run of the same profile
// (read from inside that run through /proc/self/cgroup), as do the
// capability sets and no_new_privs. Both are also checked against the
// numbers the profile means, so a conversion both got wrong still fails.
// crun's group is made beneath a group this test creates under its own
// cgroup (cgroupfs manager), and removed at the end however the test
// ends.
func TestExportOCIBundleRunsUnderCrunAsRcon(t *testing.T) {
	needRoot(t)
	crun := needProgram(t, "crun", "crun")
	busybox := needProgram(t, "busybox", "busybox-static")
	unshare := needProgram(t, "unshare", "util-linux")
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		t.Skip("cgroup v2: this test compares v1 files (crun's v2 conversions differ by design: see the export's warnings)")
	}
	own := ownV1Path(t)
	if own == "" {
		t.Skip("this process's v1 groups have no common path beneath all of them for crun's one cgroupsPath")
	}
	dev, err := os.ReadFile("/sys/block/" + firstBlockDevice(t) + "/dev")
	if err != nil {
		t.Fatal(err)
	}
	majmin := strings.TrimSpace(string(dev))
	swap := ""
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err == nil {
		swap = `swap = "16M"`
	}
	prof := writeProfile(t, "oci", fmt.Sprintf(`
[limits]
cpu = 50
cpu_period_us = 50000
cpu_weight = 200
cpuset = "0"
mem = "64M"
mem_high = "48M"
%s
pids = 64
io_read_bps = { "%s" = "20M" }
io_write_iops = { "%s" = 300 }

[run]
unshare = ["pid", "mount", "ipc", "uts"]
hostname = "ocitest"

[caps]
keep = ["net_bind_service", "kill"]
no_new_privs = true
`, swap, majmin, majmin))

	// rcon's run of the profile.
	r := rcon(t, append([]string{"--profile", prof, "--"}, helperArgs(t, "cgfiles")...)...)
	if r.Code != 0 {
		t.Fatalf("rcon: exit %d: %s", r.Code, r.Stderr)
	}
	var got struct {
		Files map[string]string `json:"files"`
		Caps  string            `json:"caps"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		t.Fatalf("helper output %q: %v", r.Stdout, err)
	}

	// The bundle: busybox as the root file system, the exported config.
	bundle := t.TempDir()
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"sh", "sleep", "cat", "grep"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", l)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"proc", "dev", "sys"} {
		if err := os.Mkdir(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e := rcon(t, "profile", "export", prof, "--to", "oci", "--", "/bin/sh", "-c",
		"cat /proc/self/status > /status.tmp && mv /status.tmp /status && exec sleep 60")
	if e.Code != 0 {
		t.Fatalf("export: exit %d: %s", e.Code, e.Stderr)
	}
	var spec specs.Spec
	if err := json.Unmarshal([]byte(e.Stdout), &spec); err != nil {
		t.Fatal(err)
	}
	// Where the container's group goes is the engine's choice, not the
	// profile's: beneath a group of this test's own.
	id := fmt.Sprintf("rcontest-oci-%d", os.Getpid())
	parent := filepath.Join(own, id)
	spec.Linux.CgroupsPath = filepath.Join(parent, "ctr")
	cfg, _ := json.Marshal(&spec)
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	makeV1Parent(t, parent)

	// crun refuses a hybrid host whose v2 hierarchy has a controller
	// (here hugetlb), and in legacy mode still joins a v2 hierarchy it
	// finds: so it runs in a mount namespace of its own whose
	// /sys/fs/cgroup is a tmpfs holding the v1 hierarchies, bound from
	// the real ones, and not the v2 one. Nothing outside that namespace
	// changes; the groups crun makes are the real v1 ones.
	hidden := t.TempDir()
	crunArgv := func(args ...string) *exec.Cmd {
		argv := append([]string{crun, "--cgroup-manager=cgroupfs"}, args...)
		if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.procs"); err != nil {
			return exec.Command(argv[0], argv[1:]...)
		}
		script := `set -e; d=$HIDDEN; mount --rbind /sys/fs/cgroup "$d"; mount -t tmpfs tmpfs /sys/fs/cgroup
for c in "$d"/*; do n=${c##*/}; [ "$n" = unified ] && continue
if [ -L "$c" ]; then ln -s "$(readlink "$c")" /sys/fs/cgroup/"$n"; else mkdir /sys/fs/cgroup/"$n"; mount --bind "$c" /sys/fs/cgroup/"$n"; fi; done
exec "$0" "$@"`
		cmd := exec.Command(unshare, append([]string{"--mount", "--propagation", "private", "--", "sh", "-c", script}, argv...)...)
		cmd.Env = append(os.Environ(), "HIDDEN="+hidden)
		return cmd
	}
	crunCmd := func(args ...string) ([]byte, error) { return crunArgv(args...).CombinedOutput() }
	t.Cleanup(func() {
		if out, err := crunCmd("delete", "--force", id); err != nil && !strings.Contains(string(out), "does not exist") {
			t.Errorf("crun delete: %v: %s", err, out)
		}
	})
	logf, err := os.Create(filepath.Join(t.TempDir(), "crun.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	run := crunArgv("run", "--detach", "--bundle", bundle, id)
	run.Stdout, run.Stderr = logf, logf
	if err := run.Run(); err != nil {
		log, _ := os.ReadFile(logf.Name())
		t.Fatalf("crun run: %v: %s", err, log)
	}
	var status []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if status, err = os.ReadFile(filepath.Join(rootfs, "status")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("the container never wrote /status: %s", log)
		}
	}
	out, err := crunCmd("state", id)
	if err != nil {
		t.Fatalf("crun state: %v: %s", err, out)
	}
	var state specs.State
	if err := json.Unmarshal(out, &state); err != nil {
		t.Fatal(err)
	}
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", state.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cg), spec.Linux.CgroupsPath) {
		t.Errorf("the container's process is not in %s:\n%s", spec.Linux.CgroupsPath, cg)
	}
	theirs := cgValues(string(cg))

	want := map[string]string{
		"cpu/cpu.cfs_quota_us": "25000", "cpu/cpu.cfs_period_us": "50000", "cpu/cpu.shares": "5219", "cpuset/cpuset.cpus": "0",
		"memory/memory.limit_in_bytes": "67108864", "memory/memory.soft_limit_in_bytes": "50331648", "pids/pids.max": "64",
		"blkio/blkio.throttle.read_bps_device": majmin + " 20971520", "blkio/blkio.throttle.write_iops_device": majmin + " 300",
	}
	if swap != "" {
		want["memory/memory.memsw.limit_in_bytes"] = "83886080"
	}
	for _, f := range cgFiles {
		if _, ok := want[f]; !ok {
			continue
		}
		if got.Files[f] != want[f] || theirs[f] != want[f] {
			t.Errorf("%s: rcon %q, crun %q, want %q", f, got.Files[f], theirs[f], want[f])
		}
	}
	if c := capLines(string(status)); c != got.Caps {
		t.Errorf("capabilities: crun's container\n%s\nrcon's command\n%s", c, got.Caps)
	}
	if !strings.Contains(got.Caps, "CapEff: 0000000000000420") || !strings.Contains(got.Caps, "NoNewPrivs: 1") {
		t.Errorf("rcon's command holds\n%s\nwant kill and net_bind_service (0x420) and no_new_privs", got.Caps)
	}
}

// firstBlockDevice names a block device of this machine (/sys/block).
func firstBlockDevice(t *testing.T) string {
	t.Helper()
	es, err := os.ReadDir("/sys/block")
	if err != nil {
		t.Fatal(err)
	}
	var pick string
	for _, e := range es {
		n := e.Name()
		if strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") {
			continue
		}
		if pick == "" || strings.HasPrefix(n, "vd") || strings.HasPrefix(n, "sd") || strings.HasPrefix(n, "nvme") {
			pick = n
		}
		if strings.HasPrefix(n, "vd") || strings.HasPrefix(n, "sd") || strings.HasPrefix(n, "nvme") {
			break
		}
	}
	if pick == "" {
		t.Skip("no block device in /sys/block to throttle")
	}
	return pick
}

// makeV1Parent creates path (and the directories to it that are missing)
// in every v1 hierarchy, cpuset ones given their parent's CPUs and memory
// nodes so tasks may join beneath them, and removes what it created at
// the end, deepest first, after crun removed its own group.
func makeV1Parent(t *testing.T, path string) {
	t.Helper()
	es, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var made []string
	t.Cleanup(func() {
		for i := len(made) - 1; i >= 0; i-- {
			// crun's own group beneath (if a failed run left it) first.
			if filepath.Base(made[i]) == filepath.Base(path) {
				killAndRemove(filepath.Join(made[i], "ctr"))
			}
			if err := os.Remove(made[i]); err != nil && !os.IsNotExist(err) {
				t.Errorf("remove test group %s: %v", made[i], err)
			}
		}
	})
	for _, e := range es {
		if !e.IsDir() || e.Name() == "unified" {
			continue // symlinks such as cpu,cpuacct; the v2 mount crun is not shown
		}
		root := filepath.Join("/sys/fs/cgroup", e.Name())
		if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
			continue
		}
		dir := root
		for _, c := range strings.Split(strings.Trim(path, "/"), "/") {
			parent := dir
			dir = filepath.Join(dir, c)
			if _, err := os.Stat(dir); err == nil {
				continue
			}
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatalf("create test group: %v", err)
			}
			made = append(made, dir)
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if v, err := os.ReadFile(filepath.Join(parent, f)); err == nil {
					if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
						t.Fatalf("initialise %s/%s: %v", dir, f, err)
					}
				}
			}
		}
	}
}
