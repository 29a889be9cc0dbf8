package cli

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/alecthomas/kong"
)

// HelpGroups are the headings of --help (and of the man pages, which are
// made from the same model), in the order a reader looks for things in;
// FlagGroups puts the flags under them.
var HelpGroups = []kong.Group{
	{Key: "limits", Title: "Limits:"},
	{Key: "group", Title: "Group:"},
	{Key: "identity", Title: "Identity and capabilities:"},
	{Key: "namespaces", Title: "Namespaces and mounts:"},
	{Key: "output", Title: "Output:"},
}

// FlagGroups is the heading of each flag (by name) that has one; the
// others (--help, --profile, --command, ...) come first, ungrouped. The
// groups are set on the model only for help and the man page
// (SetGroups), not as `group:` tags: kong parses every tag of the run's
// flags on every run, and group and predictor tags made a plain run's
// parse 21% dearer in allocations (BenchmarkParse/cli.Parse -benchmem:
// 3115 -> 3768 allocs/op), for help nobody asked for.
// TestEveryRunFlagHasAGroup keeps this list whole.
var FlagGroups = map[string]string{
	"cpu": "limits", "cpu-period": "limits", "cpu-weight": "limits", "cpuset": "limits",
	"mem": "limits", "mem-high": "limits", "swap": "limits", "pids": "limits",
	"io-read-bps": "limits", "io-write-bps": "limits", "io-read-iops": "limits", "io-write-iops": "limits",
	"read": "limits", "write": "limits", "dev": "limits",

	"name": "group", "shared": "group", "update": "group", "parent": "group", "driver": "group", "slice": "group", "wait-all": "group", "fit": "group",

	"user": "identity", "group": "identity", "groups": "identity", "keep": "identity", "drop": "identity",
	"no-new-privs": "identity", "allow-new-privs": "identity",

	"unshare": "namespaces", "hostname": "namespaces", "map-user": "namespaces", "ro-bind": "namespaces",
	"bind": "namespaces", "tmpfs": "namespaces", "chroot": "namespaces", "ro-root": "namespaces",

	"stats": "output", "stats-json": "output",
}

// SetGroups puts every flag of app under its FlagGroups heading.
func SetGroups(app *kong.Application) {
	byKey := map[string]*kong.Group{}
	for i := range HelpGroups {
		byKey[HelpGroups[i].Key] = &HelpGroups[i]
	}
	_ = kong.Visit(app, func(n kong.Visitable, next kong.Next) error {
		if f, ok := n.(*kong.Flag); ok && f.Group == nil {
			f.Group = byKey[FlagGroups[f.Name]]
		}
		return next(nil)
	})
}

// HelpOptions are the kong options both tools parse with: a top-level
// help that shows the run, its flags grouped. usage are the synopsis
// lines, without the tool's name (`[flags] -- COMMAND [ARGS...]`).
func HelpOptions(usage ...string) []kong.Option {
	return []kong.Option{kong.Help(helpPrinter(usage))}
}

// helpPrinter prints `TOOL --help` as a reader wants it: what nearly
// every invocation is, a run, with its flags, and the subcommands only
// after that, one line each. kong's own top-level help lists the
// subcommands alone and leaves the run's flags behind `TOOL run --help`.
// A subcommand's help and the one-line usage after an error stay kong's.
func helpPrinter(usage []string) kong.HelpPrinter {
	return func(o kong.HelpOptions, ctx *kong.Context) error {
		SetGroups(ctx.Model)
		run := DefaultCommand(ctx.Model.Node)
		if o.Summary || ctx.Selected() != nil || run == nil {
			return kong.DefaultHelpPrinter(o, ctx)
		}
		name := ctx.Model.Name
		w := ctx.Stdout
		fmt.Fprintln(w, "Usage:")
		for _, u := range usage {
			fmt.Fprintf(w, "  %s %s\n", name, u)
		}
		fmt.Fprintf(w, "  %s COMMAND [flags]  (below)\n\n", name)
		fmt.Fprintln(w, ctx.Model.Help)
		runCtx, err := kong.Trace(ctx.Kong, []string{run.Name})
		if err != nil {
			return fmt.Errorf("help: %w", err)
		}
		o.NoAppSummary = true
		// kong prints groups in the order their first flag is declared
		// (stats, in the Group struct, before the identity flags); the
		// help is read in HelpGroups' order. The order is put back
		// afterwards: parsing does not depend on it, but help should not
		// reorder the model.
		flags := run.Flags
		run.Flags = sortedByGroup(flags)
		err = kong.DefaultHelpPrinter(o, runCtx)
		run.Flags = flags
		if err != nil {
			return err
		}
		fmt.Fprintln(w, "\nCommands:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, c := range ctx.Model.Leaves(true) {
			if c == run {
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimPrefix(c.Summary(), name+" "), c.Help)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nRun \"%s COMMAND --help\" for a command's flags; \"man %s\" for the whole story.\n", name, name)
		return nil
	}
}

// DefaultCommand is the child of n kong runs when no subcommand is named
// (the `default:"withargs"` tag), or nil.
func DefaultCommand(n *kong.Node) *kong.Node {
	for _, c := range n.Children {
		if c.Tag != nil && c.Tag.Default != "" {
			return c
		}
	}
	return nil
}

// sortedByGroup is flags with the ungrouped first, then by HelpGroups'
// order, declaration order kept within each.
func sortedByGroup(flags []*kong.Flag) []*kong.Flag {
	rank := func(f *kong.Flag) int {
		if f.Group == nil {
			return -1
		}
		for i, g := range HelpGroups {
			if g.Key == f.Group.Key {
				return i
			}
		}
		return len(HelpGroups)
	}
	out := slices.Clone(flags)
	slices.SortStableFunc(out, func(a, b *kong.Flag) int { return rank(a) - rank(b) })
	return out
}
