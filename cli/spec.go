package cli

import (
	"github.com/alecthomas/kong"

	"rcon/spec"
)

// Spec builds the spec of one run: the profile's layer, then the flags'
// (the environment variables kong reads for flags among them), overlaid
// and validated by spec.Build. limits and group are nil for capcon.
func Spec(tool string, ctx *kong.Context, c *Common, limits *Limits, group *Group) (*spec.Spec, error) {
	profile, err := profileLayer(c.Profile)
	if err != nil {
		return nil, err
	}
	set := explicit(ctx)
	var flags spec.Layer
	if limits != nil {
		if flags.Limits, err = limits.layer(set); err != nil {
			return nil, err
		}
	}
	if group != nil {
		if err := group.layer(&flags, set); err != nil {
			return nil, err
		}
	}
	if err := c.layer(&flags, set); err != nil {
		return nil, err
	}
	s, err := spec.Build(tool, profile, flags)
	if err != nil {
		return nil, &Usage{err}
	}
	return s, nil
}
