package cli

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"rcon/cgroupfs"
)

// rcon ps's table: the columns of issue 13 in order, aligned, sizes for
// the eye, and "-" where there is no limit or no reading.
func TestPSTable(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rows := []psRow{
		{Name: "nightly-backup", Command: []string{"/usr/local/bin/backup.sh", "--full"},
			Limits: cgroupfs.Resources{Mem: 500 << 20, Pids: 300},
			Stats:  cgroupfs.Stats{MemCurrent: 73756 << 10, PidsCurrent: 12}, created: now.Add(-3*time.Hour - 2*time.Minute)},
		{Name: "cgi-alice", Shared: true, Members: []psMember{{PID: 41, Alive: true}, {PID: 42, Attached: true, Alive: true}},
			Stats: cgroupfs.Stats{MemCurrent: 512}, Procs: 2, created: now.Add(-42 * time.Second)},
		{Name: "rcon-9-1", Orphaned: true, Command: []string{"sleep", "1d"}, created: now.Add(-(50*time.Hour + 5*time.Minute))},
	}
	var b bytes.Buffer
	psTable(&b, rows, map[string]float64{"nightly-backup": 19.96, "cgi-alice": 150}, now)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header and 3 rows:\n%s", b.String())
	}
	want := [][]string{
		{"NAME", "COMMAND", "CPU%", "MEM/LIMIT", "PIDS", "AGE"},
		{"nightly-backup", "/usr/local/bin/backup.sh --full", "20.0", "72.0M/500M", "12/300", "3h02m"},
		{"cgi-alice", "shared: 41 42(attached)", "150.0", "512B/-", "2", "42s"},
		{"rcon-9-1 (orphaned)", "sleep 1d", "-", "0B/-", "0", "2d02h"},
	}
	// Columns are aligned: each starts at the same offset in every line,
	// found as the text after a gap of two or more spaces.
	var starts []int
	for i, l := range lines {
		var cells []string
		var offs []int
		for _, m := range cellRE.FindAllStringIndex(l, -1) {
			cells, offs = append(cells, l[m[0]:m[1]]), append(offs, m[0])
		}
		if strings.Join(cells, "|") != strings.Join(want[i], "|") {
			t.Errorf("line %d: cells %q, want %q", i, cells, want[i])
		}
		if i == 0 {
			starts = offs
		} else if fmt.Sprint(offs) != fmt.Sprint(starts) {
			t.Errorf("line %d: columns at %v, header's at %v:\n%s", i, offs, starts, b.String())
		}
	}
}

// cellRE matches one cell of an aligned table: text whose single spaces
// are its own and which ends before two spaces or the line's end.
var cellRE = regexp.MustCompile(`\S+( \S+)*`)

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 59 * time.Second: "59s", 3*time.Minute + 7*time.Second: "3m07s",
		5*time.Hour + 2*time.Minute: "5h02m", 76 * time.Hour: "3d04h", -time.Second: "-",
		time.Since(time.Time{}): "-",
	} {
		if got := age(d); got != want {
			t.Errorf("age(%v) = %q, want %q", d, got, want)
		}
	}
}
