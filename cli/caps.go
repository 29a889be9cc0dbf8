package cli

import (
	"fmt"

	"rcon/caps"
	"rcon/launch"
)

// applyCaps fills s.Caps from --keep/--drop/--no-new-privs/--allow-new-privs.
// A Spec with neither keep nor drop changes no set and only sets
// no_new_privs.
func (c *Common) applyCaps(s *launch.Spec, set map[string]bool) error {
	if set["keep"] && set["drop"] {
		return usage("--keep and --drop are exclusive")
	}
	if set["no-new-privs"] && set["allow-new-privs"] {
		return usage("--no-new-privs and --allow-new-privs are exclusive")
	}
	if !(set["keep"] || set["drop"] || set["no-new-privs"] || set["allow-new-privs"]) {
		return nil
	}
	if s.Caps == nil {
		s.Caps = &caps.Spec{}
	}
	if set["keep"] {
		s.Caps.Keep, s.Caps.KeepSet, s.Caps.Drop = splitList(c.Keep), true, nil
	}
	if set["drop"] {
		s.Caps.Drop, s.Caps.Keep, s.Caps.KeepSet = splitList(c.Drop), nil, false
	}
	if set["no-new-privs"] {
		s.Caps.AllowNewPrivs = false
	}
	if set["allow-new-privs"] {
		s.Caps.AllowNewPrivs = true
	}
	if err := s.Caps.Validate(); err != nil {
		return &Usage{err} // names the flag and the capability itself
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
