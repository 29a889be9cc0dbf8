package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// complete asks bin/TOOL for the candidates of line, cursor at its end,
// the way bash's completion does (COMP_LINE, COMP_POINT).
func complete(t *testing.T, tool, line string, env ...string) []string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, tool), "__complete", tool, "", "")
	cmd.Env = append(append(os.Environ(), "COMP_LINE="+line, "COMP_POINT="+strconv.Itoa(len(line))), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s __complete %q: %v", tool, line, err)
	}
	return strings.Fields(string(out))
}

// The built binaries complete their flags and the values they take:
// capability and namespace names, profiles on the search path, and the
// groups live now for rcon set, read from the records of a real run.
func TestCompletionCandidates(t *testing.T) {
	needRoot(t)
	// A profile directory of its own: the VMs have no source tree.
	profiles := t.TempDir()
	if err := os.WriteFile(filepath.Join(profiles, "nightly.toml"), []byte("[limits]\ncpu = 20\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tool, line string
		want       []string
	}{
		{"rcon", "rcon --ke", []string{"--keep"}},
		{"rcon", "rcon --keep net_raw,sys_ad", []string{"net_raw,sys_admin"}},
		{"rcon", "rcon --unshare pid,ne", []string{"pid,net"}},
		{"rcon", "rcon --profile nigh", []string{"nightly"}},
		{"rcon", "rcon p", []string{"profile", "ps"}},
		{"capcon", "capcon --dr", []string{"--drop"}},
		{"capcon", "capcon sh", []string{"show"}},
	} {
		got := complete(t, c.tool, c.line, "RCON_PROFILE_PATH="+profiles)
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: got %q, want %q", c.line, got, c.want)
		}
	}

	name := fmt.Sprintf("rcontest-comp-%d", os.Getpid())
	_, pid := startRcon(t, append([]string{"--name", name, "--cpu", "50", "--"}, helperArgs(t, "ready", "30")...)...)
	if got := complete(t, "rcon", "rcon set rcontest-comp"); !slices.Contains(got, name) {
		t.Errorf("rcon set: live group %s (helper pid %d) not offered: %q", name, pid, got)
	}
}

// The bash script, sourced into a real bash, fills COMPREPLY from the
// binary it is given (COMP_WORDS[0], as typed on the command line).
func TestBashCompletionScript(t *testing.T) {
	bash := needProgram(t, "bash", "bash")
	script := filepath.Join(t.TempDir(), "rcon.bash")
	out, err := exec.Command(filepath.Join(binDir, "rcon"), "__completion", "bash").Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, out, 0o644); err != nil {
		t.Fatal(err)
	}
	rcon := filepath.Join(binDir, "rcon")
	for _, c := range []struct {
		words []string
		want  string
	}{
		{[]string{rcon, "--me"}, "--mem --mem-high"},
		{[]string{rcon, "--cpu", "50", "--keep", "net_bind"}, "net_bind_service"},
		{[]string{rcon, "--drop", "all", "--unshare", "u"}, "user uts"},
	} {
		line := strings.Join(c.words, " ")
		prog := fmt.Sprintf(`. %q
COMP_WORDS=(%s); COMP_CWORD=%d; COMP_LINE=%q; COMP_POINT=${#COMP_LINE}
complete -p rcon >/dev/null || exit 3
_rcon_complete rcon %q %q
printf '%%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '`,
			script, quoteWords(c.words), len(c.words)-1, line, c.words[len(c.words)-1], c.words[len(c.words)-2])
		got, err := exec.Command(bash, "--norc", "-c", prog).Output()
		if err != nil {
			t.Fatalf("%q: bash: %v", line, err)
		}
		if strings.TrimSpace(string(got)) != c.want {
			t.Errorf("%q: COMPREPLY %q, want %q", line, got, c.want)
		}
	}
}

func quoteWords(ws []string) string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = strconv.Quote(w)
	}
	return strings.Join(q, " ")
}

// fish runs completions without a terminal (complete -C), so its script
// is tested as fish uses it; zsh's needs the completion system of an
// interactive shell, so its script runs with compadd stubbed.
func TestFishAndZshCompletionScripts(t *testing.T) {
	dir := t.TempDir()
	for _, tool := range []string{"rcon", "capcon"} {
		if err := os.Symlink(filepath.Join(binDir, tool), filepath.Join(dir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	path := "PATH=" + dir + ":" + os.Getenv("PATH")
	script := func(shell string) string {
		out, err := exec.Command(filepath.Join(binDir, "rcon"), "__completion", shell).Output()
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, "rcon."+shell)
		if err := os.WriteFile(f, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	t.Run("fish", func(t *testing.T) {
		fish := needProgram(t, "fish", "fish")
		f := script("fish")
		cmd := exec.Command(fish, "--no-config", "-c", fmt.Sprintf("source %s; complete -C 'rcon --keep net_raw,sys_ti'; complete -C 'rcon --pi'", f))
		cmd.Env = append(os.Environ(), path)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fish: %v\n%s", err, out)
		}
		got := strings.Fields(string(out))
		if !slices.Contains(got, "net_raw,sys_time") || !slices.Contains(got, "--pids") {
			t.Errorf("fish completions %q (%v)", got, time.Since(start))
		}
	})
	t.Run("zsh", func(t *testing.T) {
		zsh := needProgram(t, "zsh", "zsh")
		f := script("zsh")
		prog := fmt.Sprintf(`compadd() { shift 2; print -l -- "$@"; }
_files() { print FILES; }
words=(rcon --unshare ne); CURRENT=3
. %s`, f)
		cmd := exec.Command(zsh, "-f", "-c", prog)
		cmd.Env = append(os.Environ(), path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("zsh: %v\n%s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != "net" {
			t.Errorf("zsh candidates %q, want net", got)
		}
	})
}
