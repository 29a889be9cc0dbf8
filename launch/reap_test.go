package launch

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A shell orphans a sleep (its subshell exits at once): as a subreaper the
// test process gets it as a child, and endDescendants ends and reaps it.
func TestEndDescendantsEndsOrphans(t *testing.T) {
	if err := becomeSubreaper(); err != nil {
		t.Skipf("cannot be a subreaper: %v", err)
	}
	out, err := exec.Command("sh", "-c", `(sleep 271.9 >/dev/null 2>&1 & echo $!)`).Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("output %q", out)
	}
	defer func() {
		// Failed: end the orphan (ours, by its pid) so it does not linger.
		if cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(cl), "271.9") {
			_ = exec.Command("kill", "-9", strconv.Itoa(pid)).Run()
		}
	}()
	proc, err := os.Open("/proc")
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	found := false
	for _, c := range children(proc) {
		found = found || c == pid
	}
	if !found {
		t.Fatalf("the orphaned sleep %d is not among the children %v", pid, children(proc))
	}
	if n := endDescendants(proc, nil); n != 1 {
		t.Errorf("endDescendants reaped %d, want 1", n)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		t.Errorf("pid %d still exists after endDescendants", pid)
	}
}

// A child this process had before (a shell's job, when the shell exec'd
// rcon) is not the command's: it is neither killed nor waited for, while
// the command's orphan is ended as before.
func TestEndDescendantsKeepsInheritedChildren(t *testing.T) {
	if err := becomeSubreaper(); err != nil {
		t.Skipf("cannot be a subreaper: %v", err)
	}
	job := exec.Command("sleep", "271.8")
	if err := job.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { job.Process.Kill(); job.Wait() }()
	keep := inheritedChildren()
	if !keep[job.Process.Pid] {
		t.Fatalf("inheritedChildren %v lacks the job %d", keep, job.Process.Pid)
	}
	if _, err := exec.Command("sh", "-c", `(sleep 271.7 >/dev/null 2>&1 &)`).Output(); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() { done <- endDescendants(nil, keep) }()
	select {
	case n := <-done:
		if n != 1 {
			t.Errorf("endDescendants reaped %d, want the one orphan", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("endDescendants waits for the inherited job")
	}
	if err := job.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the inherited job was ended: %v", err)
	}
}

func TestParentOfOddNames(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(dir+"/42", 0o755); err != nil {
		t.Fatal(err)
	}
	// A command name with spaces and a ')' in it.
	if err := os.WriteFile(dir+"/42/stat", []byte("42 (a) b (c) S 7 42 42 0 -1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if ppid, ok := parentOf(d, "42"); !ok || ppid != 7 {
		t.Errorf("parentOf = %d, %v; want 7, true", ppid, ok)
	}
}
