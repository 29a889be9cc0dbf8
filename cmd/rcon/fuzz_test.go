package main

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"rcon/cli"
	"rcon/launch"
)

// exitCalled is what kong's exit hook panics with here, so help output
// (which ends the real tool with status 0) does not end the fuzzer.
type exitCalled struct{ code int }

// FuzzParseSpec feeds arbitrary command lines (arguments split at NUL) to
// rcon's flag parser and the Spec built from it, as main does up to
// launch.Run. It must not panic; an error must be one the tool reports
// with a message and status 125; and the parse must not touch cgroups or
// state: it never calls into launch.Run or a subcommand, and the state
// directory it is given stays empty.
func FuzzParseSpec(f *testing.F) {
	for _, seed := range []string{
		"--cpu\x0050\x00--mem\x00200M\x00--pids\x00100\x00--\x00/bin/true",
		"--cpu\x001e17\x00--\x00true",
		"--cpu\x00NaN\x00--\x00true",
		"--cpu\x000.5\x00--cpu-period\x00200000\x00--\x00true",
		"--cpu-weight\x0010000\x00--cpuset\x000-1\x00--\x00true",
		"--mem\x0099999999T\x00--\x00true",
		"--mem-high\x001G\x00--swap\x000\x00--mem\x001G\x00--\x00true",
		"--io-read-bps\x008:0:20M\x00--io-write-iops\x008:0:500\x00--\x00true",
		"--read\x0010M\x00--dev\x008:0\x00--\x00true",
		"--name\x00job\x00--stats-json\x00/tmp/x.json\x00--\x00true",
		"--shared\x00cgi-a\x00--update\x00--cpu\x0050\x00--\x00true",
		"--user\x00nobody\x00--keep\x00net_bind_service\x00--\x00id",
		"--unshare\x00pid,mount\x00--tmpfs\x00/tmp\x00--ro-bind\x00/usr\x00--\x00sh",
		"--command\x00echo hi",
		"--profile\x00/nonexistent.toml\x00--\x00true",
		"set\x00job\x00--cpu\x0010",
		"attach\x00--cpu\x0010\x001",
		"ps\x00--json",
		"--help",
		"--bogus\x00--\x00true",
	} {
		f.Add(seed)
	}
	state := f.TempDir()
	os.Setenv("RCON_STATE_DIR", state)
	os.Setenv("RCON_PROFILE_PATH", f.TempDir())
	os.Unsetenv("RCON_PARENT")
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, "\x00")
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(exitCalled); !ok {
					panic(r)
				}
			}
			if ents, _ := os.ReadDir(state); len(ents) > 0 {
				t.Fatalf("%q: the parse wrote state: %v", args, ents)
			}
		}()
		a := app
		ctx, err := cli.Parse(args, &a, &a.Run, func() []string { return a.Run.Args }, "rcon",
			kong.Exit(func(code int) { panic(exitCalled{code}) }), kong.Writers(io.Discard, io.Discard))
		if err != nil {
			checkBadInput(t, args, err)
			return
		}
		if cmd := ctx.Command(); cmd != "" && cmd != "<command>" {
			return // a subcommand: main hands it over without building a Spec
		}
		s, err := cli.Spec("rcon", ctx, &a.Run.Common, &a.Run.Limits, &a.Run.Group)
		if err != nil {
			checkBadInput(t, args, err)
			return
		}
		if len(s.Argv) == 0 {
			t.Fatalf("%q: a Spec without a command", args)
		}
		if err := s.Resources.Check(); err != nil {
			t.Fatalf("%q: a Spec with limits out of bounds: %v", args, err)
		}
	})
}

// checkBadInput checks an error is reported as bad input: a message and
// status 125 (cli.Exit's mapping).
func checkBadInput(t *testing.T, args []string, err error) {
	t.Helper()
	if strings.TrimSpace(err.Error()) == "" {
		t.Fatalf("%q: an error without a message", args)
	}
	var f *launch.Failure
	if errors.As(err, &f) && f.Status != launch.ExitFailure {
		t.Fatalf("%q: bad input reported with status %d: %v", args, f.Status, err)
	}
}
