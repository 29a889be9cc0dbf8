package integration

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPSEscapesCommandLine: a run's command line is shown to whoever runs
// `rcon ps`, but chosen by whoever started the run. An escape sequence in
// it (here one that retitles the operator's terminal window) used to be
// printed raw; it must come out escaped, with no control byte.
func TestPSEscapesCommandLine(t *testing.T) {
	needRoot(t)
	const name = "rcontest-ps-escape"
	cleanupGroup(t, name)
	evil := "\x1b]0;pwned\x07\r\n"
	startListed(t, name, "--", "sh", "-c", "exec sleep 30", evil)
	r := rcon(t, "ps")
	if r.Code != 0 {
		t.Fatalf("rcon ps: exit %d: %s", r.Code, r.Stderr)
	}
	var line string
	for _, l := range strings.Split(r.Stdout, "\n") {
		if strings.HasPrefix(l, name+" ") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no line for %s in %q", name, r.Stdout)
	}
	if strings.ContainsAny(r.Stdout, "\x1b\x07\r") {
		t.Errorf("rcon ps printed control characters raw: %q", r.Stdout)
	}
	// COMMAND is the table's second column (issue 13: NAME, COMMAND,
	// CPU%, MEM/LIMIT, PIDS, AGE).
	if want := `  sh -c exec sleep 30 \x1b]0;pwned\x07\x0d\x0a  `; !strings.Contains(line, want) {
		t.Errorf("rcon ps line %q, want it to hold %q", line, want)
	}
}

// TestPSTableShowsLiveUsage: rcon ps's table, one refresh as systemd-cgtop
// shows it, for a group spinning under a quota of half a CPU: its CPU%
// is near 50 (a rate over ps's sample, not the counter), MEM/LIMIT and
// PIDS show usage over the limits, AGE how long it has run.
func TestPSTableShowsLiveUsage(t *testing.T) {
	needRoot(t)
	const name = "rcontest-ps-table"
	cleanupGroup(t, name)
	startListed(t, name, append([]string{"--cpu", "50", "--mem", "64M", "--pids", "20", "--"}, helperArgs(t, "spin", "30")...)...)
	time.Sleep(time.Second) // past the start, into the quota's steady state
	r := rcon(t, "ps")
	if r.Code != 0 {
		t.Fatalf("rcon ps: exit %d: %s", r.Code, r.Stderr)
	}
	lines := strings.Split(r.Stdout, "\n")
	if hdr := strings.Fields(lines[0]); strings.Join(hdr, " ") != "NAME COMMAND CPU% MEM/LIMIT PIDS AGE" {
		t.Fatalf("header %q", lines[0])
	}
	var f []string
	for _, l := range lines {
		if strings.HasPrefix(l, name+" ") {
			f = strings.Fields(l)
		}
	}
	if len(f) < 6 {
		t.Fatalf("no line for %s in\n%s", name, r.Stdout)
	}
	// From the end: the command has spaces in it.
	pct, mem, pids, age := f[len(f)-4], f[len(f)-3], f[len(f)-2], f[len(f)-1]
	if v, err := strconv.ParseFloat(pct, 64); err != nil || v < 30 || v > 70 {
		t.Errorf("CPU%% %q under --cpu 50, want about 50\n%s", pct, r.Stdout)
	}
	if !strings.HasSuffix(mem, "/64M") || strings.HasPrefix(mem, "0B/") {
		t.Errorf("MEM/LIMIT %q, want usage/64M", mem)
	}
	if !strings.HasSuffix(pids, "/20") || strings.HasPrefix(pids, "0/") {
		t.Errorf("PIDS %q, want tasks/20", pids)
	}
	if !strings.HasSuffix(age, "s") || age == "0s" {
		t.Errorf("AGE %q, want a second or more", age)
	}
}

// startListed starts rcon --name name args in the background (ended with
// SIGTERM, and checked for leaks, at cleanup) and waits until rcon ps
// lists the group.
func startListed(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "rcon"), append([]string{"--name", name}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		checkNoLeak(t, cmd.Process.Pid)
	})
	for deadline := time.Now().Add(10 * time.Second); psGroupNamed(t, name) == nil; {
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed in rcon ps", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
