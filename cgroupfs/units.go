package cgroupfs

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Size is a byte count as operators write it ("500M", K/M/G/T binary):
// the one type of the flags (kong takes it as a TextUnmarshaler) and the
// profile keys.
type Size int64

// UnmarshalText parses a size with ParseSize.
func (s *Size) UnmarshalText(text []byte) error {
	n, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}

// ParseSize reads a byte count with an optional binary suffix:
// "500M" = 500 MiB, "2G", "64k", "1T", "4096". A trailing "B"/"iB" is
// accepted ("500MiB", "1GB" = 1 GiB) because operators write both.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	u := strings.ToUpper(t)
	u = strings.TrimSuffix(u, "IB")
	if len(u) > 1 {
		u = strings.TrimSuffix(u, "B")
	}
	mult := int64(1)
	switch u[len(u)-1] {
	case 'K':
		mult = 1 << 10
	case 'M':
		mult = 1 << 20
	case 'G':
		mult = 1 << 30
	case 'T':
		mult = 1 << 40
	}
	if mult != 1 {
		u = u[:len(u)-1]
	}
	if u == "" {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional K, M, G or T suffix", s)
	}
	f, err := strconv.ParseFloat(u, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(u, "eExXpP_") {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional K, M, G or T suffix", s)
	}
	if f < 0 {
		return 0, fmt.Errorf("invalid size %q: must not be negative", s)
	}
	v := f * float64(mult)
	if v > math.MaxInt64/2 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return int64(v), nil
}

// parseDevice turns "/dev/sda", "8:0" into a major/minor pair. A path must
// name a block device.
func parseDevice(dev string) (major, minor int64, err error) {
	if strings.HasPrefix(dev, "/") {
		var st unix.Stat_t
		if err := unix.Stat(dev, &st); err != nil {
			return 0, 0, fmt.Errorf("device %s: %w", dev, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFBLK {
			return 0, 0, fmt.Errorf("device %s: not a block device", dev)
		}
		return int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev))), nil
	}
	ma, mi, ok := strings.Cut(dev, ":")
	if ok {
		a, err1 := strconv.ParseUint(ma, 10, 32)
		b, err2 := strconv.ParseUint(mi, 10, 32)
		if err1 == nil && err2 == nil {
			return int64(a), int64(b), nil
		}
	}
	return 0, 0, fmt.Errorf("device %q: want a block device path or MAJ:MIN", dev)
}

// ParseIOLimit reads "DEV:RATE" (DEV a path or MAJ:MIN). Byte rates take
// size suffixes ("/dev/vda:10M"); IOPS rates are plain numbers.
func ParseIOLimit(kind IOKind, s string) (IOLimit, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return IOLimit{}, fmt.Errorf("invalid I/O limit %q: want DEV:RATE, e.g. /dev/sda:10M or 8:0:10M", s)
	}
	dev, rate := s[:i], s[i+1:]
	l, err := NewIOLimit(kind, dev, rate)
	if err != nil {
		return IOLimit{}, fmt.Errorf("invalid I/O limit %q: %w", s, err)
	}
	return l, nil
}

// NewIOLimit builds a limit from a device and a rate given separately, as
// profiles write them ({ "/dev/sda" = "10M" }).
func NewIOLimit(kind IOKind, dev, rate string) (IOLimit, error) {
	ma, mi, err := parseDevice(dev)
	if err != nil {
		return IOLimit{}, err
	}
	var r int64
	if kind == ReadIOPS || kind == WriteIOPS {
		n, err := strconv.ParseUint(strings.TrimSpace(rate), 10, 63)
		if err != nil {
			return IOLimit{}, fmt.Errorf("invalid IOPS %q: want a whole number", rate)
		}
		r = int64(n)
	} else if r, err = ParseSize(rate); err != nil {
		return IOLimit{}, err
	}
	if r == 0 {
		return IOLimit{}, fmt.Errorf("rate must be above 0")
	}
	return IOLimit{Major: ma, Minor: mi, Kind: kind, Rate: uint64(r)}, nil
}

// FormatSize prints bytes the way ParseSize reads them, exact where possible.
func FormatSize(n int64) string {
	units := []struct {
		s string
		v int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}}
	for _, u := range units {
		if n >= u.v && n%u.v == 0 {
			return strconv.FormatInt(n/u.v, 10) + u.s
		}
	}
	for _, u := range units {
		if n >= u.v {
			return strconv.FormatFloat(float64(n)/float64(u.v), 'f', 1, 64) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
}

// HumanSize prints bytes for people reading --stats and rcon ps: the
// largest binary unit (K, M, G, T) the count reaches, with one decimal
// ("72.0M"), or none when the count is a whole number of that unit
// ("500M", as limits are written). Below 1K it is bytes ("512B"). JSON
// output keeps exact byte counts; this is for the eye only. What it prints
// parses back with ParseSize, to within the rounding of the decimal.
func HumanSize(n int64) string {
	if n < 0 {
		return "-" + HumanSize(-n)
	}
	units := []struct {
		s string
		v int64
	}{{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}}
	if n < units[0].v {
		return strconv.FormatInt(n, 10) + "B"
	}
	i := 0
	for i+1 < len(units) && n >= units[i+1].v {
		i++
	}
	if n%units[i].v == 0 {
		return strconv.FormatInt(n/units[i].v, 10) + units[i].s
	}
	s := strconv.FormatFloat(float64(n)/float64(units[i].v), 'f', 1, 64)
	// 1048575 bytes is 1024.0K once rounded: say 1.0M instead.
	if s == "1024.0" && i+1 < len(units) {
		return "1.0" + units[i+1].s
	}
	return s + units[i].s
}
