package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A command run with less than the caller's privileges gets a session of
// its own (issue 11, hole 7): sharing the caller's controlling terminal, it
// could push keystrokes into the caller's shell with TIOCSTI (kernels
// before 6.2, or dev.tty.legacy_tiocsti=1), to be run with the caller's
// privileges once rcon exits.

// legacyTIOCSTI tells whether this kernel lets a process push input into
// its own controlling terminal without CAP_SYS_ADMIN.
func legacyTIOCSTI() bool {
	b, err := os.ReadFile("/proc/sys/dev/tty/legacy_tiocsti")
	if os.IsNotExist(err) {
		return true // before 6.2 there was no knob: always allowed
	}
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

func TestLessPrivilegedCommandCannotTypeIntoCallersShell(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash for an interactive shell on a terminal")
	}
	if !legacyTIOCSTI() {
		t.Skip("dev.tty.legacy_tiocsti is 0: TIOCSTI needs CAP_SYS_ADMIN anyway (the session itself is checked by TestLessPrivilegedCommandHasNoControllingTerminal)")
	}
	rc := filepath.Join(binDir, "rcon")
	dir := publicDir(t)
	for _, c := range []struct{ name, flags, helper string }{
		{"keep none", "--keep none", strings.Join(helperArgs(t, "tiocsti"), " ")},
		{"user nobody", "--user nobody", strings.Join(publicHelper(t, dir, "tiocsti"), " ")},
		{"user nobody pid ns", "--user nobody --unshare pid,mount", strings.Join(publicHelper(t, dir, "tiocsti"), " ")},
		{"capcon keep none", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			tl := rc + " --cpu 90 " + c.flags
			if c.name == "capcon keep none" {
				tl, c.helper = filepath.Join(binDir, "capcon")+" --keep none", strings.Join(helperArgs(t, "tiocsti"), " ")
			}
			p := onPty(t, "env PS1='$ ' bash --norc --noprofile -i")
			p.waitFor("$ ")
			// What the command pushes runs 6*7 in the shell: the typed
			// line (in $'...', which does not expand it) shows 42 nowhere.
			p.typeIn(tl + " -- " + c.helper + " $'echo INJ$((6*7))\\n'\n")
			p.waitFor("tiocsti: ")
			p.typeIn("echo fini''shed\n")
			p.waitFor("finished")
			p.typeIn("exit\n")
			p.exit()
			out := p.output()
			if strings.Contains(out, "INJ42") {
				t.Errorf("the command typed into the caller's shell, which ran it:\n%s", out)
			}
			if !strings.Contains(out, "tiocsti: operation not permitted") {
				t.Errorf("TIOCSTI by the command: want EPERM; terminal shows:\n%s", out)
			}
		})
	}
	stateEmpty(t)
}

var cttyLine = regexp.MustCompile(`ctty: sid=(\d+) tty_nr=(\d+) devtty=(.*)`)

// TestLessPrivilegedCommandHasNoControllingTerminal checks the structure
// the fix relies on, on any kernel: a less privileged command has no
// controlling terminal (tty_nr 0, /dev/tty does not open), a trusted one
// keeps the caller's.
func TestLessPrivilegedCommandHasNoControllingTerminal(t *testing.T) {
	rc := filepath.Join(binDir, "rcon")
	ctty := strings.Join(helperArgs(t, "ctty"), " ")
	for _, c := range []struct {
		flags string
		own   bool // expect a session of its own
	}{
		{"", false},
		{"--unshare pid,mount", false},
		{"--keep none", true},
		{"--drop net_raw", true},
		{"--user root", true},
		{"--keep none --unshare pid,mount", true},
	} {
		t.Run(strings.TrimSpace("plain "+c.flags), func(t *testing.T) {
			p := onPty(t, rc+" "+c.flags+" -- "+ctty)
			p.waitFor("devtty=")
			p.exit()
			m := cttyLine.FindStringSubmatch(p.output())
			if m == nil {
				t.Fatalf("no ctty line: %q", p.output())
			}
			hasTTY := m[2] != "0" && strings.HasPrefix(m[3], "<nil>")
			if c.own && (m[2] != "0" || strings.HasPrefix(m[3], "<nil>")) {
				t.Errorf("less privileged command still has the caller's terminal: tty_nr=%s, open /dev/tty: %s", m[2], m[3])
			}
			if !c.own && !hasTTY {
				t.Errorf("trusted command lost the caller's terminal: tty_nr=%s, open /dev/tty: %s", m[2], m[3])
			}
		})
	}
	stateEmpty(t)
}
