package launch

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rcon/cgroupfs"
	"rcon/spec"
)

// --stats is read by people: sizes come out as 72.0M, not 73756K (issue
// 13), while --stats-json keeps the exact bytes for programs.
func TestStatsSizesHumanTextExactJSON(t *testing.T) {
	r := &Report{
		job:   newJob(&spec.Spec{Argv: []string{"make"}, Resources: cgroupfs.Resources{Mem: 500 << 20}}),
		Wall:  2 * time.Second,
		Stats: cgroupfs.Stats{MemPeak: 73756 << 10, IOReadBytes: 3<<30 + 1<<29, IOWriteBytes: 4096},
	}
	var b bytes.Buffer
	r.writeText(&b)
	for _, want := range []string{"peak 72.0M of 500M,", "read 3.5G, write 4K\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("--stats text lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "73756K") {
		t.Errorf("--stats still prints 73756K:\n%s", b.String())
	}

	f, err := os.Create(filepath.Join(t.TempDir(), "stats.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := r.writeJSON(f); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Stats struct {
			MemPeak uint64 `json:"mem_peak_bytes"`
		} `json:"stats"`
		Limits struct {
			Mem int64 `json:"mem"`
		} `json:"limits"`
	}
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	if j.Stats.MemPeak != 73756<<10 || j.Limits.Mem != 500<<20 {
		t.Errorf("--stats-json bytes: peak %d, limit %d; want %d, %d", j.Stats.MemPeak, j.Limits.Mem, 73756<<10, 500<<20)
	}
}
