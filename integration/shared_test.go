package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A second helper switch, for workloads only these tests need: it runs
// before TestMain when RCON_SHARED_HELPER is set.
func init() {
	if os.Getenv("RCON_SHARED_HELPER") == "hold" {
		// Touch N MiB page by page (charged to the group it runs in),
		// say "ready PID" and sleep.
		n, _ := strconv.Atoi(os.Args[1])
		b := make([]byte, n<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		fmt.Println("ready", os.Getpid())
		time.Sleep(30 * time.Second)
		os.Exit(int(b[0]) - 1)
	}
}

// psGroup is the part of `rcon ps --json` these tests read.
type psGroup struct {
	Name    string   `json:"name"`
	Shared  bool     `json:"shared"`
	Paths   []string `json:"paths"`
	Procs   int      `json:"procs"`
	Members []struct {
		PID      int  `json:"pid"`
		Alive    bool `json:"alive"`
		Attached bool `json:"attached"`
	} `json:"members"`
	Limits struct {
		CPUPercent float64 `json:"cpu_percent"`
		Mem        int64   `json:"mem"`
		Pids       int64   `json:"pids"`
	} `json:"limits"`
	Stats struct {
		CPUTotalNS uint64 `json:"cpu_total_ns"`
	} `json:"stats"`
}

func psGroupNamed(t *testing.T, name string) *psGroup {
	t.Helper()
	r := rcon(t, "ps", "--json")
	var rows []psGroup
	if err := json.Unmarshal([]byte(r.Stdout), &rows); err != nil {
		t.Fatalf("rcon ps --json: %v\n%s", err, r.Stdout)
	}
	for i := range rows {
		if rows[i].Name == name {
			return &rows[i]
		}
	}
	return nil
}

// readLimit reads a limit file from whichever of the group's directories
// has it (v1: one per hierarchy).
func readLimit(t *testing.T, g *psGroup, file string) string {
	t.Helper()
	for _, d := range g.Paths {
		if data, err := os.ReadFile(filepath.Join(d, file)); err == nil {
			return strings.TrimSpace(string(data))
		}
	}
	t.Fatalf("group %s has no %s in %v", g.Name, file, g.Paths)
	return ""
}

func cpuLimitFile() (file string, want func(pct int) string) {
	if cgroupV2() {
		return "cpu.max", func(p int) string { return fmt.Sprintf("%d 100000", p*1000) }
	}
	return "cpu.cfs_quota_us", func(p int) string { return strconv.Itoa(p * 1000) }
}

// inGroup reports whether every thread of pid is in a cgroup named name
// (in every v1 hierarchy rcon uses, or the v2 one).
func inGroup(pid int, name string) (bool, string) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false, err.Error()
	}
	for _, task := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/cgroup", pid, task.Name()))
		if err != nil {
			return false, err.Error()
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			f := strings.SplitN(line, ":", 3)
			if len(f) != 3 {
				continue
			}
			relevant := cgroupV2() && f[1] == ""
			for _, c := range strings.Split(f[1], ",") {
				relevant = relevant || !cgroupV2() && (c == "cpu" || c == "cpuacct" || c == "memory" || c == "pids")
			}
			if relevant && !strings.HasSuffix(f[2], "/"+name) && !strings.HasSuffix(f[2], "/"+scopeUnit(name)) {
				return false, fmt.Sprintf("thread %s: %s", task.Name(), line)
			}
		}
	}
	return true, ""
}

// scopeUnit is the systemd driver's scope of the group name (the
// directory a run's group is on a systemd host).
func scopeUnit(name string) string {
	if strings.HasPrefix(name, "rcon-") {
		return name + ".scope"
	}
	return "rcon-" + name + ".scope"
}

// cleanupGroup removes what a failed test left: groups named name (their
// processes are the test's own) and their state and lock files.
func cleanupGroup(t *testing.T, name string) {
	t.Cleanup(func() {
		for _, d := range findGroups(name) {
			if filepath.Base(d) == name {
				t.Errorf("group %s left behind: %s", name, d)
				killAndRemove(d)
			}
		}
		for _, ext := range []string{".json", ".lock"} {
			if os.Remove(filepath.Join(os.Getenv("RCON_STATE_DIR"), name+ext)) == nil {
				t.Errorf("state file %s%s left behind", name, ext)
			}
		}
	})
}

// startRcon starts rcon in the background and returns it with the first
// line its command prints ("ready PID").
func startRcon(t *testing.T, args ...string) (*exec.Cmd, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "rcon"), args...)
	return cmd, startReady(t, cmd)
}

// startReady starts cmd (an rcon whose command is the "ready" helper),
// ends it at cleanup, and returns the pid the helper says it has.
func startReady(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	var pid int
	if _, serr := fmt.Sscanf(line, "ready %d", &pid); serr != nil {
		t.Fatalf("%v: first line %q: %v", cmd.Args, line, err)
	}
	return pid
}

func TestSharedGroupUnderConcurrentRunsAndKills(t *testing.T) {
	needRoot(t)
	name := fmt.Sprintf("rcontest-shared-%d", os.Getpid())
	cleanupGroup(t, name)
	file, want := cpuLimitFile()

	// A long member: it must see its group stay in place, with its
	// limit, however the short ones come, go and die. It runs until the
	// test ends it: on the one emulated CPU of the v2 VM the churn below
	// takes 25-35 s, and a member that ended on its own first was taken
	// for a group removed too early.
	long, longPid := startRcon(t, append([]string{"--shared", name, "--cpu", "50", "--"}, helperArgs(t, "ready", "600")...)...)
	stop := make(chan struct{})
	var watch sync.WaitGroup
	var bad []string
	samples := 0
	watch.Add(1)
	go func() {
		defer watch.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			samples++
			if ok, why := inGroup(longPid, name); !ok && len(bad) < 5 {
				bad = append(bad, why)
			}
		}
	}()

	// 100 short runs (40 in the systemd VM: runsHere), started within a
	// second, 30% of them SIGKILLed at a random moment (before, during or
	// after joining).
	runs := runsHere(100, 100, 40)
	kills := runs * 3 / 10
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	type outcome struct {
		killed bool
		code   int
		stderr string
	}
	res := make([]outcome, runs)
	var wg sync.WaitGroup
	for i := 0; i < runs; i++ {
		wg.Add(1)
		delay := time.Duration(rng.Intn(1000)) * time.Millisecond
		sleep := fmt.Sprintf("%.2f", 0.05+rng.Float64()*0.4)
		kill := i < kills
		killAfter := time.Duration(rng.Intn(300)) * time.Millisecond
		// Built here: helperArgs may t.Fatal, which only the test's own
		// goroutine may call.
		args := append([]string{"--shared", name, "--cpu", "50", "--"}, helperArgs(t, "sleep", sleep)...)
		go func(i int) {
			defer wg.Done()
			time.Sleep(delay)
			cmd := exec.Command(filepath.Join(binDir, "rcon"), args...)
			var errb strings.Builder
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				res[i] = outcome{code: -1, stderr: err.Error()}
				return
			}
			if kill {
				time.Sleep(killAfter)
				cmd.Process.Kill() // our own child, by pid
			}
			cmd.Wait()
			ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
			res[i] = outcome{killed: ws.Signaled(), code: ws.ExitStatus(), stderr: errb.String()}
		}(i)
	}
	wg.Wait()
	killed := 0
	for i, o := range res {
		switch {
		case o.killed:
			killed++
		case o.code != 0:
			t.Errorf("run %d: exit %d: %s", i, o.code, o.stderr)
		}
	}
	t.Logf("%d of %d runs were SIGKILLed before they ended", killed, runs)

	// The long member's group is still there, with its limit, and
	// still recorded as shared with the long rcon a live member.
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", longPid)); err != nil {
		t.Fatalf("the long member's command ended during the churn: %v", err)
	}
	g := psGroupNamed(t, name)
	if g == nil || !g.Shared {
		t.Fatalf("shared group %s gone while its long member runs: %+v", name, g)
	}
	if got := readLimit(t, g, file); got != want(50) {
		t.Errorf("%s = %q, want %q", file, got, want(50))
	}
	close(stop)
	watch.Wait()
	if len(bad) > 0 {
		t.Errorf("the long member left its group during the churn (%d samples): %v", samples, bad)
	}
	t.Logf("long member checked in its group %d times", samples)

	// The last member out ends what killed members' commands left and
	// removes the group itself, before any gc: so it is gone the moment
	// the long rcon has exited (143: its command died of the SIGTERM).
	long.Process.Signal(syscall.SIGTERM)
	err := long.Wait()
	if ws, ok := long.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.ExitStatus() != 128+int(syscall.SIGTERM) {
		t.Errorf("last member: %v (%v), want exit %d", err, long.ProcessState, 128+int(syscall.SIGTERM))
	}
	if left := findGroups(name); len(left) > 0 {
		t.Errorf("groups left once the last member exited: %v", left)
	}
	if r := rcon(t, "gc"); r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
		t.Errorf("gc after the last member: exit %d, stdout %q, stderr %q; want nothing to do", r.Code, r.Stdout, r.Stderr)
	}
	// After the gc: a member killed inside Record.Update may leave its
	// temporary file, which by design only the next update or gc sweeps.
	stateEmpty(t)
}

func TestSharedGroupLastMemberKilledIsCollected(t *testing.T) {
	needRoot(t)
	name := fmt.Sprintf("rcontest-orphan-%d", os.Getpid())
	cleanupGroup(t, name)
	cmd, pid := startRcon(t, append([]string{"--shared", name, "--"}, helperArgs(t, "ready", "1.5")...)...)
	cmd.Process.Kill() // the only member dies; its command runs on
	cmd.Wait()
	r := rcon(t, "gc")
	if !strings.Contains(r.Stdout, "kept shared group "+name) {
		t.Errorf("gc with the orphaned command still running: %q", r.Stdout)
	}
	if ok, why := inGroup(pid, name); !ok {
		t.Errorf("the orphaned command left its group: %s", why)
	}
	// A new run joins the orphaned group; as the last one out it ends
	// what is left.
	r = rcon(t, append([]string{"--shared", name, "--"}, helperArgs(t, "sleep", "0.1")...)...)
	if r.Code != 0 || !strings.Contains(r.Stderr, "ended 1 process") {
		t.Errorf("joining an orphaned group: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if left := findGroups(name); len(left) > 0 {
		t.Errorf("group left: %v", left)
	}
	stateEmpty(t)
}

func TestSharedConflictingLimitsKeptOrUpdated(t *testing.T) {
	needRoot(t)
	name := fmt.Sprintf("rcontest-conflict-%d", os.Getpid())
	cleanupGroup(t, name)
	file, want := cpuLimitFile()
	startRcon(t, append([]string{"--shared", name, "--cpu", "40", "--"}, helperArgs(t, "ready", "10")...)...)
	r := rcon(t, append([]string{"--shared", name, "--cpu", "60", "--"}, helperArgs(t, "sleep", "0")...)...)
	if r.Code != 0 || !strings.Contains(r.Stderr, "keeps its limits (cpu=40%)") {
		t.Errorf("conflicting join: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if got := readLimit(t, psGroupNamed(t, name), file); got != want(40) {
		t.Errorf("after a conflicting join %s = %q, want %q", file, got, want(40))
	}
	r = rcon(t, append([]string{"--shared", name, "--update", "--cpu", "60", "--"}, helperArgs(t, "sleep", "0")...)...)
	g := psGroupNamed(t, name)
	if r.Code != 0 || readLimit(t, g, file) != want(60) || g.Limits.CPUPercent != 60 {
		t.Errorf("--update: exit %d, %s = %q, recorded %v%%; stderr %q", r.Code, file, readLimit(t, g, file), g.Limits.CPUPercent, r.Stderr)
	}
	if strings.Contains(r.Stderr, "parent") {
		t.Errorf("a joiner with the creator's parent is warned: %q", r.Stderr)
	}
	// A joiner asking for another parent joins the live group where it is
	// and is told so; nothing is made under the parent it asked for.
	other := fmt.Sprintf("rcontest-otherparent-%d", os.Getpid())
	r = rcon(t, append([]string{"--shared", name, "--parent", other, "--"}, helperArgs(t, "sleep", "0")...)...)
	if where := "lives under " + filepath.Dir(g.Paths[0]) + ","; r.Code != 0 || !strings.Contains(r.Stderr, where) {
		t.Errorf("join with another --parent: exit %d, stderr %q; want 0 and %q", r.Code, r.Stderr, where)
	}
	// The default parent named as such is the one the group is under
	// (a systemd scope has no cgroupfs parent: any --parent is another).
	def := "rcon"
	if cgroupV2() {
		def = "/rcon/"
	}
	r = rcon(t, append([]string{"--shared", name, "--parent", def, "--"}, helperArgs(t, "sleep", "0")...)...)
	if isScope := strings.HasSuffix(g.Paths[0], ".scope"); r.Code != 0 || strings.Contains(r.Stderr, "parent") != isScope {
		t.Errorf("join with --parent %s, the default (the group a scope: %v): exit %d, stderr %q", def, isScope, r.Code, r.Stderr)
	}
	if left := findGroups(other); len(left) > 0 {
		t.Errorf("a joiner made its --parent: %v", left)
	}
	if r := rcon(t, "--shared", name, "--wait-all", "--", "true"); r.Code != 125 {
		t.Errorf("--shared --wait-all: exit %d, want 125", r.Code)
	}
	if r := rcon(t, "--name", name, "--", "true"); r.Code != 125 || !strings.Contains(r.Stderr, "shared group") {
		t.Errorf("--name of a live shared group: exit %d, stderr %q", r.Code, r.Stderr)
	}
}

func TestAttachAndSetOnLiveGroups(t *testing.T) {
	needRoot(t)
	name := fmt.Sprintf("rcontest-attach-%d", os.Getpid())
	cleanupGroup(t, name)
	file, want := cpuLimitFile()

	// A multi-threaded process the test starts itself, outside rcon.
	target := exec.Command("env", helperArgs(t, "ready", "20")[1:]...)
	out, _ := target.StdoutPipe()
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { target.Process.Kill(); target.Wait() })
	var pid int
	line, _ := bufio.NewReader(out).ReadString('\n')
	fmt.Sscanf(line, "ready %d", &pid)
	if pid == 0 {
		t.Fatalf("target said %q", line)
	}

	r := rcon(t, "attach", "--cpu", "30", "--name", name, strconv.Itoa(pid))
	if r.Code != 0 {
		t.Fatalf("attach: exit %d: %s", r.Code, r.Stderr)
	}
	if ok, why := inGroup(pid, name); !ok {
		t.Errorf("after attach not every thread is in %s: %s", name, why)
	}
	g := psGroupNamed(t, name)
	if g == nil || len(g.Members) != 1 || g.Members[0].PID != pid || !g.Members[0].Attached || !g.Members[0].Alive {
		t.Fatalf("rcon ps after attach: %+v", g)
	}
	if got := readLimit(t, g, file); got != want(30) {
		t.Errorf("after attach %s = %q, want %q", file, got, want(30))
	}

	r = rcon(t, "set", name, "--cpu", "70", "--pids", "50")
	if r.Code != 0 {
		t.Fatalf("set: exit %d: %s", r.Code, r.Stderr)
	}
	g = psGroupNamed(t, name)
	if got := readLimit(t, g, file); got != want(70) {
		t.Errorf("after set %s = %q, want %q", file, got, want(70))
	}
	if got := readLimit(t, g, "pids.max"); got != "50" {
		t.Errorf("after set pids.max = %q, want 50", got)
	}
	if g.Limits.CPUPercent != 70 || g.Limits.Pids != 50 {
		t.Errorf("rcon ps shows limits %+v, want cpu 70, pids 50", g.Limits)
	}
	// The quota is checked on the group's merged limits: a period that
	// makes its 70% too small a quota is refused and changes nothing; a
	// small --cpu is judged with the group's own period.
	r = rcon(t, "set", name, "--cpu-period", "1000")
	if r.Code != 125 || !strings.Contains(r.Stderr, "below the kernel's minimum") {
		t.Errorf("set --cpu-period 1000 on a 70%% group: exit %d, stderr %q; want 125 naming the minimum", r.Code, r.Stderr)
	}
	if got := readLimit(t, g, file); got != want(70) {
		t.Errorf("after a refused set %s = %q, want %q unchanged", file, got, want(70))
	}
	if r := rcon(t, "set", name, "--cpu-period", "1000000"); r.Code != 0 {
		t.Fatalf("set --cpu-period 1000000: exit %d: %s", r.Code, r.Stderr)
	}
	if r := rcon(t, "set", name, "--cpu", "0.5"); r.Code != 0 {
		t.Errorf("set --cpu 0.5 with a 1 s period (a 5000 µs quota): exit %d: %s", r.Code, r.Stderr)
	}
	wantQuota := "5000"
	if cgroupV2() {
		wantQuota = "5000 1000000"
	}
	if quota := readLimit(t, psGroupNamed(t, name), file); quota != wantQuota {
		t.Errorf("after set --cpu 0.5 over a 1 s period %s = %q, want %q", file, quota, wantQuota)
	}
	if r := rcon(t, "set", "rcontest-no-such-group", "--cpu", "10"); r.Code != 125 {
		t.Errorf("set on a missing group: exit %d, want 125", r.Code)
	}
	if r := rcon(t, "attach", "1"); r.Code != 125 {
		t.Errorf("attach 1: exit %d, want 125", r.Code)
	}

	// The attached process ends: the group is empty and ownerless, and
	// the next gc removes it.
	target.Process.Kill()
	target.Wait()
	rcon(t, "gc")
	if left := findGroups(name); len(left) > 0 {
		t.Errorf("attached group left after its process ended and gc: %v", left)
	}
	stateEmpty(t)
}

// rcon ps reads a live group's usage from the group's own files. On a
// stock hybrid host cpu and cpuacct are one co-mounted hierarchy
// (testvm v1): a lookup that did not resolve the cpu -> cpu,cpuacct
// symlink dropped the controller, and ps showed 0 CPU for a busy group.
func TestPsShowsCPUOfLiveGroup(t *testing.T) {
	needRoot(t)
	name := fmt.Sprintf("rcontest-psstat-%d", os.Getpid())
	cleanupGroup(t, name)
	// Busy for a moment, then it says so and waits to be ended.
	cmd := exec.Command(filepath.Join(binDir, "rcon"), "--name", name, "--cpu", "50", "--",
		"sh", "-c", `i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; echo spun; exec sleep 30`)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "spun\n" {
		t.Fatalf("command said %q, want spun", line)
	}
	g := psGroupNamed(t, name)
	if g == nil {
		t.Fatalf("rcon ps does not list %s", name)
	}
	if g.Stats.CPUTotalNS == 0 {
		t.Errorf("rcon ps shows 0 CPU for a group whose command just spun (paths %v)", g.Paths)
	}
}

func TestSetMemoryBelowUsageIsReported(t *testing.T) {
	needRoot(t)
	name := fmt.Sprintf("rcontest-setmem-%d", os.Getpid())
	cleanupGroup(t, name)
	memFile := "memory.limit_in_bytes"
	if cgroupV2() {
		memFile = "memory.max"
	}
	hold := []string{"env", "RCON_SHARED_HELPER=hold", self(t), "64"}
	run, _ := startRcon(t, append([]string{"--name", name, "--mem", "256M", "--"}, hold...)...)
	r := rcon(t, "set", name, "--mem", "16M")
	if r.Code != 1 || !strings.Contains(r.Stderr, "below current usage") {
		t.Errorf("set --mem 16M with 64M in use: exit %d, stderr %q", r.Code, r.Stderr)
	}
	g := psGroupNamed(t, name)
	if got := readLimit(t, g, memFile); got != strconv.Itoa(256<<20) {
		t.Errorf("refused set changed %s to %s", memFile, got)
	}
	if !cgroupV2() {
		// v1 without swap: the kernel cannot reclaim anonymous memory and
		// refuses; rcon says so and records nothing.
		r = rcon(t, "set", name, "--mem", "16M", "--force")
		if r.Code == 0 {
			t.Logf("v1 accepted 16M with --force (swap?): %s", r.Stdout)
		} else if !strings.Contains(r.Stderr, "EBUSY") {
			t.Errorf("set --force below usage on v1: exit %d, stderr %q", r.Code, r.Stderr)
		}
	}
	r = rcon(t, "set", name, "--mem", "128M")
	if r.Code != 0 {
		t.Fatalf("set --mem 128M: exit %d: %s", r.Code, r.Stderr)
	}
	g = psGroupNamed(t, name)
	if got := readLimit(t, g, memFile); got != strconv.Itoa(128<<20) || g.Limits.Mem != 128<<20 {
		t.Errorf("after set --mem 128M: %s = %s, recorded %d", memFile, got, g.Limits.Mem)
	}
	run.Process.Signal(syscall.SIGTERM)
	run.Wait()
	if left := findGroups(name); len(left) > 0 {
		t.Errorf("group left: %v", left)
	}
	stateEmpty(t)
}
