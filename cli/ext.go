package cli

import "rcon/launch"

// applyCaps PLACEHOLDER until the caps package lands.
func (c *Common) applyCaps(s *launch.Spec, set map[string]bool) error {
	if set["keep"] || set["drop"] || set["no-new-privs"] {
		return usage("capability options are not available yet")
	}
	return nil
}

// applyNS PLACEHOLDER until the nsjail package lands.
func (c *Common) applyNS(s *launch.Spec, set map[string]bool) error {
	if set["unshare"] || set["hostname"] {
		return usage("namespace options are not available yet")
	}
	return nil
}

// applyProfile PLACEHOLDER until the profiles package lands.
func applyProfile(s *launch.Spec, name string) error {
	if name != "" {
		return usage("--profile is not available yet")
	}
	return nil
}

// ShowCmd is `capcon show [PID]`. PLACEHOLDER until the caps package lands.
type ShowCmd struct {
	PID  int  `arg:"" optional:"" help:"Process to decode (default: capcon itself)."`
	JSON bool `name:"json" help:"Print JSON."`
}

// Run prints the sets.
func (c *ShowCmd) Run(tool string) int {
	return Exit(tool, usage("show is not available yet"))
}
