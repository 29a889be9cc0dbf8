package cli

import (
	"github.com/alecthomas/kong"

	"rcon/launch"
)

// Spec builds the launch.Spec of one run from the parsed flags: defaults,
// then the profile, then the flags that were given. limits and group are
// nil for capcon.
func Spec(tool string, ctx *kong.Context, c *Common, limits *Limits, group *Group) (*launch.Spec, error) {
	s := &launch.Spec{Tool: tool}
	if err := applyProfile(s, c.Profile); err != nil {
		return nil, err
	}
	set := explicit(ctx)
	if limits != nil {
		if err := limits.Apply(&s.Resources, set); err != nil {
			return nil, err
		}
		if err := checkQuota(&s.Resources, set); err != nil {
			return nil, err
		}
	}
	if group != nil {
		if err := group.Apply(s, set); err != nil {
			return nil, err
		}
	}
	if err := c.Apply(s, set); err != nil {
		return nil, err
	}
	if len(s.Argv) == 0 {
		return nil, usage("no command given: %s [flags] -- COMMAND [ARGS...]", tool)
	}
	if s.Shared != "" && s.WaitAll {
		return nil, usage("--shared and --wait-all are exclusive: a shared group is emptied by its last member out")
	}
	if s.Update && s.Shared == "" {
		return nil, usage("--update needs --shared")
	}
	return s, nil
}
