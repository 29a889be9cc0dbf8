// Command rcon runs a command in a fresh cgroup with CPU, memory, pids and
// I/O limits, reports how it went and removes the group.
package main

import (
	"os"

	"github.com/alecthomas/kong"

	"rcon/cli"
	"rcon/launch"
)

type runCmd struct {
	cli.Limits `embed:""`
	cli.Group  `embed:""`
	cli.Common `embed:""`
}

type gcCmd struct {
	Kill bool `help:"Also end the processes still running in orphaned groups."`
}

type psCmd struct {
	JSON bool `name:"json" help:"Print JSON."`
}

// usage is the run's synopsis in --help and the man page.
var usage = []string{"[flags] -- COMMAND [ARGS...]", `[flags] --command "SHELL COMMAND"`}

var app struct {
	Version cli.VersionFlag `name:"version" help:"Print the version, the Go version and the cgroup mode detected, and exit."`
	Run     runCmd          `cmd:"" default:"withargs" help:"Run a command under limits (the default: rcon [flags] -- COMMAND)."`
	GC      gcCmd           `cmd:"" name:"gc" help:"Remove groups left by rcon runs that were killed."`
	PS      psCmd           `cmd:"" name:"ps" help:"List the groups rcon runs now, with usage."`
	Attach  cli.AttachCmd   `cmd:"" name:"attach" help:"Move running processes (all their threads) into a new or named group and return."`
	Set     cli.SetCmd      `cmd:"" name:"set" help:"Change the limits of a live group (own or shared)."`
	Profile cli.ProfileCmd  `cmd:"" name:"profile" help:"Check or show TOML profiles."`
}

func main() {
	launch.RefuseSetID("rcon")
	launch.MaybeHold()
	launch.MaybeInit()
	launch.CloseInheritedFDs()
	opts := append(cli.HelpOptions(usage...),
		kong.Description("Run a command in a fresh cgroup with CPU, memory, pids and I/O limits."),
		kong.UsageOnError())
	if status, ok := cli.Hidden("rcon", os.Args[1:], &app, usage, opts...); ok {
		os.Exit(status)
	}
	ctx, err := cli.Parse(os.Args[1:], &app, &app.Run, func() []string { return app.Run.Args }, "rcon", opts...)
	if err != nil {
		os.Exit(launch.Exit("rcon", err))
	}
	switch ctx.Command() {
	case "gc":
		os.Exit(cli.GC("rcon", app.GC.Kill))
	case "ps":
		os.Exit(cli.PS("rcon", app.PS.JSON))
	case "attach <pid>":
		os.Exit(app.Attach.Run("rcon", ctx))
	case "set <name>":
		os.Exit(app.Set.Run("rcon", ctx))
	case "profile check <files>", "profile show <name>", "profile export <name>", "profile export <name> <command>":
		os.Exit(app.Profile.Run("rcon", ctx.Command()))
	}
	s, err := cli.Spec("rcon", ctx, &app.Run.Common, &app.Run.Limits, &app.Run.Group)
	if err != nil {
		os.Exit(cli.Exit("rcon", err))
	}
	os.Exit(launch.Run(s))
}
