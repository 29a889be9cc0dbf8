package registry

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"rcon/cgroupfs"
)

// The other record tests use directories outside the cgroup hierarchies.
func TestMain(m *testing.M) {
	recordCheck = func(*Record, string) error { return nil }
	os.Exit(m.Run())
}

func TestCheckRecordRefusesForeignPaths(t *testing.T) {
	v := cgroupfs.Detect()
	root := cgroupfs.Mountpoint
	if v == cgroupfs.V1 {
		root = filepath.Join(cgroupfs.Mountpoint, "memory")
	}
	if _, err := os.Stat(root); err != nil {
		t.Skip("no cgroup hierarchy mounted")
	}
	file := "/state/cgi-A.json"
	proj := filepath.Join(root, cgroupfs.ProjectParent)
	if v == cgroupfs.V1 {
		proj = filepath.Join(root, "user.slice", cgroupfs.ProjectParent)
	}
	good := []Record{
		{Name: "cgi-A", Version: v, Paths: []string{filepath.Join(proj, "cgi-A")}},
		{Name: "cgi-A", Version: v, Parent: "/apache-cgi", Paths: []string{filepath.Join(root, "apache-cgi", "cgi-A")}},
		{Name: "cgi-A", Version: v, Parent: "jobs", Paths: []string{filepath.Join(root, "a", "jobs", "cgi-A")}},
		{Name: "cgi-A", Version: v}, // no directory at all
	}
	for _, rec := range good {
		if err := checkRecord(&rec, file); err != nil {
			t.Errorf("%+v: %v", rec, err)
		}
	}
	bad := map[string]Record{
		"other name":        {Name: "cgi-B", Version: v, Paths: []string{filepath.Join(proj, "cgi-B")}},
		"other leaf":        {Name: "cgi-A", Version: v, Paths: []string{filepath.Join(proj, "cgi-B")}},
		"dot-dot":           {Name: "cgi-A", Version: v, Paths: []string{proj + "/../../x/cgi-A"}},
		"outside cgroupfs":  {Name: "cgi-A", Version: v, Paths: []string{"/tmp/rcon/cgi-A"}},
		"not the project's": {Name: "cgi-A", Version: v, Paths: []string{filepath.Join(root, "tenantB", "cgi-A")}},
		"other parent":      {Name: "cgi-A", Version: v, Parent: "/apache-cgi", Paths: []string{filepath.Join(root, "apache-cgi", "B", "cgi-A")}},
		"parent dot-dot":    {Name: "cgi-A", Version: v, Parent: "../x", Paths: []string{filepath.Join(root, "x", "cgi-A")}},
		"other version":     {Name: "cgi-A", Version: 3 - v, Paths: []string{filepath.Join(proj, "cgi-A")}},
		"made parent":       {Name: "cgi-A", Version: v, Paths: []string{filepath.Join(proj, "cgi-A")}, MadeParents: []string{"/sys/fs/cgroup/x/cgi-A"}},
	}
	for what, rec := range bad {
		if err := checkRecord(&rec, file); !errors.Is(err, errRecordRefused) {
			t.Errorf("%s: %+v: %v, want it refused", what, rec, err)
		}
	}
}
