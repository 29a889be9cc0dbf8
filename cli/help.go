package cli

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/alecthomas/kong"
)

// HelpGroups are the headings of --help (and of the man pages, which are
// made from the same model): the flags' `group` tags name them. Their
// order is the order a reader looks for things in.
var HelpGroups = []kong.Group{
	{Key: "limits", Title: "Limits:"},
	{Key: "group", Title: "Group:"},
	{Key: "identity", Title: "Identity and capabilities:"},
	{Key: "namespaces", Title: "Namespaces and mounts:"},
	{Key: "output", Title: "Output:"},
}

// HelpOptions are the kong options both tools parse with: grouped flags,
// and a top-level help that shows the run. usage are the synopsis lines,
// without the tool's name (`[flags] -- COMMAND [ARGS...]`).
func HelpOptions(usage ...string) []kong.Option {
	return []kong.Option{
		kong.ExplicitGroups(HelpGroups),
		kong.Help(helpPrinter(usage)),
	}
}

// helpPrinter prints `TOOL --help` as a reader wants it: what nearly
// every invocation is, a run, with its flags, and the subcommands only
// after that, one line each. kong's own top-level help lists the
// subcommands alone and leaves the run's flags behind `TOOL run --help`.
// A subcommand's help and the one-line usage after an error stay kong's.
func helpPrinter(usage []string) kong.HelpPrinter {
	return func(o kong.HelpOptions, ctx *kong.Context) error {
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
		// help is read in HelpGroups' order. The flags are sorted back
		// afterwards: parsing does not depend on it, but help should not
		// change the model.
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
