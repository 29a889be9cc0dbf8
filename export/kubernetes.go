package export

import (
	"bytes"
	"fmt"
	"math"
	"os/user"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// k8sContainer is the part of a Kubernetes core/v1 Container this export
// fills; the yaml names are the API's (TestKubernetesFieldNames checks
// them against the API reference).
type k8sContainer struct {
	Name            string              `yaml:"name"`
	Command         []string            `yaml:"command,omitempty"`
	Resources       *k8sResources       `yaml:"resources,omitempty"`
	SecurityContext *k8sSecurityContext `yaml:"securityContext,omitempty"`
}

type k8sResources struct {
	Limits map[string]string `yaml:"limits,omitempty"`
}

type k8sSecurityContext struct {
	RunAsUser                *int64           `yaml:"runAsUser,omitempty"`
	RunAsGroup               *int64           `yaml:"runAsGroup,omitempty"`
	AllowPrivilegeEscalation *bool            `yaml:"allowPrivilegeEscalation,omitempty"`
	ReadOnlyRootFilesystem   *bool            `yaml:"readOnlyRootFilesystem,omitempty"`
	Capabilities             *k8sCapabilities `yaml:"capabilities,omitempty"`
}

type k8sCapabilities struct {
	Add  []string `yaml:"add,omitempty"`
	Drop []string `yaml:"drop,omitempty"`
}

// kubernetes writes one container of a pod's spec.containers. Only
// limits are written: Kubernetes then sets the requests equal to them
// (Guaranteed QoS when both CPU and memory are set), the nearest to rcon,
// which reserves nothing and caps everything.
func kubernetes(in *Input, w *warner) (string, error) {
	c := k8sContainer{Name: k8sName(in.Name, w), Command: in.Argv}
	l := &in.Limits
	lim := map[string]string{}
	if l.CPUPercent > 0 {
		// 100% of one CPU is 1 CPU = 1000m: P% is P×10 millicores.
		m := l.CPUPercent * 10
		if m != math.Trunc(m) {
			w.add("limits.cpu %g: Kubernetes counts whole millicores; written as %dm", l.CPUPercent, int64(math.Ceil(m)))
		}
		lim["cpu"] = fmt.Sprintf("%dm", int64(math.Ceil(m)))
	}
	if l.Mem > 0 {
		lim["memory"] = k8sQuantity(l.Mem)
	}
	if len(lim) > 0 {
		c.Resources = &k8sResources{Limits: lim}
	}
	w.unsupported(l, map[string]string{
		"cpu_period_us": "the CFS period is the kubelet's (cpuCFSQuotaPeriod), not a container's",
		"cpu_weight":    "a container's CPU weight follows its requests.cpu, which default to the limits",
		"cpuset":        "CPUs are pinned only by the kubelet's static CPU manager, for whole-CPU Guaranteed pods",
		"mem_high":      "no throttling threshold for a container; requests.memory is a scheduling reservation, not a limit (requests default to the limits written here)",
		"swap":          "swap is the node's setting (kubelet memorySwap), not a container's",
		"pids":          "the PID limit is per pod, set by the kubelet (podPidsLimit), not per container",
	})
	warnIO(w, l, "Kubernetes")

	sc := &k8sSecurityContext{}
	if in.User != "" {
		uid, err := numericID(in.User, "run.user", w, func(s string) (string, error) {
			u, err := user.Lookup(s)
			if err != nil {
				return "", err
			}
			return u.Uid, nil
		})
		if err != nil {
			return "", err
		}
		sc.RunAsUser = &uid
	}
	if in.Group != "" {
		gid, err := numericID(in.Group, "run.group", w, func(s string) (string, error) {
			g, err := user.LookupGroup(s)
			if err != nil {
				return "", err
			}
			return g.Gid, nil
		})
		if err != nil {
			return "", err
		}
		sc.RunAsGroup = &gid
	}
	if len(in.Groups) > 0 {
		w.add("run.groups: supplementary groups are the pod's (spec.securityContext.supplementalGroups), not a container's")
	}
	if in.Caps.NoNewPrivs {
		f := false
		sc.AllowPrivilegeEscalation = &f
	}
	if in.Caps.Prune {
		names, inverted, err := capList(&in.Caps)
		if err != nil {
			return "", err
		}
		up := make([]string, len(names))
		for i, n := range names {
			up[i] = strings.ToUpper(n)
		}
		if inverted {
			sc.Capabilities = &k8sCapabilities{Drop: up}
		} else {
			sc.Capabilities = &k8sCapabilities{Drop: []string{"ALL"}, Add: up}
			if len(up) > 0 && in.User != "" && (sc.RunAsUser == nil || *sc.RunAsUser != 0) {
				w.add("caps.keep: Kubernetes adds capabilities to the bounding and permitted sets but not the ambient set, so a non-root runAsUser holds them only through file capabilities")
			}
		}
	}
	ns := &in.NS
	if ns.ReadOnlyRoot {
		t := true
		sc.ReadOnlyRootFilesystem = &t
	}
	if *sc != (k8sSecurityContext{}) {
		c.SecurityContext = sc
	}
	// A container always has its own pid, mount, uts and ipc namespaces
	// (unless the pod shares them); these need no field.
	if ns.Net {
		w.add("run.unshare net: a pod's network namespace has the cluster network, not loopback only; a NetworkPolicy denying all traffic comes nearest")
	}
	if ns.User {
		w.add("run.unshare user: a user namespace is the pod's (spec.hostUsers: false), not a container's")
	}
	if ns.Cgroup {
		w.add("run.unshare cgroup: a container has a cgroup namespace of its own on cgroup v2 nodes only")
	}
	if ns.Hostname != "" {
		w.add("run.hostname %q: the host name is the pod's (spec.hostname)", ns.Hostname)
	}
	if len(ns.RoBind) > 0 || len(ns.Bind) > 0 || len(ns.Tmpfs) > 0 {
		w.add("run.ro_bind, bind, tmpfs: mounts are the pod's volumes (hostPath, emptyDir with medium Memory) with the container's volumeMounts; not written")
	}
	if ns.Chroot != "" {
		w.add("run.chroot %q: a container's root is its image", ns.Chroot)
	}

	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&c); err != nil {
		return "", fmt.Errorf("encode the container: %w", err)
	}
	head := fmt.Sprintf("# A container for a pod's spec.containers, from rcon profile %s.\n"+
		"# Only limits are set: requests default to them.\n", in.Source)
	return head + out.String(), nil
}

// k8sQuantity writes bytes as a Kubernetes quantity, exactly: the largest
// binary suffix (Gi, Mi, Ki) that divides them, else plain bytes.
func k8sQuantity(n int64) string {
	for _, u := range []struct {
		s string
		v int64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if n%u.v == 0 {
			return fmt.Sprintf("%d%s", n/u.v, u.s)
		}
	}
	return strconv.FormatInt(n, 10)
}

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// k8sName makes name a container name (an RFC 1123 label: lower case
// letters, digits and '-', at most 63), saying so when it had to change.
func k8sName(name string, w *warner) string {
	if dns1123.MatchString(name) && len(name) <= 63 {
		return name
	}
	b := []byte(strings.ToLower(name))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	s := strings.Trim(string(b), "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	if s == "" {
		s = "rcon"
	}
	w.add("name %q: a container name is an RFC 1123 label; written as %q", name, s)
	return s
}

// numericID turns a user or group into the number Kubernetes takes,
// resolving a name on this host (and saying so).
func numericID(s, key string, w *warner, lookup func(string) (string, error)) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	id, err := lookup(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q: not known on this host, and Kubernetes takes a number: write the id", key, s)
	}
	n, _ := strconv.ParseInt(id, 10, 64)
	w.add("%s %q: resolved on this host to %d (Kubernetes takes numbers)", key, s, n)
	return n, nil
}
