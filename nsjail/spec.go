// Package nsjail sets up namespaces for a command. PLACEHOLDER: the
// namespaces issue fills this in.
package nsjail

// Spec lists the namespaces to unshare.
type Spec struct {
	Unshare  []string `json:"unshare,omitempty"`
	Hostname string   `json:"hostname,omitempty"`
}
