package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"rcon/cgroupfs"
	"rcon/registry"
)

// GC implements `rcon gc`: remove groups whose rcon is gone.
func GC(tool string, kill bool) int {
	res, err := registry.GC(kill, 0)
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
	// created is for the table's AGE only; --json is unchanged.
	created time.Time
}

// psMember is one member of a shared group: an rcon run that joined it or
// a process moved in by rcon attach.
type psMember struct {
	PID      int      `json:"pid"`
	Alive    bool     `json:"alive"`
	Attached bool     `json:"attached,omitempty"`
	Command  []string `json:"command,omitempty"`
}

// psSample is how long `rcon ps` watches the groups' CPU time for its
// CPU% column: a rate needs two readings (systemd-cgtop shows one
// refresh the same way). Half a second is five default quota periods,
// long enough for a throttled group's rate to settle, short enough for an
// operator's prompt. --json is not delayed: it reports the counter.
const psSample = 500 * time.Millisecond

// PS implements `rcon ps`: the groups rcon runs now, with usage.
func PS(tool string, asJSON bool) int {
	rows, err := psRows()
	if err != nil {
		return Exit(tool, err)
	}
	if asJSON {
		out, _ := json.MarshalIndent(rows, "", "  ")
		fmt.Println(string(out))
		return 0
	}
	cpu := map[string]float64{}
	if len(rows) > 0 {
		t0 := time.Now()
		time.Sleep(psSample)
		later, err := psRows()
		if err == nil {
			dt := time.Since(t0).Seconds()
			for _, l := range later {
				for _, r := range rows {
					if r.Name == l.Name && l.Stats.CPUTotalNS >= r.Stats.CPUTotalNS {
						cpu[r.Name] = 100 * float64(l.Stats.CPUTotalNS-r.Stats.CPUTotalNS) / 1e9 / dt
					}
				}
			}
		}
	}
	psTable(os.Stdout, rows, cpu, time.Now())
	return 0
}

// psRows reads the records and each live group's usage.
func psRows() ([]psRow, error) {
	recs, err := registry.Records()
	if err != nil {
		return nil, err
	}
	rows := []psRow{}
	for _, rec := range recs {
		row := psRow{Name: rec.Name, OwnerPID: rec.Owner.PID, Orphaned: !rec.Live(),
			Command: rec.Command, Limits: rec.Limits, Paths: rec.Paths, Shared: rec.Shared, created: rec.Created}
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
	return rows, nil
}

// psTable prints rows as an aligned table, one refresh of systemd-cgtop:
// CPU% is of one CPU, as --cpu is (150 = one and a half), over the
// sample; a group with no second reading shows "-". MEM/LIMIT and
// PIDS/LIMIT show "-" for no limit.
func psTable(out io.Writer, rows []psRow, cpu map[string]float64, now time.Time) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tCOMMAND\tCPU%\tMEM/LIMIT\tPIDS\tAGE")
	for _, r := range rows {
		name := r.Name
		if r.Orphaned {
			name += " (orphaned)"
		}
		command := commandText(r.Command)
		if r.Shared {
			command = "shared: " + memberText(r.Members)
		}
		pct := "-"
		if v, ok := cpu[r.Name]; ok {
			pct = fmt.Sprintf("%.1f", v)
		}
		mem := cgroupfs.HumanSize(int64(r.Stats.MemCurrent)) + "/-"
		if r.Limits.Mem > 0 {
			mem = cgroupfs.HumanSize(int64(r.Stats.MemCurrent)) + "/" + cgroupfs.HumanSize(r.Limits.Mem)
		}
		pids := r.Stats.PidsCurrent
		if pids == 0 {
			pids = uint64(r.Procs) // no pids controller: count processes
		}
		pidsText := fmt.Sprint(pids)
		if r.Limits.Pids > 0 {
			pidsText += fmt.Sprintf("/%d", r.Limits.Pids)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", name, command, pct, mem, pidsText, age(now.Sub(r.created)))
	}
	w.Flush()
}

// age is a duration the way ps's ELAPSED reads at a glance: 42s, 3m07s,
// 5h02m, 3d04h; "-" when the record has no time.
func age(d time.Duration) string {
	switch {
	case d < 0 || d > 100*365*24*time.Hour:
		return "-"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
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
