package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"rcon/cgroupfs"
)

// GC implements `rcon gc`: remove groups whose rcon is gone.
func GC(tool string, kill bool) int {
	res, err := cgroupfs.GC(kill, 0)
	if err != nil {
		return Exit(tool, err)
	}
	status := 0
	for _, r := range res {
		rec := r.Record
		switch {
		case r.Err != nil:
			fmt.Fprintf(os.Stderr, "%s: gc %s: %v\n", tool, rec.Name, r.Err)
			status = 1
		case r.Foreign:
			fmt.Printf("left %s alone: its owner (pid %d) is of another pid namespace than this /proc; rcon gc there judges it\n", rec.Name, rec.Owner.PID)
		case r.Removed && r.Unreadable:
			fmt.Printf("removed unreadable record of %s\n", rec.Name)
		case r.Removed:
			if rec.Shared {
				fmt.Printf("removed shared group %s (no live member)\n", rec.Name)
			} else {
				fmt.Printf("removed %s (owner pid %d gone)\n", rec.Name, rec.Owner.PID)
			}
		default:
			if rec.Shared {
				fmt.Printf("kept shared group %s: no live member but %d process(es) still run under its limits (rcon gc --kill ends them)\n", rec.Name, r.Procs)
			} else {
				fmt.Printf("kept %s: owner pid %d is gone but %d process(es) still run under its limits (rcon gc --kill ends them)\n",
					rec.Name, rec.Owner.PID, r.Procs)
			}
		}
	}
	return status
}

// psRow is one line of `rcon ps`.
type psRow struct {
	Name     string             `json:"name"`
	OwnerPID int                `json:"owner_pid"`
	Orphaned bool               `json:"orphaned"`
	Command  []string           `json:"command"`
	Limits   cgroupfs.Resources `json:"limits"`
	Procs    int                `json:"procs"`
	Stats    cgroupfs.Stats     `json:"stats"`
	Paths    []string           `json:"paths"`
	Shared   bool               `json:"shared,omitempty"`
	Members  []psMember         `json:"members,omitempty"`
}

// psMember is one member of a shared group: an rcon run that joined it or
// a process moved in by rcon attach.
type psMember struct {
	PID      int      `json:"pid"`
	Alive    bool     `json:"alive"`
	Attached bool     `json:"attached,omitempty"`
	Command  []string `json:"command,omitempty"`
}

// PS implements `rcon ps`: the groups rcon runs now, with usage.
func PS(tool string, asJSON bool) int {
	recs, err := cgroupfs.Records()
	if err != nil {
		return Exit(tool, err)
	}
	rows := []psRow{}
	for _, rec := range recs {
		row := psRow{Name: rec.Name, OwnerPID: rec.Owner.PID, Orphaned: !rec.Live(),
			Command: rec.Command, Limits: rec.Limits, Paths: rec.Paths, Shared: rec.Shared}
		for _, m := range rec.Members {
			row.Members = append(row.Members, psMember{PID: m.PID, Alive: m.Alive(), Attached: m.Attached, Command: m.Command})
		}
		if g, err := rec.Group(); err == nil {
			ps, _ := g.Procs()
			row.Procs = len(ps)
			row.Stats, _ = g.Stats()
			g.Close()
		}
		rows = append(rows, row)
	}
	if asJSON {
		out, _ := json.MarshalIndent(rows, "", "  ")
		fmt.Println(string(out))
		return 0
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tOWNER\tPROCS\tCPU\tMEM\tLIMITS\tCOMMAND")
	for _, r := range rows {
		owner := fmt.Sprint(r.OwnerPID)
		if r.Shared {
			owner = "shared: " + memberText(r.Members)
		}
		if r.Orphaned {
			owner += " (gone)"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%.2fs\t%s\t%s\t%s\n", r.Name, owner, r.Procs,
			float64(r.Stats.CPUTotalNS)/1e9, cgroupfs.FormatSize(int64(r.Stats.MemCurrent)),
			cgroupfs.LimitsText(&r.Limits), commandText(r.Command))
	}
	w.Flush()
	return 0
}

// commandText is a command line for rcon ps's table. The arguments come
// from whoever started the run, perhaps another user, and an operator
// reads them at a terminal: control characters (escape sequences that
// retitle the window or rewrite the screen, newlines and tabs that break
// the table) and bytes that are not UTF-8 are shown escaped, \xNN or
// \uNNNN, never sent raw. (--json needs no such care: encoding/json
// escapes what JSON requires.)
func commandText(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		for len(a) > 0 {
			r, n := utf8.DecodeRuneInString(a)
			switch {
			case r == utf8.RuneError && n == 1:
				fmt.Fprintf(&b, `\x%02x`, a[0])
			case r == ' ' || unicode.IsPrint(r):
				b.WriteString(a[:n])
			case r < 0x100:
				fmt.Fprintf(&b, `\x%02x`, r)
			default:
				fmt.Fprintf(&b, `\u%04x`, r)
			}
			a = a[n:]
		}
	}
	return b.String()
}
