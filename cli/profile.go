package cli

import (
	"fmt"
	"os"
	"strings"

	"rcon/launch"
	"rcon/profiles"
	"rcon/spec"
)

// profileLayer loads the profile named by --profile (none: an empty
// layer). Any problem with it is bad input: exit 125 before anything is
// created.
func profileLayer(name string) (spec.Layer, error) {
	if name == "" {
		return spec.Layer{}, nil
	}
	p, err := profiles.Load(name)
	if err != nil {
		return spec.Layer{}, usage("--profile: %v", err)
	}
	l, err := p.Layer()
	if err != nil {
		return spec.Layer{}, usage("--profile: %v", err)
	}
	return l, nil
}

// ProfileCmd is `rcon profile check FILES...` and `rcon profile show NAME`.
type ProfileCmd struct {
	Check struct {
		Files []string `arg:"" help:"Profile names or files to validate."`
	} `cmd:"" help:"Validate profiles and print their effective settings."`
	Show struct {
		Name string `arg:"" help:"Profile name or file."`
	} `cmd:"" help:"Print a profile merged with its includes, as TOML."`
	Export ExportCmd `cmd:"" help:"Print a profile as a systemd unit, OCI config.json, Kubernetes container, Nomad task or Slurm #SBATCH lines."`
}

// Run validates (check) or prints (show) profiles. check goes on past a
// bad file so one run reports them all.
func (c *ProfileCmd) Run(tool, sub string) int {
	if strings.HasPrefix(sub, "profile export") {
		return c.Export.Run(tool)
	}
	names := c.Check.Files
	if strings.HasPrefix(sub, "profile show") {
		names = []string{c.Show.Name}
	}
	status := 0
	for _, n := range names {
		p, err := profiles.Load(n)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", tool, err)
			status = launch.ExitFailure
			continue
		}
		if len(names) > 1 || strings.HasPrefix(sub, "profile check") {
			fmt.Printf("# %s: ok\n", p.Path)
		}
		fmt.Print(p.TOML())
	}
	return status
}
