package integration

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Job control at a terminal (issue 2): Ctrl-C and Ctrl-Z behave as they
// would without rcon. script(1) gives the command a pty of its own, as its
// foreground job; what the test writes to script's input is typed there.

// pty is a program running on a fresh terminal.
type pty struct {
	t   *testing.T
	cmd *exec.Cmd
	in  io.WriteCloser
	mu  sync.Mutex
	out bytes.Buffer
}

// onPty starts command (a shell command line) on a new terminal. script
// runs it through $SHELL -c; the exec replaces that shell, since a
// non-interactive dash left waiting in between takes a ^C itself and exits
// 130 whatever the command did.
func onPty(t *testing.T, command string) *pty {
	t.Helper()
	needRoot(t)
	// script(1) gives the command a terminal.
	script := needProgram(t, "script", "bsdutils")
	p := &pty{t: t, cmd: exec.Command(script, "-qfec", "exec "+command, "/dev/null")}
	p.in, _ = p.cmd.StdinPipe()
	r, _ := p.cmd.StdoutPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *pty) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until the terminal has shown s, failing the test if it
// does not within 10 s.
func (p *pty) waitFor(s string) {
	p.t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(p.output(), s) {
			return
		}
	}
	p.t.Fatalf("terminal never showed %q; it shows:\n%s", s, p.output())
}

func (p *pty) typeIn(s string) { p.in.Write([]byte(s)) }

// exit waits for the program on the terminal to end and returns its status.
func (p *pty) exit() int {
	p.t.Helper()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("still running: %q", p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

// TestCtrlCAtTerminal: with --keep none the command is in a session of its
// own (see session_test.go), out of the terminal's reach, and rcon passes
// the ^C on instead, once.
func TestCtrlCAtTerminal(t *testing.T) {
	rc := filepath.Join(binDir, "rcon")
	for _, flags := range []string{"", "--keep none ", "--keep none --unshare pid,mount "} {
		t.Run(strings.TrimSpace("plain "+flags), func(t *testing.T) {
			p := onPty(t, rc+" "+flags+"-- env RCON_TEST_HELPER=countint "+self(t))
			p.waitFor("ready")
			p.typeIn("\x03")
			// The helper counts the SIGINTs it gets: a ^C rcon passed on a
			// second time would show as 2.
			if code := p.exit(); !strings.Contains(p.output(), "ints=1") || code != 0 {
				t.Errorf("^C to a command that counts SIGINTs: exit %d, output %q; want ints=1, exit 0", code, p.output())
			}
			// exec: a ^C that reached sh while it waited for a sleep it had
			// not yet forked would leave sh waiting out the sleep (a shell
			// that gets SIGINT waits for its child, and exits only if that
			// child died of it too); before the exec sh dies of it, after
			// it sleep does, 130 either way.
			p = onPty(t, rc+" "+flags+"-- sh -c 'echo ready; exec sleep 10'")
			p.waitFor("ready")
			p.typeIn("\x03")
			if code := p.exit(); code != 130 {
				t.Errorf("^C to sleep under rcon: exit %d (%q), want 130", code, p.output())
			}
		})
	}
}

// TestCtrlZAtShellStopsAndResumes types ^Z at an interactive bash while
// rcon runs a command, then fg: the shell must report the job stopped, the
// command must really be stopped (not only rcon), and fg must let it
// finish with its own status. With a pid namespace the init in between
// must not get in the way.
func TestCtrlZAtShellStopsAndResumes(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash for an interactive shell with job control")
	}
	rc := filepath.Join(binDir, "rcon")
	// --keep none: the command is in a session of its own, which rcon
	// stops and continues with itself.
	for _, flags := range []string{"", "--unshare pid,mount ", "--keep none ", "--keep none --unshare pid,mount "} {
		t.Run(strings.TrimSpace("plain "+flags), func(t *testing.T) {
			p := onPty(t, "env PS1='$ ' bash --norc --noprofile -i")
			p.waitFor("$ ")
			// The quotes split the words the test waits for, so the echo
			// of the typed line does not match them.
			marker := "2.4567"
			p.typeIn(rc + " --cpu 90 " + flags + "-- sh -c 'echo re''ady; sleep " + marker + "; echo fini''shed; exit 3'\n")
			p.waitFor("ready")
			// sh prints ready before it forks sleep: a ^Z typed in between
			// stops sh with no sleep to check yet.
			for deadline := time.Now().Add(5 * time.Second); procStates(marker, "sleep") == "" && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			p.typeIn("\x1a")
			p.waitFor("Stopped")
			for _, comm := range []string{"sh", "sleep"} {
				if st := procStates(marker, comm); st != "T" {
					t.Errorf("after ^Z the command's %s has states %q, want one process stopped (T)", comm, st)
				}
			}
			p.typeIn("fg\n")
			p.waitFor("finished")
			p.typeIn("echo status=$?\n")
			p.waitFor("status=3")
			p.typeIn("exit\n")
			if code := p.exit(); code != 0 {
				t.Errorf("shell exit %d: %q", code, p.output())
			}
			leftOver(t, marker)
		})
	}
}

// procStates returns the state letter (R, S, T...) of each process named
// comm whose command line holds marker.
func procStates(marker, comm string) string {
	var states []byte
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cl, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(cl, []byte(marker)) {
			continue
		}
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		if !bytes.Contains(stat, []byte("("+comm+")")) {
			continue
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) {
			states = append(states, stat[i+2])
		}
	}
	return string(states)
}
