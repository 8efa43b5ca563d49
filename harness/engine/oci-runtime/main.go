// Command kmslab-runc is an OCI runtime that fits containers to a host whose limits are narrower than a container
// may ask for, then runs the real runc with the same arguments.
//
// Some VMs drop capabilities from the bounding set of every process (e.g. CAP_SYS_RESOURCE). A privileged container
// (a kind node) asks for every capability and runc fails with "unable to apply caps: operation not permitted"; an
// rlimit above the hard limit fails the same way. Before `create`/`run` this program edits the bundle's config.json,
// before `exec` the --process file: it drops capabilities absent from its own bounding set and lowers rlimits to its
// own hard limits. Nothing else changes. The real runc's path is set at build time (-X main.runc=...).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

var runc = "/usr/sbin/runc"

// Linux capability numbers (include/uapi/linux/capability.h).
var capNumbers = map[string]int{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
	"CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
	"CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
	"CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18,
	"CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
	"CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28,
	"CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32,
	"CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37,
	"CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}

// Resource numbers of the rlimits an OCI spec may name (include/uapi/asm-generic/resource.h).
var rlimitNumbers = map[string]int{
	"RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4, "RLIMIT_RSS": 5,
	"RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10,
	"RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

// Global runc flags that take a value, so the command can be found after them.
var globalWithValue = map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}

func main() {
	args := os.Args[1:]
	if err := adjust(args); err != nil {
		fmt.Fprintf(os.Stderr, "kmslab-runc: %v\n", err)
		os.Exit(1)
	}
	err := syscall.Exec(runc, append([]string{"runc"}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "kmslab-runc: exec %s: %v\n", runc, err)
	os.Exit(1)
}

func adjust(args []string) error {
	cmd, rest := command(args)
	switch cmd {
	case "create", "run":
		bundle := flagValue(rest, "--bundle", "-b")
		if bundle == "" {
			bundle = "."
		}
		return editJSON(filepath.Join(bundle, "config.json"), func(spec map[string]any) {
			if p, ok := spec["process"].(map[string]any); ok {
				fitProcess(p)
			}
		})
	case "exec":
		if file := flagValue(rest, "--process", "-p"); file != "" {
			return editJSON(file, fitProcess)
		}
	}
	return nil
}

// command returns runc's subcommand and the arguments after it.
func command(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a, args[i+1:]
		}
		if globalWithValue[a] {
			i++
		}
	}
	return "", nil
}

func flagValue(args []string, long, short string) string {
	for i, a := range args {
		if (a == long || a == short) && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, long+"="); ok {
			return v
		}
	}
	return ""
}

func editJSON(path string, edit func(map[string]any)) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	// UseNumber keeps every number exact (a float64 round trip would change 64-bit limits elsewhere in the spec).
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	edit(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, info.Mode().Perm())
}

// fitProcess keeps the capabilities this process may hold and the rlimits it may set.
func fitProcess(p map[string]any) {
	bounding := boundingSet()
	if caps, ok := p["capabilities"].(map[string]any); ok {
		for set, list := range caps {
			names, ok := list.([]any)
			if !ok {
				continue
			}
			kept := []any{}
			for _, n := range names {
				name, _ := n.(string)
				if num, known := capNumbers[name]; known && bounding&(1<<num) == 0 {
					continue
				}
				kept = append(kept, n)
			}
			caps[set] = kept
		}
	}
	if limits, ok := p["rlimits"].([]any); ok {
		for _, l := range limits {
			limit, ok := l.(map[string]any)
			if !ok {
				continue
			}
			num, known := rlimitNumbers[fmt.Sprint(limit["type"])]
			if !known {
				continue
			}
			var current syscall.Rlimit
			if syscall.Getrlimit(num, &current) != nil {
				continue
			}
			hard, soft := number(limit["hard"]), number(limit["soft"])
			if hard > current.Max {
				hard = current.Max
			}
			if soft > hard {
				soft = hard
			}
			limit["hard"], limit["soft"] = hard, soft
		}
	}
}

func number(v any) uint64 {
	n, _ := v.(json.Number)
	u, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil {
		return 0
	}
	return u
}

// boundingSet reads CapBnd from /proc/self/status; on failure every capability counts as allowed.
func boundingSet() uint64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 1<<bits.UintSize - 1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil {
				return n
			}
		}
	}
	return 1<<bits.UintSize - 1
}
