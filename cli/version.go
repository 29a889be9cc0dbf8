package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/alecthomas/kong"

	"rcon/cgroupfs"
)

// version is stamped by the Makefile (-ldflags -X rcon/cli.version=...)
// from `git describe --always --dirty`. Empty in a plain `go build` or
// `go install`, where the build info's VCS stamp stands in for it.
var version string

// Version is the version of this build: the Makefile's stamp, else the
// module version `go install mod@vX` records, else the commit the go
// command stamped when building in a checkout, else "unknown".
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "unknown"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return rev + dirty
}

// VersionText is what --version prints. The cgroup mode is detected only
// here, when asked, so a plain run pays nothing for it.
func VersionText(tool string) string {
	return fmt.Sprintf("%s %s\n%s %s/%s\ncgroup: %s\n", tool, Version(),
		runtime.Version(), runtime.GOOS, runtime.GOARCH, cgroupfs.ModeName())
}

// VersionFlag is --version. It acts before kong checks the rest of the
// command line, so `rcon --version` needs no command after it.
type VersionFlag bool

// BeforeReset prints the version and exits 0.
func (VersionFlag) BeforeReset(app *kong.Kong) error {
	fmt.Fprint(app.Stdout, VersionText(app.Model.Name))
	app.Exit(0)
	return nil
}
