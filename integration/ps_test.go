package integration

import (
	"os/exec"
	"path/filepath"
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
	cmd := exec.Command(filepath.Join(binDir, "rcon"), "--name", name, "--", "sh", "-c", "exec sleep 30", evil)
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
	if want := `sh -c exec sleep 30 \x1b]0;pwned\x07\x0d\x0a`; !strings.HasSuffix(line, want) {
		t.Errorf("rcon ps line %q, want it to end in %q", line, want)
	}
}
