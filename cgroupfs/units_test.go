package cgroupfs

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"500M": 500 << 20, "2G": 2 << 30, "64k": 64 << 10, "1T": 1 << 40, "4096": 4096,
		"1.5G": 3 << 29, "500MiB": 500 << 20, "1GB": 1 << 30, "0": 0, " 10M ": 10 << 20,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "10Q", "M", "-5M", "1e9", "0x10", "NaN", "1_000", "99999999T"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestFormatSizeRoundTrips(t *testing.T) {
	for _, n := range []int64{0, 1, 1023, 1024, 500 << 20, 3 << 29, 1 << 40} {
		s := FormatSize(n)
		back, err := ParseSize(s)
		if err != nil {
			t.Fatalf("FormatSize(%d) = %q does not parse: %v", n, s, err)
		}
		// Inexact sizes print with one decimal; exact ones must round-trip.
		if n%1024 == 0 && back != n {
			t.Errorf("FormatSize(%d) = %q parses back as %d", n, s, back)
		}
	}
}

func TestParseIOLimit(t *testing.T) {
	l, err := ParseIOLimit(WriteBPS, "8:16:10M")
	if err != nil || l != (IOLimit{Major: 8, Minor: 16, Kind: WriteBPS, Rate: 10 << 20}) {
		t.Errorf("8:16:10M = %+v, %v", l, err)
	}
	l, err = ParseIOLimit(ReadIOPS, "253:0:500")
	if err != nil || l.Rate != 500 || l.Major != 253 {
		t.Errorf("253:0:500 = %+v, %v", l, err)
	}
	for _, bad := range []string{"8:0", "/dev/null:1M", "/no/such:1M", "8:0:1X", "8:0:0", "x:y:1M"} {
		if _, err := ParseIOLimit(ReadBPS, bad); err == nil {
			t.Errorf("ParseIOLimit(%q): want an error", bad)
		}
	}
	if _, err := ParseIOLimit(ReadIOPS, "8:0:1M"); err == nil || !strings.Contains(err.Error(), "IOPS") {
		t.Errorf("IOPS with a size suffix: %v", err)
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"a", "rcon-1-2", "cgi.alice", "A_b"} {
		if err := ValidName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../x", "a/b", ".hidden", "-x", strings.Repeat("a", 101), "a b"} {
		if ValidName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0B", 512: "512B", 1023: "1023B", 1024: "1K", 73756 << 10: "72.0M",
		500 << 20: "500M", 3 << 29: "1.5G", 1<<20 - 1: "1.0M", 1<<40 + 1<<39: "1.5T",
		1536: "1.5K", 5 << 40: "5T", 2000 << 40: "2000T", -(2 << 20): "-2M",
	} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", n, got, want)
		}
	}
	// What it prints parses back within the rounding of one decimal.
	for _, n := range []int64{1, 1000, 1 << 10, 73756 << 10, 1<<30 + 12345, 7 << 40} {
		s := HumanSize(n)
		back, err := ParseSize(s)
		if err != nil {
			t.Fatalf("HumanSize(%d) = %q does not parse: %v", n, s, err)
		}
		if d := float64(back-n) / float64(n); d > 0.05 || d < -0.05 {
			t.Errorf("HumanSize(%d) = %q parses back as %d", n, s, back)
		}
	}
}
