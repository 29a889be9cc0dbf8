package integration

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The command sees its limits, not the host: under --cpu 100 --mem 300M
// --fit, real programs count one CPU and 300M, each where it looks
// (nproc, getconf/glibc, Python, a Go program, free); without --fit they
// count the host's, so the test can fail. The CPU half needs a host with
// more than one CPU (the VM has one: there only memory is checked), and
// only GNU nproc (OMP_NUM_THREADS) and procps' free (/proc/meminfo) are
// asked: busybox's count the affinity mask and ask sysinfo(2), which no
// file or variable changes.
func TestFitShowsLimitsNotHost(t *testing.T) {
	needRoot(t)
	const mem = 300 << 20
	hostCPUs := runtime.NumCPU()
	// One line per program: NAME VALUE.
	script := `echo "gomaxprocs $(env RCON_TEST_HELPER=gomaxprocs "$0")"
echo "online $(cat /sys/devices/system/cpu/online)"
echo "memtotal $(awk '/^MemTotal:/ {print $2 * 1024}' /proc/meminfo)"
nproc --version 2>&1 | grep -q coreutils && echo "nproc $(nproc)"
command -v getconf >/dev/null && echo "getconf $(getconf _NPROCESSORS_ONLN)"
command -v python3 >/dev/null && echo "python $(python3 -c 'import os; print(os.cpu_count())')"
free --version 2>&1 | grep -q procps && free -b | awk '/^Mem:/ {print "free " $2}'
true
`
	if os.Getenv("TESTVM") == "" {
		needProgram(t, "free", "procps")
		needProgram(t, "getconf", "libc-bin")
	}
	run := func(t *testing.T, flags ...string) map[string]string {
		t.Helper()
		args := append([]string{"--cpu", "100", "--mem", "300M"}, flags...)
		r := rcon(t, append(args, "--", "sh", "-c", script, self(t))...)
		if r.Code != 0 {
			t.Fatalf("rcon %v: exit %d, stderr %q", flags, r.Code, r.Stderr)
		}
		seen := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			if k, v, ok := strings.Cut(line, " "); ok {
				seen[k] = v
			}
		}
		return seen
	}
	for _, flags := range [][]string{{"--fit"}, {"--fit", "--unshare", "pid,mount"}, {"--fit", "--ro-root"}} {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			got := run(t, flags...)
			if got["memtotal"] != strconv.Itoa(mem) {
				t.Errorf("/proc/meminfo MemTotal = %q bytes, want %d", got["memtotal"], mem)
			}
			if v, ok := got["free"]; ok && v != strconv.Itoa(mem) {
				t.Errorf("free says total %q, want %d", v, mem)
			}
			if got["online"] != "0" {
				t.Errorf("/sys/devices/system/cpu/online = %q, want 0", got["online"])
			}
			if hostCPUs < 2 {
				return
			}
			for _, k := range []string{"gomaxprocs", "nproc", "getconf", "python"} {
				if v, ok := got[k]; ok && v != "1" {
					t.Errorf("%s counts %q CPUs, want 1", k, v)
				}
			}
		})
	}
	t.Run("without --fit", func(t *testing.T) {
		got := run(t)
		if got["memtotal"] == strconv.Itoa(mem) {
			t.Errorf("without --fit /proc/meminfo already says %s", got["memtotal"])
		}
		if hostCPUs < 2 {
			return
		}
		for _, k := range []string{"nproc", "getconf", "python", "gomaxprocs"} {
			if v, ok := got[k]; ok && v == "1" {
				t.Errorf("without --fit %s already counts 1 CPU: the test cannot tell", k)
			}
		}
	})
	// A joiner of a shared group is told the group's limits, which are
	// what holds for it, not the ones it asked for.
	t.Run("shared", func(t *testing.T) {
		name := "rcontest-fit-shared"
		cleanupGroup(t, name)
		startRcon(t, "--shared", name, "--mem", "200M", "--", "env", "RCON_TEST_HELPER=ready", self(t), "30")
		r := rcon(t, "--shared", name, "--mem", "300M", "--fit", "--", "awk", "/^MemTotal:/ {print $2 * 1024}", "/proc/meminfo")
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != strconv.Itoa(200<<20) {
			t.Errorf("joiner of a 200M shared group: exit %d, MemTotal %q, want %d; stderr %q", r.Code, r.Stdout, 200<<20, r.Stderr)
		}
	})
	// The caller's own setting wins.
	r := rcon(t, "--cpu", "100", "--fit", "--", "env", "GOMAXPROCS=7", "RCON_TEST_HELPER=gomaxprocs", self(t))
	if strings.TrimSpace(r.Stdout) != "7" {
		t.Errorf("GOMAXPROCS=7 set by the caller became %q", r.Stdout)
	}
}

// With LXCFS serving the host (its files under /var/lib/lxcfs), --fit
// binds LXCFS's live /proc/meminfo, which follows the group's usage, in
// place of rcon's figures as at the start, and --stats says which. The
// test starts LXCFS itself when none runs (and ends it, by pid).
func TestFitUsesLXCFSLive(t *testing.T) {
	needRoot(t)
	if os.Getenv("TESTVM") != "" {
		t.Skip("the VM has no LXCFS")
	}
	lxcfs := needProgram(t, "lxcfs", "lxcfs")
	const dir = "/var/lib/lxcfs"
	live := dir + "/proc/meminfo"
	if !onFUSE(live) {
		made := os.MkdirAll(dir, 0o755) == nil
		d := exec.Command(lxcfs, dir)
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			d.Process.Kill()
			d.Wait()
			syscall.Unmount(dir, syscall.MNT_DETACH)
			if made {
				os.Remove(dir)
			}
		})
		for deadline := time.Now().Add(10 * time.Second); !onFUSE(live); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("lxcfs did not serve " + live)
			}
		}
	}
	// MemFree before and after the command fills 64M of its own tmpfs
	// (charged to its group): live figures drop, figures as at the start
	// would not.
	r := rcon(t, "--cpu", "100", "--mem", "300M", "--fit", "--stats", "--tmpfs", "/scratch", "--", "sh", "-c",
		`free0=$(awk '/^MemFree:/ {print $2}' /proc/meminfo)
dd if=/dev/zero of=/scratch/fill bs=1M count=64 2>/dev/null
free1=$(awk '/^MemFree:/ {print $2}' /proc/meminfo)
echo "$(awk '/^MemTotal:/ {print $2}' /proc/meminfo) $free0 $free1"`)
	if r.Code != 0 {
		t.Fatalf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	var total, free0, free1 int
	if _, err := fmt.Sscan(r.Stdout, &total, &free0, &free1); err != nil {
		t.Fatalf("output %q: %v", r.Stdout, err)
	}
	if total != 300<<10 {
		t.Errorf("MemTotal %d kB, want %d", total, 300<<10)
	}
	if free0-free1 < 50<<10 {
		t.Errorf("MemFree went from %d to %d kB after 64M were filled: not live", free0, free1)
	}
	if !strings.Contains(r.Stderr, "from LXCFS (live)") {
		t.Errorf("--stats does not say LXCFS was used: %q", r.Stderr)
	}
}

func onFUSE(path string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(path, &st) == nil && st.Type == 0x65735546
}

// The JVM takes --fit's figures through JAVA_TOOL_OPTIONS: its processor
// count and the RAM it sizes its heap from are the limits, marked as set
// by the environment; without --fit it decides them itself.
func TestFitJVM(t *testing.T) {
	needRoot(t)
	if os.Getenv("TESTVM") != "" {
		t.Skip("the VM has no JRE")
	}
	java := needProgram(t, "java", "default-jre-headless")
	flags := func(fit ...string) map[string]string {
		t.Helper()
		args := append(append([]string{"--cpu", "100", "--mem", "300M"}, fit...), "--", java, "-XX:+PrintFlagsFinal", "-version")
		r := rcon(t, args...)
		if r.Code != 0 {
			t.Fatalf("rcon %v: exit %d, stderr %q", fit, r.Code, r.Stderr)
		}
		got := map[string]string{}
		for _, line := range strings.Split(r.Stdout, "\n") {
			// "      int ActiveProcessorCount   = 1   {product} {environment}"
			f := strings.Fields(line)
			if len(f) >= 4 && f[2] == "=" {
				got[f[1]] = f[3]
			}
		}
		return got
	}
	with, without := flags("--fit"), flags()
	if with["ActiveProcessorCount"] != "1" || with["MaxRAM"] != strconv.Itoa(300<<20) {
		t.Errorf("with --fit the JVM has ActiveProcessorCount %q, MaxRAM %q; want 1 and %d", with["ActiveProcessorCount"], with["MaxRAM"], 300<<20)
	}
	if without["ActiveProcessorCount"] == "1" || without["MaxRAM"] == strconv.Itoa(300<<20) {
		t.Errorf("without --fit the JVM already has ActiveProcessorCount %q, MaxRAM %q: the test cannot tell", without["ActiveProcessorCount"], without["MaxRAM"])
	}
}
