package spec

import (
	"reflect"
	"strings"
	"testing"

	"rcon/cgroupfs"
	"rcon/nsjail"
)

func io(kind cgroupfs.IOKind, minor int64, rate uint64) cgroupfs.IOLimit {
	return cgroupfs.IOLimit{Major: 8, Minor: minor, Kind: kind, Rate: rate}
}

func TestOverlayPrecedence(t *testing.T) {
	profile := Layer{
		Argv:   Val([]string{"backup"}, "p.toml"),
		Shared: Val("tenant", "p.toml"),
		User:   Val("backup", "p.toml"),
		Limits: Limits{CPU: Val(20.0, "p.toml"), Mem: Val(int64(100), "p.toml"),
			IO: Val([]cgroupfs.IOLimit{io(cgroupfs.ReadBPS, 0, 1), io(cgroupfs.ReadBPS, 16, 2)}, "p.toml")},
		Keep:     Val([]string{"net_bind_service"}, "p.toml"),
		Unshare:  Val(nsjail.Spec{PID: true, Net: true}, "p.toml"),
		Hostname: Val("box", "p.toml"),
		Tmpfs:    []string{"/tmp"},
	}
	flags := Layer{
		Name:    Val("job", "--name"),
		Limits:  Limits{CPU: Val(50.0, "--cpu"), IO: Val([]cgroupfs.IOLimit{io(cgroupfs.ReadBPS, 0, 9)}, "--io")},
		Drop:    Val([]string{"sys_admin"}, "--drop"),
		Unshare: Val(nsjail.Spec{IPC: true}, "--unshare"),
		Tmpfs:   []string{"/run"},
	}
	got := Overlay(Layer{}, profile, flags)

	if !reflect.DeepEqual(got.Argv.V, []string{"backup"}) || got.User.V != "backup" {
		t.Errorf("unset flags overrode the profile: argv %v user %v", got.Argv, got.User)
	}
	if got.Name.V != "job" || got.Shared.Set {
		t.Errorf("--name did not replace the profile's shared: name %+v shared %+v", got.Name, got.Shared)
	}
	if got.Limits.CPU.V != 50 || got.Limits.CPU.From != "--cpu" || got.Limits.Mem.V != 100 {
		t.Errorf("limits %+v", got.Limits)
	}
	// A flag's throttle of 8:0 replaces the profile's for that device only.
	wantIO := []cgroupfs.IOLimit{io(cgroupfs.ReadBPS, 0, 9), io(cgroupfs.ReadBPS, 16, 2)}
	if !reflect.DeepEqual(got.Limits.IO.V, wantIO) {
		t.Errorf("io %+v, want %+v", got.Limits.IO.V, wantIO)
	}
	if got.Keep.Set || !reflect.DeepEqual(got.Drop.V, []string{"sys_admin"}) {
		t.Errorf("--drop did not replace the profile's keep: keep %+v drop %+v", got.Keep, got.Drop)
	}
	if !reflect.DeepEqual(got.Unshare.V, nsjail.Spec{IPC: true}) || got.Hostname.V != "box" {
		t.Errorf("unshare %+v hostname %+v", got.Unshare, got.Hostname)
	}
	if !reflect.DeepEqual(got.Tmpfs, []string{"/tmp", "/run"}) {
		t.Errorf("tmpfs %v: the flags' mounts add to the profile's", got.Tmpfs)
	}

	// Pure: the layers are as they were, and the result shares nothing
	// a later append or write could reach them through.
	got.Tmpfs[0] = "/changed"
	got.Limits.IO.V[1].Rate = 99
	if profile.Tmpfs[0] != "/tmp" || profile.Limits.IO.V[1].Rate != 2 || flags.Tmpfs[0] != "/run" {
		t.Errorf("Overlay's result shares memory with its layers: %v %v", profile.Tmpfs, profile.Limits.IO.V)
	}
}

func TestBuild(t *testing.T) {
	cmd := Layer{Argv: Val([]string{"true"}, "--")}
	for _, c := range []struct {
		name   string
		tool   string
		layers []Layer
		err    string
		check  func(*Spec) bool
	}{
		{"no command", "rcon", []Layer{{}}, "no command given: rcon [flags] -- COMMAND [ARGS...]", nil},
		{"capcon without limits has no group and sets no_new_privs", "capcon", []Layer{cmd}, "",
			func(s *Spec) bool { return s.NoCgroup && s.Caps != nil && !s.Caps.AllowNewPrivs }},
		{"capcon with a profile's limits has a group", "capcon", []Layer{{Limits: Limits{Mem: Val(int64(1<<20), "p.toml")}}, cmd}, "",
			func(s *Spec) bool { return !s.NoCgroup }},
		{"rcon leaves capabilities alone", "rcon", []Layer{cmd}, "",
			func(s *Spec) bool { return s.Caps == nil && s.NS == nil && !s.NoCgroup }},
		{"--keep none keeps nothing", "rcon", []Layer{cmd, {Keep: Val([]string(nil), "--keep")}}, "",
			func(s *Spec) bool { return s.Caps != nil && s.Caps.KeepSet && s.Caps.Keep != nil }},
		{"--allow-new-privs", "rcon", []Layer{cmd, {NoNewPrivs: Val(false, "--allow-new-privs")}}, "",
			func(s *Spec) bool { return s.Caps != nil && s.Caps.AllowNewPrivs }},
		{"a bind implies a mount namespace", "rcon", []Layer{cmd, {Bind: []nsjail.Bind{{Src: "/srv"}}}}, "",
			func(s *Spec) bool { return s.NS != nil && s.NS.Mount }},
		{"shared and wait-all", "rcon", []Layer{cmd, {Shared: Val("x", "p.toml")}, {WaitAll: Val(true, "--wait-all")}},
			"--shared and --wait-all are exclusive", nil},
		{"update without shared", "rcon", []Layer{cmd, {Update: Val(true, "--update")}}, "--update needs --shared", nil},
		{"unknown capability", "rcon", []Layer{cmd, {Keep: Val([]string{"net_bind_servic"}, "--keep")}}, "net_bind_servic", nil},
		{"relative tmpfs", "rcon", []Layer{cmd, {Tmpfs: []string{"tmp"}}}, `tmpfs "tmp": not an absolute path`, nil},
		{"quota below the minimum, both flags", "rcon", []Layer{cmd, {Limits: Limits{CPU: Val(0.5, "--cpu"), CPUPeriod: Val(uint64(100000), "--cpu-period")}}},
			"--cpu 0.5 with --cpu-period 100000: a quota of 500 µs per 100000 µs period, below the kernel's minimum of 1000 µs", nil},
		{"quota below the minimum, the period from the profile", "rcon", []Layer{cmd,
			{Limits: Limits{CPUPeriod: Val(uint64(10000), "p.toml")}}, {Limits: Limits{CPU: Val(5.0, "--cpu")}}},
			"--cpu 5 with the profile's cpu_period_us = 10000: a quota of 500 µs", nil},
		{"quota below the minimum, the flag is the period", "rcon", []Layer{cmd,
			{Limits: Limits{CPU: Val(1.0, "p.toml")}}, {Limits: Limits{CPUPeriod: Val(uint64(50000), "--cpu-period")}}},
			"--cpu-period 50000 with the profile's cpu = 1: a quota of 500 µs", nil},
		{"quota below the minimum, the default period", "rcon", []Layer{cmd, {Limits: Limits{CPU: Val(0.5, "--cpu")}}},
			"--cpu 0.5 with the default period of 100000 µs", nil},
		{"quota at the minimum", "rcon", []Layer{cmd, {Limits: Limits{CPU: Val(1.0, "--cpu")}}}, "",
			func(s *Spec) bool { return s.Resources.CPUPercent == 1 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Build(c.tool, c.layers...)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(s) {
				t.Errorf("spec %+v caps %+v ns %+v", s, s.Caps, s.NS)
			}
		})
	}
}

// Jail is a copy: what the launcher adds to it does not reach the spec.
func TestJailIsACopy(t *testing.T) {
	s, err := Build("rcon", Layer{Argv: Val([]string{"true"}, "--"), Hostname: Val("box", "--hostname")})
	if err != nil {
		t.Fatal(err)
	}
	j := s.Jail()
	j.PID, j.Hide = true, append(j.Hide, "/x")
	if s.NS.PID || len(s.NS.Hide) != 0 || !s.NS.UTS {
		t.Errorf("spec's namespaces %+v after the jail changed", s.NS)
	}
	if (&Spec{}).Jail() != nil {
		t.Error("a spec without namespaces has a jail")
	}
}

func TestDriverAndSlice(t *testing.T) {
	argv := Val([]string{"true"}, "--")
	for _, c := range []struct {
		l    Layer
		want string // "" = accepted
	}{
		{Layer{Argv: argv, Driver: Val("systemd", "--driver"), Slice: Val("batch.slice", "--slice")}, ""},
		{Layer{Argv: argv, Driver: Val("auto", "--driver")}, ""},
		{Layer{Argv: argv, Slice: Val("batch.slice", "/etc/rcon/profiles/p.toml")}, ""}, // a profile's waits for the driver
		{Layer{Argv: argv, Driver: Val("bogus", "--driver")}, "--driver: unknown driver"},
		{Layer{Argv: argv, Slice: Val("batch.slice", "--slice")}, ""}, // the default may choose a scope
		{Layer{Argv: argv, Driver: Val("cgroupfs", "--driver"), Slice: Val("batch.slice", "--slice")}, "--slice is for the systemd driver"},
		{Layer{Argv: argv, Driver: Val("systemd", "--driver"), Slice: Val("bad", "--slice")}, "--slice: invalid slice"},
		{Layer{Argv: argv, Driver: Val("systemd", "--driver"), Parent: Val("/x", "--parent")}, "--parent names a cgroupfs group"},
	} {
		_, err := Build("rcon", c.l)
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.l, err, c.want)
		}
	}
}
