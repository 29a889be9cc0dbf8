package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestStatsJSONNotRedirectedByCommand performs the attack of issue 11,
// hole 3: the command, run as nobody, owns the directory of the
// --stats-json file and replaces the file with a symlink to a file of
// root's before rcon writes the stats. rcon used to open the path only
// then, as root, and overwrote the victim. Now the file is opened before
// the command starts and written through that descriptor.
func TestStatsJSONNotRedirectedByCommand(t *testing.T) {
	needRoot(t)
	dir := filepath.Join(publicDir(t), "st")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "victim")
	const content = "root's own\n"
	if err := os.WriteFile(victim, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	stats := filepath.Join(dir, "r.json")
	// The command also lists its open files: the stats file's descriptor
	// must not reach it.
	r := rcon(t, "--user", "65534", "--stats-json", stats, "--", "sh", "-c",
		`ln -sf "$1" "$2" && for f in /proc/$$/fd/*; do readlink "$f"; done; true`, "sh", victim, stats)
	if r.Code != 0 {
		t.Fatalf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	if got, err := os.ReadFile(victim); err != nil || string(got) != content {
		t.Errorf("victim changed through the symlink the command left: %q (%v)", got, err)
	}
	if fi, err := os.Lstat(stats); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the attack did not take place: %s is %v (%v)", stats, fi.Mode(), err)
	}
	if strings.Contains(r.Stdout, "r.json") {
		t.Errorf("the command held the stats file open: %q", r.Stdout)
	}
	if strings.Contains(r.Stderr, "--stats-json") {
		t.Errorf("writing the stats failed: %q", r.Stderr)
	}
}

// TestStatsJSONUnopenableRefusedBeforeRun: a --stats-json path that cannot
// be opened, or that is a symlink, is bad input: 125 naming the flag
// before anything runs (it used to run the command and fail at the end
// with status 0), and a symlink's target is never written.
func TestStatsJSONUnopenableRefusedBeforeRun(t *testing.T) {
	needRoot(t)
	tmp := t.TempDir()
	victim := filepath.Join(tmp, "victim")
	const content = "root's own\n"
	if err := os.WriteFile(victim, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(tmp, "link.json")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/nonexistent/dir/x.json", link} {
		marker := filepath.Join(tmp, "ran")
		r := rcon(t, "--name", "rcontest-statsjson", "--stats-json", path, "--", "touch", marker)
		if r.Code != 125 || !strings.HasPrefix(r.Stderr, "rcon: --stats-json") {
			t.Errorf("--stats-json %s: exit %d, stderr %q; want 125 naming the flag", path, r.Code, r.Stderr)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("--stats-json %s: the command ran", path)
			os.Remove(marker)
		}
		if left := findGroups("rcontest-statsjson"); len(left) > 0 {
			t.Errorf("groups left: %v", left)
			for _, d := range left {
				killAndRemove(d)
			}
		}
		stateEmpty(t)
	}
	if got, err := os.ReadFile(victim); err != nil || string(got) != content {
		t.Errorf("a symlink's target was written: %q (%v)", got, err)
	}
}

// A cron job's --stats-json file keeps its history: each run appends one
// JSON object on a line of its own. "-" writes that line to standard
// error, leaving standard output to the command.
func TestStatsJSONAppendsOneLinePerRun(t *testing.T) {
	needRoot(t)
	file := filepath.Join(t.TempDir(), "history.jsonl")
	for _, code := range []string{"3", "5"} {
		if r := rcon(t, "--stats-json", file, "--", "sh", "-c", "exit "+code); strconv.Itoa(r.Code) != code {
			t.Fatalf("run exiting %s: exit %d, stderr %q", code, r.Code, r.Stderr)
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines after two runs, want 2:\n%s", len(lines), data)
	}
	for i, want := range []int{3, 5} {
		var j struct {
			Status int `json:"status"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &j); err != nil || j.Status != want {
			t.Errorf("line %d %q: status %d, %v; want %d", i+1, lines[i], j.Status, err, want)
		}
	}
	r := rcon(t, "--stats-json", "-", "--", "echo", "out")
	if r.Code != 0 || r.Stdout != "out\n" {
		t.Fatalf("--stats-json -: exit %d, stdout %q", r.Code, r.Stdout)
	}
	var j struct {
		Command []string `json:"command"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.Stderr)), &j); err != nil || len(j.Command) != 2 {
		t.Errorf("--stats-json - wrote %q to stderr, want one JSON line naming the command (%v)", r.Stderr, err)
	}
}
