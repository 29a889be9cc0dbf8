package profiles

import "reflect"

// Merging rules, applied key by key (see docs/PROFILES.md, "include"):
//   - a key set in the including file replaces the base's value, including
//     arrays (unshare, groups, keep, ...): lists are not concatenated;
//   - the io_* tables are merged per device, so a base can throttle /dev/sda
//     and a profile add /dev/sdb;
//   - caps.keep and caps.drop are two ways to state one thing, so setting
//     either one replaces both of the base's.

// sections returns the tables of p whose fields are all Value[...]; the
// merge and "from" bookkeeping walk these with reflection so that a key
// added to a table cannot be forgotten here.
func (p *Profile) sections() []reflect.Value {
	return []reflect.Value{
		reflect.ValueOf(&p.Limits).Elem(),
		reflect.ValueOf(&p.Run).Elem(),
		reflect.ValueOf(&p.Caps).Elem(),
	}
}

// overlay writes every setting src has over p.
func (p *Profile) overlay(src *Profile) {
	if src.Caps.Keep.Set || src.Caps.Drop.Set {
		p.Caps.Keep = Value[[]string]{}
		p.Caps.Drop = Value[[]string]{}
	}
	dst, from := p.sections(), src.sections()
	for i := range dst {
		for j := 0; j < dst[i].NumField(); j++ {
			s := from[i].Field(j)
			if !s.FieldByName("Set").Bool() {
				continue
			}
			d := dst[i].Field(j)
			if t, ok := s.Addr().Interface().(*Value[IOTable]); ok {
				mergeIO(d.Addr().Interface().(*Value[IOTable]), t)
				continue
			}
			d.Set(s)
		}
	}
	if src.Include.Set {
		p.Include = src.Include
	}
}

// mergeIO adds src's devices to dst, src winning for a device in both. The
// result is a new map, so a base profile shared by two includes is never
// modified.
func mergeIO(dst, src *Value[IOTable]) {
	m := IOTable{}
	for k, v := range dst.V {
		m[k] = v
	}
	for k, v := range src.V {
		m[k] = v
	}
	from := src.From
	if dst.Set && dst.From != src.From {
		from = dst.From + ", " + src.From
	}
	*dst = Value[IOTable]{V: m, Set: true, From: from}
}

// setFrom records path as the origin of every setting in p.
func (p *Profile) setFrom(path string) {
	for _, sec := range p.sections() {
		for j := 0; j < sec.NumField(); j++ {
			f := sec.Field(j)
			if f.FieldByName("Set").Bool() {
				f.FieldByName("From").SetString(path)
			}
		}
	}
	if p.Include.Set {
		p.Include.From = path
	}
}
