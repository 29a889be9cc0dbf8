// Package registry keeps the runs' side of rcon's groups: one record per
// group in the state directory (who owns it, what it runs, its limits),
// the per-name locks that serialise changes to a record, the sweep that
// reclaims groups whose owner is gone (GC), the membership of shared
// groups (Join, Leave, Attach) and the policy for changing a live group's
// limits (SetLimits). The groups themselves are cgroupfs's: registry
// decides when one is made, kept or reclaimed, cgroupfs how.
package registry
