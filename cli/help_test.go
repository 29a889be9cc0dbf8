package cli

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"rcon/shellcomp"
)

// testApp is the shape of cmd/rcon's CLI: a default run, subcommands.
type testApp struct {
	Version VersionFlag `name:"version" help:"Print the version."`
	Run     testRun     `cmd:"" default:"withargs" help:"Run a command under limits."`
	Set     SetCmd      `cmd:"" name:"set" help:"Change the limits of a live group."`
	Profile ProfileCmd  `cmd:"" name:"profile" help:"Check or show TOML profiles."`
}

// help runs args against testApp and returns what it printed and the
// exit status kong asked for.
func help(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	status := -1
	var app testApp
	opts := append(HelpOptions("[flags] -- COMMAND [ARGS...]"), kong.Name("rcon"), kong.Writers(&out, &out),
		kong.Exit(func(s int) { status = s; panic(exited{}) }))
	k, err := kong.New(&app, opts...)
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(exited); !ok {
					panic(r)
				}
			}
		}()
		_, _ = k.Parse(args)
	}()
	return out.String(), status
}

type exited struct{}

// rcon --help leads with the run: its usage, then its flags under the
// group headings in the order of HelpGroups, then the subcommands, one
// line each.
func TestTopHelpShowsTheRunGroupedThenCommands(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		out, status := help(t, arg)
		if status != 0 {
			t.Fatalf("%s: exit %d", arg, status)
		}
		if !strings.HasPrefix(out, "Usage:\n  rcon [flags] -- COMMAND [ARGS...]\n") {
			t.Errorf("%s: does not start with the run's usage:\n%s", arg, out)
		}
		var at []int
		for _, h := range []string{"Limits:", "Group:", "Identity and capabilities:", "Namespaces and mounts:", "Output:", "Commands:"} {
			i := strings.Index(out, "\n"+h+"\n")
			if i < 0 {
				t.Fatalf("%s: no %q heading:\n%s", arg, h, out)
			}
			at = append(at, i)
		}
		for i := 1; i < len(at); i++ {
			if at[i] < at[i-1] {
				t.Errorf("%s: headings out of order at %d:\n%s", arg, i, out)
			}
		}
		limits := out[at[0]:at[1]]
		for _, f := range []string{"--cpu=PCT", "--mem=SIZE", "--pids=N"} {
			if !strings.Contains(limits, f) {
				t.Errorf("%s: %s not under Limits:\n%s", arg, f, limits)
			}
		}
		if !strings.Contains(out[at[4]:at[5]], "--stats-json=FILE") {
			t.Errorf("%s: --stats-json not under Output", arg)
		}
		cmds := out[at[5]:]
		if !regexp.MustCompile(`\n  set <name> \[flags\] +Change the limits`).MatchString(cmds) ||
			!strings.Contains(cmds, "profile show <name>") {
			t.Errorf("%s: subcommands not listed one a line:\n%s", arg, cmds)
		}
	}
}

// A subcommand's help stays kong's, about that subcommand.
func TestSubcommandHelpIsItsOwn(t *testing.T) {
	out, status := help(t, "set", "--help")
	if status != 0 || !strings.HasPrefix(out, "Usage: rcon set <name> [flags]") || strings.Contains(out, "Commands:") {
		t.Errorf("rcon set --help (exit %d):\n%s", status, out)
	}
}

func TestVersionFlag(t *testing.T) {
	out, status := help(t, "--version")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if status != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "rcon ") ||
		!strings.HasPrefix(lines[1], "go1.") || !regexp.MustCompile(`^cgroup: (v1|v2|none) `).MatchString(lines[2]) {
		t.Errorf("rcon --version (exit %d):\n%s", status, out)
	}
	old := version
	version = "v9.9.9-test"
	defer func() { version = old }()
	if v := Version(); v != "v9.9.9-test" {
		t.Errorf("Version() = %q, want the -X stamp", v)
	}
}

// Every flag of a run is under a heading but the few general ones, so a
// new flag cannot fall out of --help's groups unnoticed; and the
// completion maps name only flags and commands that exist.
func TestEveryRunFlagHasAGroup(t *testing.T) {
	general := map[string]bool{"help": true, "version": true, "profile": true, "command": true}
	var app testApp
	k, err := kong.New(&app, kong.Name("rcon"))
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string]bool{}
	paths := map[string]bool{}
	_ = kong.Visit(k.Model, func(n kong.Visitable, next kong.Next) error {
		switch n := n.(type) {
		case *kong.Flag:
			flags[n.Name] = true
		case *kong.Node:
			paths[n.Path()] = true
		}
		return next(nil)
	})
	for _, fs := range DefaultCommand(k.Model.Node).AllFlags(true) {
		for _, f := range fs {
			if _, ok := FlagGroups[f.Name]; !ok && !general[f.Name] {
				t.Errorf("--%s has no FlagGroups heading", f.Name)
			}
		}
	}
	for f, g := range FlagGroups {
		if !flags[f] {
			t.Errorf("FlagGroups names --%s, which no command has", f)
		}
		if !slices.ContainsFunc(HelpGroups, func(h kong.Group) bool { return h.Key == g }) {
			t.Errorf("FlagGroups puts --%s under %q, no HelpGroups key", f, g)
		}
	}
	for key := range FlagPredictors {
		f := key[strings.LastIndexByte(key, ' ')+1:]
		if !flags[f] {
			t.Errorf("FlagPredictors names --%s, which no command has", f)
		}
	}
	paths["attach"], paths["show"] = true, true // rcon's attach, capcon's show: not in testApp
	for p := range ArgPredictors {
		if !paths[p] {
			t.Errorf("ArgPredictors names command %q, which testApp lacks", p)
		}
	}
	// And every predictor name is a real one.
	if _, err := shellcomp.Command(k, FlagPredictors, ArgPredictors); err != nil {
		t.Error(err)
	}
}
