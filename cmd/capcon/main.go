// Command capcon runs a command with only the Linux capabilities it
// needs, optionally as another user.
package main

import (
	"os"
	"strings"

	"github.com/alecthomas/kong"

	"rcon/cli"
	"rcon/launch"
)

type runCmd struct {
	cli.Common `embed:""`
}

// usage is the run's synopsis in --help and the man page.
var usage = []string{"[flags] -- COMMAND [ARGS...]", `[flags] --command "SHELL COMMAND"`}

var app struct {
	Version cli.VersionFlag `name:"version" help:"Print the version, the Go version and the cgroup mode detected, and exit."`
	Run     runCmd          `cmd:"" default:"withargs" help:"Run a command with pruned capabilities (the default: capcon [flags] -- COMMAND)."`
	Show    cli.ShowCmd     `cmd:"" name:"show" help:"Decode the capability sets of a process (default: what capcon starts from)."`
	Profile cli.ProfileCmd  `cmd:"" name:"profile" help:"Check, show or export TOML profiles."`
}

func main() {
	launch.RefuseSetID("capcon")
	launch.MaybeInit()
	launch.CloseInheritedFDs()
	opts := append(cli.HelpOptions(usage...),
		kong.Description("Run a command with only the Linux capabilities it needs."),
		kong.UsageOnError())
	if status, ok := cli.Hidden("capcon", os.Args[1:], &app, usage, opts...); ok {
		os.Exit(status)
	}
	ctx, err := cli.Parse(os.Args[1:], &app, &app.Run, func() []string { return app.Run.Args }, "capcon", opts...)
	if err != nil {
		os.Exit(launch.Exit("capcon", err))
	}
	if ctx.Command() == "show" || ctx.Command() == "show <pid>" {
		os.Exit(app.Show.Run("capcon"))
	}
	if strings.HasPrefix(ctx.Command(), "profile ") {
		os.Exit(app.Profile.Run("capcon", ctx.Command()))
	}
	s, err := cli.Spec("capcon", ctx, &app.Run.Common, nil, nil)
	if err != nil {
		os.Exit(cli.Exit("capcon", err))
	}
	os.Exit(launch.Run(s))
}
