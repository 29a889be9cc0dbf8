package main

import (
	"testing"

	"github.com/alecthomas/kong"

	"rcon/cli"
)

// BenchmarkParse is what every wrapped command pays for the flag parser
// before rcon does anything: building kong's model and parsing a typical
// run, against the whole CLI and as cli.Parse does it (the run alone).
func BenchmarkParse(b *testing.B) {
	args := []string{"--cpu", "50", "--mem", "200M", "--pids", "100", "--", "/bin/true"}
	b.Run("whole", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			a := app
			p, err := kong.New(&a, kong.Name("rcon"))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.Parse(args); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cli.Parse", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			a := app
			if _, err := cli.Parse(args, &a, &a.Run, func() []string { return a.Run.Args }, "rcon"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
