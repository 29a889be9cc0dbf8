// Package manpage writes a tool's man page, as Markdown, from its kong
// model: the same flags, groups and help texts --help shows, so the page
// is never written twice. cmd/gen-man turns the Markdown into roff with
// go-md2man; this package has no dependency beyond kong, so the tools
// that carry it (their hidden `__man` hook) stay small.
package manpage

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
)

// Page is what the kong model does not hold.
type Page struct {
	Section string // "1"
	Date    string // of the page, e.g. the commit's: pages must build reproducibly
	Version string
	Manual  string // "User Commands"
	// Usage are the synopsis lines of the default command (a run),
	// without the tool's name.
	Usage []string
	// Groups order and title the flag groups (the `group` tags).
	Groups []kong.Group
	// Sections follow COMMANDS, each Markdown under its own heading.
	Sections []Section
}

// Section is one extra part of the page.
type Section struct {
	Title, Markdown string
}

// Markdown writes the page of k's model.
func Markdown(k *kong.Kong, p Page) []byte {
	app := k.Model
	var b strings.Builder
	name := app.Name
	fmt.Fprintf(&b, "# %s %s %q %q %q\n\n", strings.ToUpper(name), p.Section, p.Date, name+" "+p.Version, p.Manual)
	fmt.Fprintf(&b, "# NAME\n\n%s - %s\n\n", name, Escape(strings.TrimSuffix(app.Help, ".")))

	run := defaultCommand(app.Node)
	b.WriteString("# SYNOPSIS\n\n")
	for _, u := range p.Usage {
		fmt.Fprintf(&b, "**%s** %s  \n", name, Escape(u))
	}
	for _, c := range commands(app.Node, run) {
		fmt.Fprintf(&b, "**%s** %s  \n", name, synopsis(c))
	}
	b.WriteString("\n# DESCRIPTION\n\n")
	b.WriteString(Escape(app.Help) + "\n\n")
	if run != nil {
		b.WriteString(Escape(run.Help) + "\n\n")
		if run.Detail != "" {
			b.WriteString(Escape(run.Detail) + "\n\n")
		}
	}

	b.WriteString("# OPTIONS\n\n")
	var flags []*kong.Flag
	for _, fs := range app.AllFlags(true) {
		flags = append(flags, fs...)
	}
	inRun := map[string]string{} // name: help
	if run != nil {
		for _, f := range run.Flags {
			if !f.Hidden {
				flags = append(flags, f)
				inRun[f.Name] = f.Help
			}
		}
	}
	writeGroups(&b, flags, p.Groups, "###")

	if cs := commands(app.Node, run); len(cs) > 0 {
		b.WriteString("# COMMANDS\n\n")
		for _, c := range cs {
			fmt.Fprintf(&b, "### %s %s\n\n%s\n\n", name, synopsis(c), Escape(c.Help))
			if c.Detail != "" {
				b.WriteString(Escape(c.Detail) + "\n\n")
			}
			for _, a := range c.Positional {
				if a.Help != "" {
					fmt.Fprintf(&b, "*%s*\n: %s\n\n", argName(a), Escape(a.Help))
				}
			}
			// Flags a run has too, with the same meaning, are described
			// above; list them by name only, the others in full.
			var own []*kong.Flag
			var shared []string
			for _, f := range c.Flags {
				switch {
				case f.Hidden:
				case inRun[f.Name] == f.Help:
					shared = append(shared, "**--"+f.Name+"**")
				default:
					own = append(own, f)
				}
			}
			if len(shared) > 0 {
				fmt.Fprintf(&b, "Takes, as a run does: %s.\n\n", strings.Join(shared, ", "))
			}
			for _, f := range own {
				writeFlag(&b, f)
			}
		}
	}
	for _, s := range p.Sections {
		fmt.Fprintf(&b, "# %s\n\n%s\n\n", strings.ToUpper(s.Title), strings.TrimSpace(s.Markdown))
	}
	return []byte(b.String())
}

// writeGroups lists flags under the headings of groups, in their order;
// flags with no group come first, as general options.
func writeGroups(b *strings.Builder, flags []*kong.Flag, groups []kong.Group, h string) {
	byKey := map[string][]*kong.Flag{}
	for _, f := range flags {
		key := ""
		if f.Group != nil {
			key = f.Group.Key
		}
		byKey[key] = append(byKey[key], f)
	}
	if fs := byKey[""]; len(fs) > 0 {
		fmt.Fprintf(b, "%s General\n\n", h)
		for _, f := range fs {
			writeFlag(b, f)
		}
	}
	for _, g := range groups {
		fs := byKey[g.Key]
		if len(fs) == 0 {
			continue
		}
		fmt.Fprintf(b, "%s %s\n\n", h, strings.TrimSuffix(g.Title, ":"))
		for _, f := range fs {
			writeFlag(b, f)
		}
	}
}

// writeFlag is one definition-list entry: the flag's forms, then its help.
func writeFlag(b *strings.Builder, f *kong.Flag) {
	long := "--" + f.Name
	if f.Tag != nil && f.Tag.Negatable != "" {
		long = "--[no-]" + f.Name
	}
	forms := []string{"**" + Escape(long) + "**"}
	if f.Short != 0 {
		forms = append([]string{fmt.Sprintf("**-%c**", f.Short)}, forms...)
	}
	for _, a := range f.Aliases {
		forms = append(forms, "**--"+Escape(a)+"**")
	}
	term := strings.Join(forms, ", ")
	if !f.IsBool() && !f.IsCounter() {
		term += " *" + Escape(f.FormatPlaceHolder()) + "*"
	}
	help := Escape(f.Help)
	if len(f.Envs) > 0 {
		help += " Environment: " + Escape("$"+strings.Join(f.Envs, ", $")) + "."
	}
	fmt.Fprintf(b, "%s\n: %s\n\n", term, help)
}

// commands are the subcommands other than the default, leaves first by
// their path (profile check, profile show).
func commands(n, run *kong.Node) []*kong.Node {
	var out []*kong.Node
	for _, c := range n.Children {
		if c == run || c.Hidden {
			continue
		}
		if len(c.Children) > 0 {
			out = append(out, commands(c, nil)...)
			continue
		}
		out = append(out, c)
	}
	return out
}

// synopsis is a command's path, [flags] and its positionals.
func synopsis(c *kong.Node) string {
	parts := []string{"**" + Escape(c.Path()) + "**"}
	if len(c.Flags) > 0 {
		parts = append(parts, "[flags]")
	}
	for _, a := range c.Positional {
		s := "*" + argName(a) + "*"
		if a.IsCumulative() {
			s += "..."
		}
		if !a.Required {
			s = "[" + s + "]"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func argName(a *kong.Positional) string {
	return Escape(strings.ToUpper(a.Name))
}

func defaultCommand(n *kong.Node) *kong.Node {
	for _, c := range n.Children {
		if c.Tag != nil && c.Tag.Default != "" {
			return c
		}
	}
	return nil
}

// Escape makes help text literal Markdown: the help strings are plain
// text, and characters such as * or < (a "<pid>" would be taken for
// HTML and vanish) must reach the page as typed.
func Escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_{}[]<>#|", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Date is the pages' date: $SOURCE_DATE_EPOCH (the reproducible builds
// convention; the Makefile sets it to the commit's time), else today.
func Date() (string, error) {
	t := time.Now()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return "", fmt.Errorf("SOURCE_DATE_EPOCH=%q: not a number of seconds", s)
		}
		t = time.Unix(n, 0)
	}
	return t.UTC().Format("2006-01-02"), nil
}
