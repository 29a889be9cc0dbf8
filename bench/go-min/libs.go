//go:build libs

package main

// Built with -tags libs, go-min links (and so initialises) the libraries
// rcon links, and nothing of rcon's own: the floor of any tool made of
// the design card's libraries, before it parses a flag.
import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/alecthomas/kong"
	_ "github.com/containerd/cgroups/v3/cgroup1"
	_ "github.com/containerd/cgroups/v3/cgroup2"
	_ "github.com/coreos/go-systemd/v22/dbus"
	_ "github.com/cyphar/filepath-securejoin/pathrs-lite"
	_ "github.com/syndtr/gocapability/capability"
	_ "github.com/willabides/kongplete"
	_ "go.yaml.in/yaml/v3"
)
