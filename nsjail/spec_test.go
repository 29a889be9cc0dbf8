package nsjail

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want Spec
	}{
		{nil, Spec{}},
		{[]string{"pid,mount"}, Spec{PID: true, Mount: true}},
		{[]string{"pid", "net", " uts ,"}, Spec{PID: true, Net: true, UTS: true}},
		{[]string{"all"}, Spec{PID: true, Mount: true, Net: true, UTS: true, IPC: true, User: true, Cgroup: true}},
		{[]string{"ipc,user,cgroup"}, Spec{IPC: true, User: true, Cgroup: true}},
		{[]string{"MNT,network"}, Spec{Mount: true, Net: true}},
	} {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseUnknown(t *testing.T) {
	for _, in := range []string{"pid,bogus", "time", "pids"} {
		_, err := Parse([]string{in})
		if err == nil {
			t.Errorf("Parse(%q): no error", in)
			continue
		}
		bad := in[strings.LastIndex(in, ",")+1:]
		if !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("Parse(%q) error %q does not name %q", in, err, bad)
		}
	}
}

func TestNormalizeAndEmpty(t *testing.T) {
	var nilSpec *Spec
	if !nilSpec.Empty() || !(&Spec{}).Empty() {
		t.Error("zero spec not empty")
	}
	s := Spec{Hostname: "box", MapUser: true, Tmpfs: []string{"/tmp"}}
	if s.Empty() {
		t.Error("spec with hostname is empty")
	}
	if err := s.Normalize(); err != nil {
		t.Fatal(err)
	}
	if !s.UTS || !s.User || !s.Mount {
		t.Errorf("implications not applied: %+v", s)
	}
	if got := s.String(); got != "mount,user,uts" {
		t.Errorf("String = %q", got)
	}
	for _, bad := range []Spec{{Tmpfs: []string{"tmp"}}, {Chroot: "rel"}, {Bind: []Bind{{Src: "x"}}},
		{Hostname: strings.Repeat("h", 65)}} {
		if err := bad.Normalize(); err == nil {
			t.Errorf("Normalize(%+v): no error", bad)
		}
	}
}

func TestParseBind(t *testing.T) {
	b, err := ParseBind("/a:/b")
	if err != nil || b != (Bind{"/a", "/b"}) {
		t.Errorf("ParseBind = %+v, %v", b, err)
	}
	b, err = ParseBind("/a")
	if err != nil || b != (Bind{Src: "/a"}) || b.target() != "/a" {
		t.Errorf("ParseBind = %+v, %v", b, err)
	}
	if _, err := ParseBind(":/b"); err == nil {
		t.Error("empty source accepted")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	s := Spec{PID: true, Mount: true, Hostname: "h", RoBind: []Bind{{Src: "/usr"}}}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Spec
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(s, back) {
		t.Errorf("round trip %s -> %+v, %v", data, back, err)
	}
}

func TestCloneFlags(t *testing.T) {
	all, _ := Parse([]string{"all"})
	if all.CloneFlags() != 0x7e020000 {
		t.Errorf("all flags = %#x", all.CloneFlags())
	}
	var nilSpec *Spec
	if nilSpec.CloneFlags() != 0 || nilSpec.NeedsInit() {
		t.Error("nil spec")
	}
	for _, tc := range []struct {
		s    Spec
		init bool
	}{{Spec{PID: true}, true}, {Spec{User: true}, true}, {Spec{Chroot: "/x"}, true},
		{Spec{Net: true, Mount: true, UTS: true, IPC: true, Cgroup: true}, false}} {
		if tc.s.NeedsInit() != tc.init {
			t.Errorf("%+v NeedsInit = %v", tc.s, !tc.init)
		}
	}
}

func TestDenyUserNSProgramBuilds(t *testing.T) {
	prog, err := denyUserNSProgram()
	if err != nil {
		t.Fatal(err)
	}
	// Every path ends in a return: the last instruction is one.
	if len(prog) == 0 || prog[len(prog)-1].Code != 0x06 {
		t.Errorf("program %v does not end in a return", prog)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	if got := unescapeMountinfo(`/a\040b\134c\011`); got != "/a b\\c\t" {
		t.Errorf("got %q", got)
	}
	if got := unescapeMountinfo(`/plain\04`); got != `/plain\04` {
		t.Errorf("short escape: %q", got)
	}
}
