package procfs

import (
	"os"
	"slices"
	"testing"
)

// The command name (field 2) may hold spaces and parentheses: fields are
// counted from the last ')'.
func TestStatFieldsSkipTheCommandName(t *testing.T) {
	f := StatFields([]byte("42 (a) b (c)) S 7 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 12345 0\n"))
	if len(f) < 20 || f[0] != "S" || f[1] != "7" || f[19] != "12345" {
		t.Fatalf("fields %q", f)
	}
	if StatFields([]byte("garbage")) != nil {
		t.Error("no ')' is not malformed")
	}
}

func TestSelf(t *testing.T) {
	pid := os.Getpid()
	start, state, err := StartAndState(pid)
	if err != nil || start == 0 || state == "" {
		t.Fatalf("StartAndState(self) = %d, %q, %v", start, state, err)
	}
	if ppid, err := Parent(pid); err != nil || ppid != os.Getppid() {
		t.Errorf("Parent(self) = %d, %v, want %d", ppid, err, os.Getppid())
	}
	if nspid, err := NSpid("self"); err != nil || (nspid != nil && len(nspid) == 0) {
		t.Errorf("NSpid(self) = %q, %v", nspid, err)
	}
	if argv, err := Cmdline(pid); err != nil || !slices.Equal(argv, os.Args) {
		t.Errorf("Cmdline(self) = %q, %v, want %q", argv, err, os.Args)
	}
	if uid, err := UID(pid); err != nil || uid != os.Geteuid() {
		t.Errorf("UID(self) = %d, %v, want %d", uid, err, os.Geteuid())
	}
	if _, err := PidNS("self"); err != nil {
		t.Error(err)
	}
}
