package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/alecthomas/kong"

	"rcon/cgroupfs"
	"rcon/manpage"
	"rcon/profiles"
	"rcon/registry"
	"rcon/shellcomp"
)

// Hidden runs the hooks the shells and the build call, which no user
// types and --help does not show:
//
//	TOOL __complete            candidates for $COMP_LINE (the completion scripts call it)
//	TOOL __completion SHELL    the completion script for bash, zsh or fish
//	TOOL __man                 the man page, as Markdown (cmd/gen-man makes roff of it)
//
// ok is false, at the cost of one comparison, when args[0] is none of
// them: a plain run builds no completion or man page model. app is the
// tool's whole CLI, usage synopsis its run's usage lines (as for HelpOptions), opts
// its kong options (kong.Name is added).
func Hidden(tool string, args []string, app any, synopsis []string, opts ...kong.Option) (status int, ok bool) {
	if len(args) == 0 || !strings.HasPrefix(args[0], "__") {
		return 0, false
	}
	switch args[0] {
	case "__complete", "__completion", "__man":
	default:
		return 0, false
	}
	k, err := kong.New(app, append([]kong.Option{kong.Name(tool)}, opts...)...)
	if err != nil {
		return Exit(tool, fmt.Errorf("%s: %w", args[0], err)), true
	}
	SetGroups(k.Model)
	switch args[0] {
	case "__complete":
		err = shellcomp.Complete(k, os.Stdout, FlagPredictors, ArgPredictors)
	case "__completion":
		if len(args) != 2 {
			return Exit(tool, usage("__completion: name one shell: %s __completion bash|zsh|fish", tool)), true
		}
		var s string
		if s, err = shellcomp.Script(args[1], tool); err != nil {
			return Exit(tool, &Usage{err}), true
		}
		fmt.Print(s)
	case "__man":
		if len(args) != 1 {
			return Exit(tool, usage("__man takes no arguments (the date is $SOURCE_DATE_EPOCH's)")), true
		}
		var date string
		if date, err = manpage.Date(); err == nil {
			os.Stdout.Write(manpage.Markdown(k, manpage.Page{
				Section: "1", Date: date, Version: Version(), Manual: "User Commands",
				Usage: synopsis, Groups: HelpGroups, Sections: manSections(tool),
			}))
		}
	}
	if err != nil {
		return Exit(tool, err), true
	}
	return 0, true
}

// manSections are the parts of the page that are not flags: where
// things live and what else to read. Names come from the packages that
// use them.
func manSections(tool string) []manpage.Section {
	env := fmt.Sprintf(`**%s**
: Colon-separated directories searched for profiles before %s.

**%s**
: Where the records of live groups are kept (default: /run/rcon for root, else $XDG\_RUNTIME\_DIR/rcon).

**%s**
: The parent group of new groups, as **--parent**.
`, profiles.PathEnv, profiles.SystemDir, registry.StateEnv, cgroupfs.ParentEnv)
	files := fmt.Sprintf(`%s/*NAME*.toml
: Profiles, found by **--profile** *NAME*; see **rcon.toml**(5). Examples: share/doc/rcon/examples under the installation prefix (/usr/share/doc/rcon/examples from the package).
`, profiles.SystemDir)
	other := map[string]string{"rcon": "**capcon**(1)", "capcon": "**rcon**(1)"}[tool]
	seeAlso := other + ", **rcon.toml**(5), **cgroups**(7), **capabilities**(7), **namespaces**(7), **systemd-run**(1), **setpriv**(1)"
	return []manpage.Section{
		{Title: "Environment", Markdown: env},
		{Title: "Files", Markdown: files},
		{Title: "See also", Markdown: seeAlso},
	}
}

// FlagPredictors name what each flag's value completes to (see
// shellcomp.Predictors); flags not named complete to nothing. Kept here
// rather than as `predictor:` tags for the reason FlagGroups is.
var FlagPredictors = map[string]string{
	"keep": "caps", "drop": "caps", "unshare": "namespaces", "profile": "profile",
	"user": "user", "group": "unixgroup", "groups": "unixgroups",
	"ro-bind": "path", "bind": "path", "tmpfs": "dir", "chroot": "dir", "stats-json": "file",
	"shared":      "group", // join a live shared group
	"attach name": "group", // attach's --name: an existing group, or a new one
}

// ArgPredictors name what the positional arguments of a command (by its
// path) complete to.
var ArgPredictors = map[string]string{
	"set": "group", "attach": "pid", "profile check": "profile", "profile show": "profile", "profile export": "profile", "show": "pid",
}
