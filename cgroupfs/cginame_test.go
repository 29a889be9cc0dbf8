package cgroupfs

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The CGI wrapper (testdata/apache/rcon-cgi-wrapper) names a tenant's
// shared group cgi-TENANT after the script's owner, falling back to the
// uid where rcon would refuse the name. Its shell rule must agree with
// ValidName: every name it makes is valid, and it keeps every owner's name
// that would be (but those that look like its own uid fallback).
func TestCGIWrapperTenantNamesAreValidGroupNames(t *testing.T) {
	data, err := os.ReadFile("../testdata/apache/rcon-cgi-wrapper")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "# tenant-name:")
	end := strings.Index(text, "# tenant-name end")
	if start < 0 || end < start {
		t.Fatal("the wrapper's tenant-name block marks are gone")
	}
	block := text[start:end]
	for _, owner := range []string{
		"alice", "www-data", "first.last", "host$", "first.last@dom", ".hidden", "-dash", "UNKNOWN", "",
		"uid2000", "uidx", "a b", "tab\tname", "ünïcode", strings.Repeat("a", 96), strings.Repeat("a", 97), "a_b-c.d",
	} {
		out, err := exec.Command("sh", "-c", "uid=4242; tenant=$1\n"+block+"printf %s \"$tenant\"", "sh", owner).Output()
		if err != nil {
			t.Fatalf("owner %q: %v", owner, err)
		}
		tenant := string(out)
		if err := ValidName("cgi-" + tenant); err != nil {
			t.Errorf("owner %q: the wrapper's group cgi-%s is refused by rcon: %v", owner, tenant, err)
		}
		keeps := ValidName("cgi-"+owner) == nil && owner != "" && owner != "UNKNOWN" &&
			owner[0] != '.' && owner[0] != '-' && !(strings.HasPrefix(owner, "uid") && owner != "uidx")
		if keeps != (tenant == owner) {
			t.Errorf("owner %q became tenant %q; rcon's rule says the name %s", owner, tenant,
				map[bool]string{true: "could be kept", false: "needs the uid"}[keeps])
		}
	}
}
