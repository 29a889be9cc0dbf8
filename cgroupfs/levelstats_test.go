package cgroupfs

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLevelStats(t *testing.T) {
	dir := t.TempDir()
	if _, ok := LevelStats(filepath.Join(dir, "gone")); ok {
		t.Errorf("a missing group read as ok")
	}
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cpu.stat", "usage_usec 100\nnr_periods 32\nnr_throttled 31\nthrottled_usec 2460000\n")
	write("io.stat", "254:16 rbytes=90112 wbytes=0 rios=3 wios=0 dbytes=0 dios=0\n254:0 rbytes=2097152 wbytes=4096 rios=32 wios=1 dbytes=0 dios=0\n")
	s, ok := LevelStats(dir)
	if !ok || s.NrPeriods != 32 || s.NrThrottled != 31 || s.ThrottledNS != 2460000000 || s.IOReadBytes != 90112+2097152 || s.IOWriteBytes != 4096 {
		t.Errorf("LevelStats = %+v, %v", s, ok)
	}
}
