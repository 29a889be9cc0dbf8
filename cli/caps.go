package cli

import (
	"fmt"

	"rcon/caps"
	"rcon/spec"
)

// capsLayer adds --keep/--drop/--no-new-privs/--allow-new-privs to l. A
// spec with neither keep nor drop changes no set and only sets
// no_new_privs.
func (c *Common) capsLayer(l *spec.Layer, set map[string]bool) error {
	if set["keep"] && set["drop"] {
		return usage("--keep and --drop are exclusive")
	}
	if set["no-new-privs"] && set["allow-new-privs"] {
		return usage("--no-new-privs and --allow-new-privs are exclusive")
	}
	l.Keep, l.Drop = flag(set, "keep", splitList(c.Keep)), flag(set, "drop", splitList(c.Drop))
	if set["no-new-privs"] {
		l.NoNewPrivs = flag(set, "no-new-privs", true)
	}
	if set["allow-new-privs"] {
		l.NoNewPrivs = flag(set, "allow-new-privs", false)
	}
	return nil
}

// ShowCmd is `capcon show [PID]`.
type ShowCmd struct {
	PID  int  `arg:"" optional:"" help:"Process to decode (default: capcon itself, with its securebits)."`
	JSON bool `name:"json" help:"Print JSON."`
}

// Run prints the sets of the process, decoded as capsh --decode would.
func (c *ShowCmd) Run(tool string) int {
	st, err := caps.ReadStatus(c.PID)
	if err != nil {
		return Exit(tool, err)
	}
	fmt.Print(caps.FormatStatus(st, c.JSON))
	return 0
}
