package integration

import (
	"os"
	"os/exec"
	"testing"
)

// inCI reports whether the tests run in CI, where .ci/run installs every
// Debian package they use: there a missing program is a broken CI setup
// that would otherwise pass as a skip, so tests fail instead.
func inCI() bool { return os.Getenv("CI") == "true" }

// needProgram returns the path of name, which Debian package pkg provides.
// Without it the test is skipped, saying what to install; in CI it fails.
func needProgram(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if inCI() {
		t.Fatalf("%s not installed, and CI=true: .ci/run installs %s", name, pkg)
	}
	t.Skipf("%s not installed (Debian: apt-get install %s)", name, pkg)
	return ""
}
