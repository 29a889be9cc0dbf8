// Package shellcomp completes rcon's and capcon's command lines in bash,
// zsh and fish from the tools' own kong models (via kongplete and
// posener/complete), so completion knows every flag the binary knows.
// The shells' scripts only pass the line to `TOOL __complete`; the
// candidates (flags, capability and namespace names, profiles on the
// search path, live groups) come from the binary that will run it.
package shellcomp

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/posener/complete"
	"github.com/willabides/kongplete"

	"rcon/caps"
	"rcon/nsjail"
	"rcon/profiles"
	"rcon/registry"
)

// Complete prints the candidates for the line in $COMP_LINE, cut at
// $COMP_POINT, one a line, as bash's `complete -C` and the scripts of
// Script expect. parser is the tool's whole CLI; flags and args name the
// Predictors of flags and of commands' positional arguments (see
// Command).
func Complete(parser *kong.Kong, out io.Writer, flags, args map[string]string) error {
	if os.Getenv("COMP_LINE") == "" {
		return fmt.Errorf("__complete: COMP_LINE is not set (this is the shells' completion hook; see `%s __completion bash`)", parser.Model.Name)
	}
	// After "--" the words are the wrapped command's: none of ours fit.
	// (The bash script hands that case to the command's own completion.)
	line := os.Getenv("COMP_LINE")
	if p, err := strconv.Atoi(os.Getenv("COMP_POINT")); err == nil && p >= 0 && p < len(line) {
		line = line[:p]
	}
	if words := strings.Fields(line); len(words) > 1 {
		completed := words[1:]
		if !strings.HasSuffix(line, " ") {
			completed = completed[:len(completed)-1]
		}
		for _, w := range completed {
			if w == "--" {
				return nil
			}
		}
	}
	cmd, err := Command(parser, flags, args)
	if err != nil {
		return err
	}
	// Predict, not complete.New(...).Complete(): that one falls back to
	// posener's shell-install flags, which link text/template into the
	// tools (130 KB) for nothing.
	a := newArgs(line)
	for _, c := range cmd.Predict(a) {
		if strings.HasPrefix(c, a.Last) {
			if _, err := fmt.Fprintln(out, c); err != nil {
				return fmt.Errorf("__complete: %w", err)
			}
		}
	}
	return nil
}

// newArgs splits a line as posener/complete does (its own is not
// exported): words by white space, an empty last word when the line
// ends in a space, and a last "--flag=value" split in two.
func newArgs(line string) complete.Args {
	parts := strings.Fields(line)
	if strings.HasSuffix(line, " ") || strings.HasSuffix(line, "\t") {
		parts = append(parts, "")
	}
	if n := len(parts); n > 0 {
		parts = append(parts[:n-1], strings.Split(parts[n-1], "=")...)
	}
	var a complete.Args
	if len(parts) > 1 { // the tool's name, then what is completed
		a.All = parts[1:]
		a.Completed = a.All[:len(a.All)-1]
		a.Last = a.All[len(a.All)-1]
		if len(a.Completed) > 0 {
			a.LastCompleted = a.Completed[len(a.Completed)-1]
		}
	}
	return a
}

// Command is the completion model of parser. kongplete gives the flags
// of the default command (the run) only after its name, `rcon run
// --cpu`; here they also complete at the top, where everybody types
// them (`rcon --cpu`). They go in the top's Flags, not its GlobalFlags,
// which posener/complete would offer under every subcommand too (`rcon
// ps --cpu`).
//
// What a value completes to comes from flags (flag name, or "COMMAND
// flag" for one command's, to a Predictors key) and args (command path
// to the predictor of its positional arguments), not from tags on the
// flags: tags are parsed on every run (see cli.FlagGroups).
func Command(parser *kong.Kong, flags, args map[string]string) (complete.Command, error) {
	cmd, err := kongplete.Command(parser)
	if err != nil {
		return complete.Command{}, fmt.Errorf("completion model: %w", err)
	}
	if cmd, err = predict(cmd, parser.Model.Node, Predictors(), flags, args); err != nil {
		return complete.Command{}, err
	}
	for _, c := range parser.Model.Children {
		if c.Tag == nil || c.Tag.Default == "" {
			continue
		}
		run := cmd.Sub[c.Name]
		if cmd.Flags == nil {
			cmd.Flags = complete.Flags{}
		}
		for f, p := range run.GlobalFlags {
			if _, global := cmd.GlobalFlags[f]; !global {
				cmd.Flags[f] = p
			}
		}
		cmd.Args = run.Args
	}
	return cmd, nil
}

// predict sets the predictors of node's flags and arguments in cmd, and
// of its subcommands'. An unknown predictor name is an error: a typo in
// the maps must not silently complete nothing.
func predict(cmd complete.Command, node *kong.Node, preds map[string]complete.Predictor, flags, args map[string]string) (complete.Command, error) {
	path := node.Path()
	lookup := func(name string) (complete.Predictor, bool, error) {
		if name == "" {
			return nil, false, nil
		}
		p, ok := preds[name]
		if !ok {
			return nil, false, fmt.Errorf("completion model: no predictor %q", name)
		}
		return p, true, nil
	}
	for _, f := range node.Flags {
		name := flags[strings.TrimSpace(path+" "+f.Name)]
		if name == "" {
			name = flags[f.Name]
		}
		p, ok, err := lookup(name)
		if err != nil {
			return cmd, err
		}
		if ok {
			cmd.GlobalFlags["--"+f.Name] = p
			if f.Short != 0 {
				cmd.GlobalFlags["-"+string(f.Short)] = p
			}
		}
	}
	if p, ok, err := lookup(args[path]); err != nil {
		return cmd, err
	} else if ok && len(node.Positional) > 0 {
		cmd.Args = firstArg(node, p)
	}
	for _, c := range node.Children {
		sub, ok := cmd.Sub[c.Name]
		if !ok {
			continue
		}
		sub, err := predict(sub, c, preds, flags, args)
		if err != nil {
			return cmd, err
		}
		cmd.Sub[c.Name] = sub
	}
	return cmd, nil
}

// firstArg completes node's first positional argument with p, and only
// that one when there are more (`profile export NAME COMMAND...`): the
// words completed so far, less flags and their values, say which
// argument the cursor is on.
func firstArg(node *kong.Node, p complete.Predictor) complete.Predictor {
	takesValue := map[string]bool{}
	for _, fs := range node.AllFlags(false) {
		for _, f := range fs {
			if !f.IsBool() && !f.IsCounter() {
				takesValue["--"+f.Name] = true
				if f.Short != 0 {
					takesValue["-"+string(f.Short)] = true
				}
			}
		}
	}
	return complete.PredictFunc(func(a complete.Args) []string {
		n := 0
		for i := 0; i < len(a.Completed); i++ {
			w := a.Completed[i]
			switch {
			case takesValue[w]:
				i++ // its value
			case strings.HasPrefix(w, "-"):
			default:
				n++
			}
		}
		if n > 0 && !node.Positional[0].IsCumulative() {
			return nil
		}
		return p.Predict(a)
	})
}

// Predictors are the values the tools' `predictor` tags name.
func Predictors() map[string]complete.Predictor {
	return map[string]complete.Predictor{
		"caps":       list(capNames),
		"namespaces": list(func() []string { return append(append([]string{}, nsjail.Names...), "all") }),
		"profile":    complete.PredictOr(complete.PredictFunc(func(complete.Args) []string { return ProfileNames() }), complete.PredictFiles("*.toml")),
		"group":      complete.PredictFunc(func(complete.Args) []string { return GroupNames() }),
		"user":       complete.PredictFunc(func(complete.Args) []string { return dbNames("/etc/passwd") }),
		"unixgroup":  complete.PredictFunc(func(complete.Args) []string { return dbNames("/etc/group") }),
		"unixgroups": list(func() []string { return dbNames("/etc/group") }),
		"path":       complete.PredictFiles("*"),
		"dir":        complete.PredictDirs("*"),
		"file":       complete.PredictFiles("*"),
		"pid":        complete.PredictFunc(func(complete.Args) []string { return pids() }),
	}
}

// capNames are the names --keep and --drop take, as people write them
// (net_bind_service), and the two words for every and none.
func capNames() []string {
	out := []string{"all", "none"}
	for c := 0; c <= caps.LastCap(); c++ {
		out = append(out, strings.TrimPrefix(caps.Name(c), "cap_"))
	}
	return out
}

// list completes one element of a comma-separated list (--keep
// net_raw,sys_<TAB>): each candidate is the text up to the last comma
// followed by a name not yet in the list.
func list(names func() []string) complete.Predictor {
	return complete.PredictFunc(func(a complete.Args) []string {
		head := ""
		if i := strings.LastIndexByte(a.Last, ','); i >= 0 {
			head = a.Last[:i+1]
		}
		have := map[string]bool{}
		for _, n := range strings.Split(head, ",") {
			have[n] = true
		}
		var out []string
		for _, n := range names() {
			if !have[n] {
				out = append(out, head+n)
			}
		}
		return out
	})
}

// ProfileNames are the profiles --profile NAME finds: NAME.toml in each
// directory of the search path. Unreadable directories are skipped: a
// completion has nobody to tell.
func ProfileNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range profiles.SearchPath() {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			n, ok := strings.CutSuffix(e.Name(), ".toml")
			if ok && n != "" && !e.IsDir() && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// GroupNames are the live groups in the state directory (what `rcon ps`
// lists). Only records are read: no directory, group or record is made,
// and a missing state directory is simply no groups.
func GroupNames() []string {
	recs, err := registry.Records()
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Name)
	}
	return out
}

// dbNames are the first fields of passwd(5) or group(5). The files are
// read directly: no NSS lookup (LDAP, say) runs on every TAB.
func dbNames(file string) []string {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if n, _, ok := strings.Cut(l, ":"); ok && n != "" && !strings.HasPrefix(n, "#") {
			out = append(out, n)
		}
	}
	return out
}

// pids are the processes in /proc, for rcon attach and capcon show.
func pids() []string {
	ents, _ := filepath.Glob("/proc/[0-9]*")
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, filepath.Base(e))
	}
	return out
}
