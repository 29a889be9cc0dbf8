package launch

import (
	"fmt"
	"os/user"
	"strconv"
	"syscall"
)

// credential resolves --user/--group/--groups. nil keeps the caller's
// identity. Numeric ids need no entry in the user database.
func (s *job) credential() (*syscall.Credential, error) {
	if s.User == "" && s.Group == "" && len(s.Groups) == 0 {
		return nil, nil
	}
	c := &syscall.Credential{Uid: uint32(syscall.Geteuid()), Gid: uint32(syscall.Getegid())}
	defaultGroups := []string{}
	if s.User != "" {
		u, err := lookupUser(s.User)
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		c.Uid, c.Gid = uint32(uid), uint32(gid)
		if u.Username != "" {
			if ids, err := u.GroupIds(); err == nil {
				defaultGroups = ids
			}
		}
		if len(defaultGroups) == 0 {
			defaultGroups = []string{u.Gid}
		}
	}
	if s.Group != "" {
		gid, err := lookupGroup(s.Group)
		if err != nil {
			return nil, err
		}
		c.Gid = gid
	}
	names := s.Groups
	if names == nil {
		names = defaultGroups
	}
	for _, n := range names {
		gid, err := lookupGroup(n)
		if err != nil {
			return nil, err
		}
		c.Groups = append(c.Groups, gid)
	}
	if c.Groups == nil {
		c.Groups = []uint32{} // setgroups(0): drop the caller's groups
	}
	return c, nil
}

func lookupUser(name string) (*user.User, error) {
	u, err := user.Lookup(name)
	if err == nil {
		return u, nil
	}
	if _, nerr := strconv.ParseUint(name, 10, 32); nerr == nil {
		if u, err := user.LookupId(name); err == nil {
			return u, nil
		}
		// A bare uid without a passwd entry: its own gid, like setpriv.
		return &user.User{Uid: name, Gid: name}, nil
	}
	return nil, fmt.Errorf("--user %s: no such user", name)
}

func lookupGroup(name string) (uint32, error) {
	if g, err := user.LookupGroup(name); err == nil {
		id, _ := strconv.ParseUint(g.Gid, 10, 32)
		return uint32(id), nil
	}
	if id, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(id), nil
	}
	return 0, fmt.Errorf("--group %s: no such group", name)
}
