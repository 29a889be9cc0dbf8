package manpage

import (
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

type app struct {
	Run struct {
		CPU  float64  `name:"cpu" placeholder:"PCT" help:"CPU quota <pct>."`
		User string   `name:"user" short:"u" help:"Run as *this* user."`
		Args []string `arg:"" optional:"" passthrough:""`
	} `cmd:"" default:"withargs" help:"Run a command."`
	Set struct {
		CPU   float64 `name:"cpu" placeholder:"PCT" help:"CPU quota <pct>."`
		Force bool    `name:"force" help:"Anyway."`
		Name  string  `arg:"" help:"The group."`
	} `cmd:"" help:"Change a group."`
}

func TestMarkdown(t *testing.T) {
	var a app
	k, err := kong.New(&a, kong.Name("rcon"), kong.Description("Run things."))
	if err != nil {
		t.Fatal(err)
	}
	groups := []kong.Group{{Key: "limits", Title: "Limits:"}, {Key: "identity", Title: "Identity:"}}
	// Groups as cli.SetGroups sets them: identity declared after limits
	// here, but listed in the order of groups either way.
	_ = kong.Visit(k.Model, func(n kong.Visitable, next kong.Next) error {
		if f, ok := n.(*kong.Flag); ok {
			switch f.Name {
			case "cpu":
				f.Group = &groups[0]
			case "user":
				f.Group = &groups[1]
			}
		}
		return next(nil)
	})
	md := string(Markdown(k, Page{Section: "1", Date: "2024-01-02", Version: "v1", Manual: "User Commands",
		Usage: []string{"[flags] -- COMMAND"}, Groups: groups, Sections: []Section{{Title: "See also", Markdown: "**capcon**(1)"}}}))
	for _, w := range []string{
		"# RCON 1 \"2024-01-02\" \"rcon v1\" \"User Commands\"\n",
		"# NAME\n\nrcon - Run things\n",
		"**rcon** \\[flags\\] -- COMMAND  \n",
		"**rcon** **set** [flags] *NAME*  \n",
		"### Limits\n\n**--cpu** *PCT*\n: CPU quota \\<pct\\>.\n",
		"**-u**, **--user** *STRING*\n: Run as \\*this\\* user.\n",
		"Takes, as a run does: **--cpu**.\n",
		"**--force**\n: Anyway.\n",
		"# SEE ALSO\n\n**capcon**(1)\n",
	} {
		if !strings.Contains(md, w) {
			t.Errorf("no %q in\n%s", w, md)
		}
	}
	if strings.Index(md, "### Limits") > strings.Index(md, "### Identity") {
		t.Errorf("groups out of order:\n%s", md)
	}
}
