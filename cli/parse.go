package cli

import (
	"io"
	"reflect"
	"strings"

	"github.com/alecthomas/kong"
)

// Parse parses args against the whole CLI, whole (a struct of commands),
// except for a plain run, the case every wrapped command pays for: that is
// parsed against run, the run command's own struct, alone. Building kong's
// model of every subcommand costs about a millisecond more
// (BenchmarkParse in cmd/rcon), as much as rcon's own cgroup work.
//
// A run is taken as plain when nothing before "--" is a subcommand's name
// (read from whole's `cmd` fields) or asks for help; anything else, and a
// plain run that does not parse, goes to the whole CLI, which decides,
// reports and prints usage itself. For a plain run the
// context's Command() names no subcommand (it is "" or the positional's
// "<command>").
//
// command returns the run's command as parsed. Alone, the run command
// takes an unknown flag for the start of the command (`rcon --bogus --
// true` would run "--bogus"); the whole CLI refuses it, so such a parse
// goes to the whole CLI too.
func Parse(args []string, whole, run any, command func() []string, name string, opts ...kong.Option) (*kong.Context, error) {
	if plainRun(args, subcommands(whole)) {
		if ctx, ok := parseRun(args, run, command, name); ok {
			return ctx, nil
		}
		// What the run-only parse wrote is not to leak into this one.
		reflect.ValueOf(run).Elem().SetZero()
	}
	p, err := kong.New(whole, append([]kong.Option{kong.Name(name)}, opts...)...)
	if err != nil {
		return nil, err
	}
	return p.Parse(args)
}

// subcommands names whole's commands other than the default one, as kong
// does: the name tag, else the field's name in lower case.
func subcommands(whole any) []string {
	var out []string
	t := reflect.TypeOf(whole).Elem()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if _, ok := f.Tag.Lookup("cmd"); !ok || f.Tag.Get("default") != "" {
			continue
		}
		n := f.Tag.Get("name")
		if n == "" {
			n = strings.ToLower(f.Name)
		}
		out = append(out, n)
	}
	return out
}

func plainRun(args, subcommands []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return true
		case "-h", "--help", "help":
			return false
		}
		for _, c := range subcommands {
			if a == c {
				return false
			}
		}
	}
	return true
}

// helpWanted is what the run-only parse's exit hook panics with: help
// asked for in a form plainRun does not see ("-h0", "--help=1") is left
// to the whole CLI, which prints it and exits as the caller set up.
type helpWanted struct{}

// parseRun is the run-only parse; ok is false when the whole CLI must
// decide instead.
func parseRun(args []string, run any, command func() []string, name string) (ctx *kong.Context, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, help := r.(helpWanted); !help {
				panic(r)
			}
			ctx, ok = nil, false
		}
	}()
	p, err := kong.New(run, kong.Name(name), kong.Writers(io.Discard, io.Discard),
		kong.Exit(func(int) { panic(helpWanted{}) }))
	if err != nil {
		return nil, false
	}
	ctx, err = p.Parse(args)
	if c := command(); err == nil && (len(c) == 0 || c[0] == "--" || !strings.HasPrefix(c[0], "-")) {
		return ctx, true
	}
	return nil, false
}
