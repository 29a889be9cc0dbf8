// Command gen-man writes the man pages rcon(1), capcon(1) and
// rcon.toml(5) into a directory. The (1) pages come from the tools
// themselves (`TOOL __man`: their kong model, as Markdown) with the exit
// statuses of README.md; rcon.toml(5) is docs/PROFILES.md, the profile
// reference. go-md2man turns the Markdown into roff. Nothing is written
// twice: the flags live in cli/, the profile keys in docs/PROFILES.md.
//
//	go run ./cmd/gen-man -bin bin -o build/man -version "$(git describe --always --dirty)"
//
// The pages' date is $SOURCE_DATE_EPOCH's (the Makefile passes the
// commit's), so a rebuild of one commit makes the same package.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/cpuguy83/go-md2man/v2/md2man"

	"rcon/manpage"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding the built rcon and capcon")
	out := flag.String("o", "build/man", "directory to write the pages to")
	root := flag.String("src", ".", "the source tree (README.md, docs/PROFILES.md)")
	version := flag.String("version", "", "version for the pages' footer (default: what rcon --version says)")
	flag.Parse()
	if err := run(*bin, *out, *root, *version); err != nil {
		fmt.Fprintf(os.Stderr, "gen-man: %v\n", err)
		os.Exit(1)
	}
}

func run(bin, out, root, version string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		return err
	}
	exit, err := Section(readme, "### Exit status")
	if err != nil {
		return fmt.Errorf("README.md: %w", err)
	}
	for _, tool := range []string{"rcon", "capcon"} {
		md, err := exec.Command(filepath.Join(bin, tool), "__man").Output()
		if err != nil {
			return fmt.Errorf("%s __man: %w%s", tool, err, stderr(err))
		}
		md = InsertBefore(md, "# ENVIRONMENT", "# EXIT STATUS\n\n"+exit+"\n\n")
		if err := os.WriteFile(filepath.Join(out, tool+".1"), roff(md), 0o644); err != nil {
			return err
		}
	}
	ref, err := os.ReadFile(filepath.Join(root, "docs", "PROFILES.md"))
	if err != nil {
		return err
	}
	if version == "" {
		v, err := exec.Command(filepath.Join(bin, "rcon"), "--version").Output()
		if err != nil {
			return fmt.Errorf("rcon --version: %w%s", err, stderr(err))
		}
		version = strings.TrimPrefix(strings.SplitN(string(v), "\n", 2)[0], "rcon ")
	}
	date, err := manpage.Date()
	if err != nil {
		return err
	}
	md, err := ProfilePage(ref, date, version)
	if err != nil {
		return fmt.Errorf("docs/PROFILES.md: %w", err)
	}
	return os.WriteFile(filepath.Join(out, "rcon.toml.5"), roff(md), 0o644)
}

// ProfilePage is rcon.toml(5): the profile reference under a man page's
// title, NAME and DESCRIPTION; its own "# Profiles reference" title goes.
func ProfilePage(ref []byte, date, version string) ([]byte, error) {
	first, rest, ok := bytes.Cut(ref, []byte("\n"))
	if !ok || !bytes.HasPrefix(first, []byte("# ")) {
		return nil, errors.New(`want a "# " title on the first line`)
	}
	head := fmt.Sprintf("# RCON.TOML 5 %q %q %q\n\n# NAME\n\nrcon.toml - profiles of rcon and capcon\n\n# DESCRIPTION\n",
		date, "rcon "+version, "File Formats")
	return append([]byte(head), Tables(rest)...), nil
}

// Tables rewrites the Markdown tables of more than two columns as
// definition lists: the first cell is the term, the last the text, the
// cells between it "Header: cell" notes ("Spec field", the Go field a
// key fills, is for the code's readers and left out). A five-column table
// is wider than any terminal's man page (tbl warns); a list is how man
// pages describe keys anyway.
func Tables(md []byte) []byte {
	lines := strings.Split(string(md), "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		head := cells(lines[i])
		if len(head) <= 2 || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "|---") {
			out = append(out, lines[i])
			continue
		}
		i += 2
		for ; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
			row := cells(lines[i])
			if len(row) != len(head) {
				out = append(out, lines[i])
				continue
			}
			var notes []string
			for j := 1; j < len(row)-1; j++ {
				if head[j] != "Spec field" {
					notes = append(notes, "*"+head[j]+":* "+row[j])
				}
			}
			def := row[len(row)-1]
			if len(notes) > 0 {
				def = strings.Join(notes, "; ") + ". " + def
			}
			out = append(out, row[0], ": "+def, "")
		}
		i--
	}
	return []byte(strings.Join(out, "\n"))
}

// cells splits a table row "| a | b |" into its trimmed cells, or nil.
func cells(line string) []string {
	if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") || len(line) < 2 {
		return nil
	}
	parts := strings.Split(line[1:len(line)-1], "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// Section is the body of the Markdown section whose heading line is
// heading, up to the next heading of the same or a higher level.
func Section(md []byte, heading string) (string, error) {
	level := strings.IndexByte(heading, ' ')
	lines := strings.Split(string(md), "\n")
	for i, l := range lines {
		if l != heading {
			continue
		}
		var body []string
		for _, l := range lines[i+1:] {
			if n := strings.IndexByte(l, ' '); n > 0 && n <= level && strings.Trim(l[:n], "#") == "" {
				break
			}
			body = append(body, l)
		}
		return strings.TrimSpace(strings.Join(body, "\n")), nil
	}
	return "", fmt.Errorf("no %q section", heading)
}

// InsertBefore puts text before the line that is marker, or at the end.
func InsertBefore(md []byte, marker, text string) []byte {
	s := string(md)
	if i := strings.Index(s, "\n"+marker+"\n"); i >= 0 {
		return []byte(s[:i+1] + text + s[i+1:])
	}
	return []byte(s + "\n" + text)
}

func stderr(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return ": " + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// roff renders Markdown as a man page. Characters beyond ASCII (µ, —, ≥
// in the texts) become groff's \[uXXXX] escapes: groff reads its input
// as Latin-1 unless a preprocessor (man's preconv) converts it first,
// and a page must render the same under `groff -man` alone.
func roff(md []byte) []byte {
	var b bytes.Buffer
	for _, r := range string(md2man.Render(md)) {
		if r < 0x80 {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "\\[u%04X]", r)
		}
	}
	return b.Bytes()
}
