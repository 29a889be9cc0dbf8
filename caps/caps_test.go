package caps

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

const netBindService Set = 0x400

func TestParseSet(t *testing.T) {
	tests := []struct {
		in   []string
		want Set
	}{
		{[]string{"net_bind_service"}, netBindService},
		{[]string{"CAP_NET_BIND_SERVICE"}, netBindService},
		{[]string{"Cap_Net_Bind_Service"}, netBindService},
		{[]string{"net-bind-service"}, netBindService},
		{[]string{" net_bind_service "}, netBindService},
		{[]string{"chown,net_bind_service"}, 0x401},
		{[]string{"chown", "cap_net_raw,,kill"}, 1<<0 | 1<<13 | 1<<5},
		{[]string{"none"}, 0},
		{[]string{"NONE"}, 0},
		{nil, 0},
		{[]string{"none,net_raw"}, 1 << 13},
		{[]string{"all"}, All()},
		{[]string{"ALL", "chown"}, All()},
		{[]string{"checkpoint_restore"}, 1 << 40},
		{[]string{"sys_resource"}, 1 << 24},
	}
	for _, tt := range tests {
		got, err := ParseSet(tt.in)
		if err != nil {
			t.Errorf("ParseSet(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseSet(%q) = %#x, want %#x", tt.in, uint64(got), uint64(tt.want))
		}
	}
}

func TestParseSetUnknownNamesIt(t *testing.T) {
	for _, in := range [][]string{{"bogus"}, {"net_raw,bogus"}, {"chown", "cap_bogus"}, {"cap_"}, {"all2"}} {
		_, err := ParseSet(in)
		if err == nil {
			t.Errorf("ParseSet(%q): no error", in)
			continue
		}
		bad := in[len(in)-1]
		if i := strings.LastIndex(bad, ","); i >= 0 {
			bad = bad[i+1:]
		}
		if !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("ParseSet(%q) error %q does not name %q", in, err, bad)
		}
	}
}

func TestAllMatchesKernel(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		t.Skipf("no cap_last_cap: %v", err)
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if LastCap() != last || All() != Set(1)<<(last+1)-1 {
		t.Errorf("LastCap %d, All() %s; kernel's last cap is %d", LastCap(), All().Hex(), last)
	}
}

func TestSetFormatting(t *testing.T) {
	tests := []struct {
		s    Set
		hex  string
		list string
		str  string
	}{
		{0, "0000000000000000", "", "none"},
		{0x400, "0000000000000400", "cap_net_bind_service", "cap_net_bind_service"},
		{0x3000, "0000000000003000", "cap_net_admin,cap_net_raw", "cap_net_admin,cap_net_raw"},
		{0xc0, "00000000000000c0", "cap_setgid,cap_setuid", "cap_setgid,cap_setuid"},
		{1<<40 | 1, "0000010000000001", "cap_chown,cap_checkpoint_restore", "cap_chown,cap_checkpoint_restore"},
		{1 << 41, "0000020000000000", "41", "41"},
	}
	for _, tt := range tests {
		if got := tt.s.Hex(); got != tt.hex {
			t.Errorf("%#x.Hex() = %q, want %q", uint64(tt.s), got, tt.hex)
		}
		if got := tt.s.List(); got != tt.list {
			t.Errorf("%#x.List() = %q, want %q", uint64(tt.s), got, tt.list)
		}
		if got := tt.s.String(); got != tt.str {
			t.Errorf("%#x.String() = %q, want %q", uint64(tt.s), got, tt.str)
		}
	}
	// The full root set of this machine kind (no cap_sys_resource): what
	// `capsh --decode=000001fffeffffff` printed.
	want := "cap_chown,cap_dac_override,cap_dac_read_search,cap_fowner,cap_fsetid,cap_kill,cap_setgid,cap_setuid,cap_setpcap,cap_linux_immutable,cap_net_bind_service,cap_net_broadcast,cap_net_admin,cap_net_raw,cap_ipc_lock,cap_ipc_owner,cap_sys_module,cap_sys_rawio,cap_sys_chroot,cap_sys_ptrace,cap_sys_pacct,cap_sys_admin,cap_sys_boot,cap_sys_nice,cap_sys_time,cap_sys_tty_config,cap_mknod,cap_lease,cap_audit_write,cap_audit_control,cap_setfcap,cap_mac_override,cap_mac_admin,cap_syslog,cap_wake_alarm,cap_block_suspend,cap_audit_read,cap_perfmon,cap_bpf,cap_checkpoint_restore"
	if got := Set(0x000001fffeffffff).List(); got != want {
		t.Errorf("List of 1fffeffffff =\n%s\nwant\n%s", got, want)
	}
	// Round trip through the parser.
	for _, s := range []Set{0, 0x400, 0x000001fffeffffff} {
		back, err := ParseSet([]string{s.String()})
		if err != nil || back != s {
			t.Errorf("ParseSet(%q) = %#x, %v; want %#x", s.String(), uint64(back), err, uint64(s))
		}
	}
}

func readFixture(t *testing.T, name string) *Status {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := ParseStatus(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return st
}

func TestParseStatusFixtures(t *testing.T) {
	tests := []struct {
		file string
		want Status
	}{
		{"status-root.txt", Status{Name: "cat", Prm: 0x1fffeffffff, Eff: 0x1fffeffffff, Bnd: 0x1fffeffffff}},
		{"status-nobody-ambient.txt", Status{Name: "cat", Inh: 0x400, Prm: 0x400, Eff: 0x400, Bnd: 0x400, Amb: 0x400,
			NoNewPrivs: true, Uid: [4]int{65534, 65534, 65534, 65534}, Gid: [4]int{65534, 65534, 65534, 65534}}},
		{"status-groups-seccomp.txt", Status{Name: "cat", Prm: 0x1fffeffffff, Eff: 0x1fffeffffff, Bnd: 0x1fffeffffff,
			NoNewPrivs: true, Seccomp: 2, Uid: [4]int{1000, 0, 1000, 0}, Groups: []int{4, 24, 27}}},
	}
	for _, tt := range tests {
		got := readFixture(t, tt.file)
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.file, *got, tt.want)
		}
	}
}

func TestParseStatusRejectsBrokenInput(t *testing.T) {
	for name, in := range map[string]string{
		"missing CapAmb": "CapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\nNoNewPrivs:\t0\nUid:\t0 0 0 0\nGid:\t0 0 0 0\n",
		"bad hex":        "CapInh:\tzz\n",
		"short Uid":      "Uid:\t0 0\n",
	} {
		if _, err := ParseStatus(strings.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestFormatStatus(t *testing.T) {
	st := readFixture(t, "status-nobody-ambient.txt")
	st.Pid = 42
	txt := FormatStatus(st, false)
	for _, want := range []string{
		"pid:          42 (cat)\n",
		"uid:          65534 65534 65534 65534",
		"no_new_privs: 1\n",
		"securebits:   unknown",
		"CapPrm:       0x0000000000000400=cap_net_bind_service\n",
		"CapAmb:       0x0000000000000400=cap_net_bind_service\n",
	} {
		if !strings.Contains(txt, want) {
			t.Errorf("text output lacks %q:\n%s", want, txt)
		}
	}
	sb := SecbitNoroot | SecbitNorootLocked
	st.Securebits = &sb
	if txt := FormatStatus(st, false); !strings.Contains(txt, "securebits:   0x3 noroot,noroot_locked\n") {
		t.Errorf("text output lacks securebits:\n%s", txt)
	}
	var j struct {
		Pid        int
		NoNewPrivs bool `json:"no_new_privs"`
		Uid        [4]int
		Groups     []int
		Securebits struct {
			Value int
			Names []string
		}
		Permitted struct {
			Hex   string
			Names []string
		}
		Inheritable struct{ Names []string }
	}
	if err := json.Unmarshal([]byte(FormatStatus(st, true)), &j); err != nil {
		t.Fatal(err)
	}
	if j.Pid != 42 || !j.NoNewPrivs || j.Uid[0] != 65534 || j.Groups == nil || j.Securebits.Value != 3 ||
		j.Permitted.Hex != "0000000000000400" || !reflect.DeepEqual(j.Permitted.Names, []string{"cap_net_bind_service"}) ||
		!reflect.DeepEqual(j.Securebits.Names, []string{"noroot", "noroot_locked"}) {
		t.Errorf("JSON output decoded to %+v", j)
	}
}

func TestSpecValidate(t *testing.T) {
	ok := []Spec{{}, {Keep: []string{"net_raw"}}, {KeepSet: true}, {Drop: []string{"all"}}, {AllowNewPrivs: true}}
	for _, s := range ok {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
	bad := map[string]Spec{
		"together": {Keep: []string{"net_raw"}, Drop: []string{"chown"}},
		"--keep":   {Keep: []string{"bogus"}},
		"--drop":   {Drop: []string{"net_raw,bogus2"}},
	}
	for want, s := range bad {
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: error %v, want one mentioning %q", s, err, want)
		}
	}
	// A profile's JSON shape round-trips.
	in := Spec{Keep: []string{"net_bind_service"}, KeepSet: true}
	b, _ := json.Marshal(in)
	var out Spec
	if err := json.Unmarshal(b, &out); err != nil || !reflect.DeepEqual(in, out) {
		t.Errorf("JSON round trip: %s -> %+v, %v", b, out, err)
	}
}

func TestPlanFrom(t *testing.T) {
	root := readFixture(t, "status-root.txt")
	sb := 0
	root.Securebits = &sb
	const full Set = 0x1fffeffffff
	const setids Set = 1<<capSetuid | 1<<capSetgid

	tests := []struct {
		name    string
		spec    Spec
		from    *Status
		switch_ bool
		want    Plan
		errHas  string
	}{
		{name: "keep as root", spec: Spec{Keep: []string{"net_bind_service"}}, from: root,
			want: Plan{SetsChanged: true, Target: 0x400, Bounding: 0x400, NoNewPrivs: true, Securebits: 3}},
		{name: "keep with user switch", spec: Spec{Keep: []string{"net_bind_service"}}, from: root, switch_: true,
			want: Plan{SetsChanged: true, Target: 0x400, Bounding: 0x400, Helper: setids, NoNewPrivs: true, Securebits: 3}},
		{name: "keep setuid with user switch: no helper beyond target", spec: Spec{Keep: []string{"setuid,setgid"}}, from: root, switch_: true,
			want: Plan{SetsChanged: true, Target: setids, Bounding: setids, NoNewPrivs: true, Securebits: 3}},
		{name: "keep none", spec: Spec{KeepSet: true, Keep: []string{"none"}}, from: root,
			want: Plan{SetsChanged: true, NoNewPrivs: true, Securebits: 3}},
		{name: "drop all", spec: Spec{Drop: []string{"all"}}, from: root,
			want: Plan{SetsChanged: true, NoNewPrivs: true, Securebits: 3}},
		{name: "drop some", spec: Spec{Drop: []string{"sys_admin,net_raw"}}, from: root, want: Plan{SetsChanged: true,
			Target: full &^ (1<<21 | 1<<13), Bounding: full &^ (1<<21 | 1<<13), NoNewPrivs: true, Securebits: 3}},
		{name: "allow new privs", spec: Spec{Keep: []string{"chown"}, AllowNewPrivs: true}, from: root,
			want: Plan{SetsChanged: true, Target: 1, Bounding: 1, Securebits: 3}},
		{name: "nnp only", spec: Spec{}, from: root, switch_: true,
			want: Plan{Bounding: full, NoNewPrivs: true}},
		{name: "keep not held", spec: Spec{Keep: []string{"sys_resource"}}, from: root, errHas: "cap_sys_resource"},
		{name: "keep all not held", spec: Spec{Keep: []string{"all"}}, from: root, errHas: "cap_sys_resource"},
		{name: "unknown", spec: Spec{Keep: []string{"bogus"}}, from: root, errHas: `"bogus"`},
	}
	for _, tt := range tests {
		got, err := tt.spec.planFrom(tt.from, tt.switch_)
		if tt.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("%s: error %v, want one naming %s", tt.name, err, tt.errHas)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		got.setBounding, got.setSecurebits = false, 0
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, *got, tt.want)
		}
	}
}

func TestPlanFromUnprivileged(t *testing.T) {
	// A uid-1000 caller holding only cap_net_raw and cap_chown (say, from
	// ambient): no CAP_SETPCAP, so bounding and securebits stay.
	st := &Status{Prm: 1<<13 | 1, Eff: 1<<13 | 1, Bnd: 0x1fffeffffff, Uid: [4]int{1000, 1000, 1000, 1000}}
	p, err := (&Spec{Drop: []string{"net_raw"}}).planFrom(st, false)
	if err != nil {
		t.Fatal(err)
	}
	if p.Target != 1 || p.Bounding != 0x1fffeffffff || p.Securebits != 0 || p.setBounding {
		t.Errorf("drop as unprivileged: %+v", *p)
	}
	_, err = (&Spec{Keep: []string{"sys_admin"}}).planFrom(st, false)
	if err == nil || !strings.Contains(err.Error(), "cap_sys_admin") {
		t.Errorf("keep sys_admin unprivileged: %v", err)
	}
	_, err = (&Spec{Keep: []string{"none"}, KeepSet: true}).planFrom(st, true)
	if err == nil || !strings.Contains(err.Error(), "cap_setgid,cap_setuid") {
		t.Errorf("user switch unprivileged: %v", err)
	}
	// Root without CAP_SETPCAP and with no_new_privs off would get the
	// bounding set back through exec.
	rootNoPcap := &Status{Prm: 0x400, Eff: 0x400, Bnd: 0x1fffeffffff}
	if _, err := (&Spec{Keep: []string{"net_bind_service"}, AllowNewPrivs: true}).planFrom(rootNoPcap, false); err == nil {
		t.Error("root without setpcap, new privs allowed: no error")
	}
	if _, err := (&Spec{Keep: []string{"net_bind_service"}}).planFrom(rootNoPcap, false); err != nil {
		t.Errorf("root without setpcap, no_new_privs on: %v", err)
	}
}

func TestCheckReportsEveryMismatch(t *testing.T) {
	p := &Plan{SetsChanged: true, Target: 0x400, Bounding: 0x400, NoNewPrivs: true, Securebits: 3}
	good := &Status{Inh: 0x400, Prm: 0x400, Eff: 0x400, Bnd: 0x400, NoNewPrivs: true}
	sb := 3
	good.Securebits = &sb
	if err := p.check(good); err != nil {
		t.Fatalf("matching state: %v", err)
	}
	// What gocapability's silent failures would leave: bounding untouched,
	// ambient not cleared, no_new_privs off, securebits unset.
	zero := 0
	bad := &Status{Inh: 0x400, Prm: 0x400, Eff: 0x401, Bnd: 0x1fffeffffff, Amb: 0x2000, Securebits: &zero}
	err := p.check(bad)
	if err == nil {
		t.Fatal("mismatching state: no error")
	}
	for _, want := range []string{"CapEff is 0000000000000401", "CapBnd is 000001fffeffffff", "CapAmb is 0000000000002000 (cap_net_raw)", "NoNewPrivs is false", "securebits are 0x0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
