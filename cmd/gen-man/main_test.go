package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// need returns the path of a program the page test uses; in CI (where
// .ci/run installs it) a missing one fails the test instead of skipping.
func need(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not installed, and CI=true: .ci/run installs %s", name, pkg)
	}
	t.Skipf("%s not installed (Debian: apt-get install %s)", name, pkg)
	return ""
}

// The three pages are made from the real tools and docs, and render
// under groff and man without a single warning (-ww: all of them).
func TestPagesRenderWithoutWarnings(t *testing.T) {
	groff := need(t, "groff", "groff-base")
	man := need(t, "man", "man-db")
	bin, out := t.TempDir(), t.TempDir()
	for _, tool := range []string{"rcon", "capcon"} {
		// Stamped as the Makefile stamps them.
		cmd := exec.Command("go", "build", "-ldflags", "-X rcon/cli.version=test-1", "-o", filepath.Join(bin, tool), "../"+tool)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", tool, err, b)
		}
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	if err := run(bin, out, "../..", "test-1"); err != nil {
		t.Fatal(err)
	}
	for page, wants := range map[string][]string{
		"rcon.1":      {"RCON(1)", "2023-11-14", "rcon test-1", "Limits", "--cpu PCT", "--mem, --memory SIZE", "Identity and capabilities", "rcon set [flags] NAME", "EXIT STATUS", "RCON_PROFILE_PATH"},
		"capcon.1":    {"CAPCON(1)", "--keep CAPS", "capcon show [flags] [PID]", "EXIT STATUS", "capcon test-1"},
		"rcon.toml.5": {"RCON.TOML(5)", "File Formats", "mem_high", "Finding a profile", "cpu_period_us", "rcon test-1"},
	} {
		path := filepath.Join(out, page)
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(groff, "-man", "-t", "-Tutf8", "-ww", "-rLL=78n", path)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("groff %s: %v\n%s", page, err, stderr.String())
		}
		// Text as a terminal shows it: no bold/underline overstrikes.
		text := regexpBackspace(stdout.String())
		for _, w := range wants {
			if !strings.Contains(text, w) {
				t.Errorf("%s: no %q in\n%s", page, w, text)
			}
		}
		stderr.Reset()
		cmd = exec.Command(man, "--warnings", "-l", path)
		cmd.Stdout, cmd.Stderr = nil, &stderr
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "LC_ALL=C.UTF-8")
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("man -l %s: %v\n%s", page, err, stderr.String())
		}
	}
}

// regexpBackspace drops groff's overstriking (X\bX bold, _\bX underline)
// and its SGR escapes, leaving the text.
func regexpBackspace(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i := 0; i < len(r); i++ {
		if i+1 < len(r) && r[i+1] == '\b' {
			i++
			continue
		}
		if r[i] == 0x1b {
			for i < len(r) && r[i] != 'm' {
				i++
			}
			continue
		}
		b.WriteRune(r[i])
	}
	return b.String()
}

func TestTablesBecomeDefinitionLists(t *testing.T) {
	in := "x\n\n| key | type | Spec field | meaning |\n|---|---|---|---|\n| `cpu` | number | `CPUPercent` | CPU quota. |\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
	got := string(Tables([]byte(in)))
	want := "x\n\n`cpu`\n: *type:* number. CPU quota.\n\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
	if got != want {
		t.Errorf("Tables:\n%q\nwant\n%q", got, want)
	}
}

func TestSection(t *testing.T) {
	md := []byte("## A\n\n### Exit status\n\nbody\n\n#### sub\n\nmore\n\n### Next\n\nnot this\n")
	got, err := Section(md, "### Exit status")
	if err != nil || got != "body\n\n#### sub\n\nmore" {
		t.Errorf("Section = %q, %v", got, err)
	}
	if _, err := Section(md, "### Missing"); err == nil {
		t.Error("a missing section is no error")
	}
}
