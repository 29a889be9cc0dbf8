package launch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"rcon/cgroupfs"

	"golang.org/x/sys/unix"
)

// Report is what rcon tells about a finished run.
type Report struct {
	job        *job
	Status     int
	WaitStatus syscall.WaitStatus
	Wall       time.Duration
	Stats      cgroupfs.Stats
	LeftOver   int // processes still in the group when the command exited

	// statsFile is --stats-json's file, opened before the command ran.
	statsFile *os.File
}

// openStatsJSON opens --stats-json's file before anything is created or
// run, so a path that cannot be written fails the run at once (125)
// instead of after the command, and so the file written is the one the
// caller named: the command, run later and perhaps as another user, may
// own the directory and put a symlink there to a file of root's. The last
// component is not followed even now (O_NOFOLLOW); directories on the way
// are the caller's choice. The file is appended to, one JSON object a line,
// so a cron job's file keeps its history. "-" is standard error (the
// command owns standard output). The descriptor is close-on-exec: the
// command never holds it.
func openStatsJSON(path string) (*os.File, error) {
	if path == "" {
		return nil, nil
	}
	if path == "-" {
		fd, err := unix.FcntlInt(2, unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return nil, fail(ExitFailure, "--stats-json -: standard error: %v", err)
		}
		return os.NewFile(uintptr(fd), "standard error"), nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o644)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fail(ExitFailure, "--stats-json %s: is a symlink, which rcon does not follow: name the file itself", path)
	}
	if err != nil {
		return nil, fail(ExitFailure, "--stats-json: %v", err)
	}
	return f, nil
}

// OOMKilled reports whether the kernel's OOM killer ended the command:
// it died of SIGKILL and the group counted an OOM kill. Behind the
// namespace init, a SIGKILL death arrives as the init's exit status 137.
func (r *Report) OOMKilled() bool {
	ws := r.WaitStatus
	killed := ws.Signaled() && ws.Signal() == syscall.SIGKILL ||
		r.job.jail != nil && ws.Exited() && ws.ExitStatus() == 128+int(syscall.SIGKILL)
	return killed && r.Stats.OOMKills > 0
}

func (r *Report) tell() {
	s, name := r.job, filepath.Base(r.job.Argv[0])
	limit := "its memory limit"
	if s.limits.Mem > 0 {
		limit = "memory limit " + cgroupfs.FormatSize(s.limits.Mem)
	}
	switch {
	case r.OOMKilled():
		fmt.Fprintf(os.Stderr, "%s: %s: killed by the OOM killer, %s reached\n", s.tool(), name, limit)
		if r.Stats.OOMKills > 1 {
			fmt.Fprintf(os.Stderr, "%s: %s: the OOM killer also ended %d other processes in the group\n", s.tool(), name, r.Stats.OOMKills-1)
		}
	case r.Stats.OOMKills > 0:
		fmt.Fprintf(os.Stderr, "%s: %s: warning: the OOM killer ended %d process(es) in the group (%s)\n", s.tool(), name, r.Stats.OOMKills, limit)
	}
	if r.LeftOver > 0 && !s.WaitAll {
		fmt.Fprintf(os.Stderr, "%s: %s: ended %d process(es) left in the group (--wait-all waits for them)\n", s.tool(), name, r.LeftOver)
	}
	if s.Stats {
		r.writeText(os.Stderr)
	}
	if r.statsFile != nil {
		if err := r.writeJSON(r.statsFile); err != nil {
			fmt.Fprintf(os.Stderr, "%s: --stats-json: %v\n", s.tool(), err)
		}
	}
}

func (r *Report) outcome() string {
	if r.WaitStatus.Signaled() {
		return fmt.Sprintf("killed by signal %d (%s), status %d", r.WaitStatus.Signal(), r.WaitStatus.Signal(), r.Status)
	}
	return fmt.Sprintf("exit %d", r.Status)
}

func secs(ns uint64) string { return fmt.Sprintf("%.2fs", float64(ns)/1e9) }

func (r *Report) writeText(w io.Writer) {
	st, t := r.Stats, r.job.tool()
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: %s after %.2fs\n", t, filepath.Base(r.job.Argv[0]), r.outcome(), r.Wall.Seconds())
	share := 0.0
	if r.Wall > 0 {
		share = 100 * float64(st.CPUTotalNS) / float64(r.Wall.Nanoseconds())
	}
	fmt.Fprintf(&b, "  cpu        %s user, %s system, %.1f%% of one CPU\n", secs(st.CPUUserNS), secs(st.CPUSystemNS), share)
	if st.NrPeriods > 0 {
		fmt.Fprintf(&b, "  throttled  %d of %d periods (%.0f%%), %s\n", st.NrThrottled, st.NrPeriods,
			100*float64(st.NrThrottled)/float64(st.NrPeriods), secs(st.ThrottledNS))
	}
	// Sizes for the eye (72.0M, not 73756K); --stats-json keeps bytes.
	fmt.Fprintf(&b, "  memory     peak %s", cgroupfs.HumanSize(int64(st.MemPeak)))
	if r.job.limits.Mem > 0 {
		fmt.Fprintf(&b, " of %s", cgroupfs.HumanSize(r.job.limits.Mem))
	}
	fmt.Fprintf(&b, ", oom kills %d\n", st.OOMKills)
	if st.PidsPeak > 0 {
		fmt.Fprintf(&b, "  pids       peak %d\n", st.PidsPeak)
	}
	fmt.Fprintf(&b, "  io         read %s, write %s\n", cgroupfs.HumanSize(int64(st.IOReadBytes)), cgroupfs.HumanSize(int64(st.IOWriteBytes)))
	if r.job.fitShown != "" {
		fmt.Fprintf(&b, "  fit        %s\n", r.job.fitShown)
	}
	io.WriteString(w, b.String())
}

// JSONReport is the --stats-json document, one object per run, for cron logs.
type JSONReport struct {
	Command     []string           `json:"command"`
	Status      int                `json:"status"`
	Signal      int                `json:"signal,omitempty"`
	OOMKilled   bool               `json:"oom_killed"`
	WallSeconds float64            `json:"wall_seconds"`
	Limits      cgroupfs.Resources `json:"limits"`
	Stats       cgroupfs.Stats     `json:"stats"`
	LeftOver    int                `json:"left_over"`
	Started     time.Time          `json:"started"`
}

func (r *Report) writeJSON(f *os.File) error {
	j := JSONReport{Command: r.job.Argv, Status: r.Status, OOMKilled: r.OOMKilled(),
		WallSeconds: r.Wall.Seconds(), Limits: r.job.limits, Stats: r.Stats, LeftOver: r.LeftOver,
		Started: time.Now().Add(-r.Wall)}
	if r.WaitStatus.Signaled() {
		j.Signal = int(r.WaitStatus.Signal())
	}
	data, err := json.Marshal(j)
	if err != nil {
		return err
	}
	// One write of one line: appends from concurrent runs do not mix.
	if _, err := f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return nil
}
