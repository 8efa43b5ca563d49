package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// jsonValue is a JSON value that keeps every member of an object, duplicates included, in order. dockerd decodes
// with encoding/json (case-insensitive names; a repeated name merges into or replaces the earlier value), so the
// checks below look at every member whose name folds to the one they want: whatever dockerd ends up with was
// among them.
type jsonValue struct {
	members []member     // objects
	items   []*jsonValue // arrays
	scalar  any          // string, json.Number, bool, nil
	object  bool
	array   bool
}

type member struct {
	name  string
	value *jsonValue
}

func parseJSON(body []byte) (*jsonValue, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	return readValue(d)
}

func readValue(d *json.Decoder) (*jsonValue, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t {
	case json.Delim('{'):
		v := &jsonValue{object: true}
		for d.More() {
			name, err := d.Token()
			if err != nil {
				return nil, err
			}
			value, err := readValue(d)
			if err != nil {
				return nil, err
			}
			v.members = append(v.members, member{name.(string), value})
		}
		_, err := d.Token()
		return v, err
	case json.Delim('['):
		v := &jsonValue{array: true}
		for d.More() {
			item, err := readValue(d)
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, item)
		}
		_, err := d.Token()
		return v, err
	case json.Delim('}'), json.Delim(']'):
		return nil, errors.New("unexpected " + t.(json.Delim).String())
	}
	return &jsonValue{scalar: t}, nil
}

// all is every member of an object whose name folds to name (encoding/json matches names that way), nulls left
// out: a null leaves dockerd's field as it was.
func (v *jsonValue) all(name string) []*jsonValue {
	var out []*jsonValue
	for _, m := range v.members {
		if strings.EqualFold(m.name, name) && !m.value.null() {
			out = append(out, m.value)
		}
	}
	return out
}

func (v *jsonValue) null() bool { return !v.object && !v.array && v.scalar == nil }

// text is a string value, or ok=false for anything else (which dockerd would refuse to decode as a string).
func (v *jsonValue) text() (string, bool) {
	s, ok := v.scalar.(string)
	return s, ok
}

// Log drivers that keep logs on this machine; every other one (gelf, syslog, fluentd, splunk, awslogs, gcplogs,
// logentries, a plugin) makes dockerd itself send each container's output to another host.
var localLogDrivers = map[string]bool{"": true, "json-file": true, "local": true, "journald": true, "none": true}

// Filesystem types the local volume driver mounts from this machine; nfs, cifs and the like mount another host.
var localMountTypes = map[string]bool{
	"": true, "none": true, "bind": true, "tmpfs": true, "ext2": true, "ext3": true, "ext4": true, "xfs": true,
	"btrfs": true, "overlay": true, "vfat": true,
}

// containerConfig checks a container create body: its HostConfig, and the deprecated top-level copy of HostConfig's
// fields that dockerd still reads when HostConfig is absent.
func containerConfig(v *jsonValue) string {
	if why := hostConfig(v); why != "" {
		return why
	}
	for _, hc := range v.all("HostConfig") {
		if why := hostConfig(hc); why != "" {
			return why
		}
	}
	return ""
}

// hostConfig checks what in a HostConfig makes dockerd reach another host: a log driver, a volume driver, or
// volume mounts of a network filesystem.
func hostConfig(v *jsonValue) string {
	for _, lc := range v.all("LogConfig") {
		for _, t := range lc.all("Type") {
			name, ok := t.text()
			if !ok || !localLogDrivers[name] {
				return "log driver " + describe(t) + " (it sends container logs to another host; use json-file or local)"
			}
		}
	}
	for _, d := range v.all("VolumeDriver") {
		if why := volumeDriver(d); why != "" {
			return why
		}
	}
	for _, mounts := range v.all("Mounts") {
		for _, m := range mounts.items {
			for _, t := range m.all("Type") {
				if s, ok := t.text(); !ok || strings.EqualFold(s, "cluster") {
					return "mount of type " + describe(t) + " (a swarm cluster volume)"
				}
			}
			for _, vo := range m.all("VolumeOptions") {
				for _, dc := range vo.all("DriverConfig") {
					if why := volume(dc.all("Name"), dc.all("Options")); why != "" {
						return why
					}
				}
			}
		}
	}
	return ""
}

// volumeConfig checks a volume create body.
func volumeConfig(v *jsonValue) string {
	return volume(v.all("Driver"), v.all("DriverOpts"))
}

// volume checks a volume's driver names and driver options, wherever they were given.
func volume(drivers, options []*jsonValue) string {
	for _, d := range drivers {
		if why := volumeDriver(d); why != "" {
			return why
		}
	}
	for _, o := range options {
		if why := volumeOptions(o); why != "" {
			return why
		}
	}
	return ""
}

// volumeDriver allows the local driver only: any other is a plugin, which dockerd finds by name and may reach
// over TCP.
func volumeDriver(v *jsonValue) string {
	name, ok := v.text()
	if !ok || (name != "" && name != "local") {
		return "volume driver " + describe(v) + " (only the local driver is allowed)"
	}
	return ""
}

// volumeOptions refuses local-driver options that mount another host: a network filesystem type, or an addr=
// mount option (which dockerd also resolves in DNS).
func volumeOptions(v *jsonValue) string {
	if !v.object {
		return "volume options that are not an object"
	}
	for _, m := range v.members {
		value, ok := m.value.text()
		if !ok {
			return "volume option " + m.name + " that is not a string"
		}
		switch {
		case strings.EqualFold(m.name, "type") && !localMountTypes[strings.ToLower(value)]:
			return "volume of filesystem type " + value + " (it mounts another host)"
		case strings.EqualFold(m.name, "o") && strings.Contains(strings.ToLower(value), "addr="):
			return "volume mount option addr= (it mounts another host)"
		}
	}
	return ""
}

func describe(v *jsonValue) string {
	if s, ok := v.text(); ok {
		return `"` + s + `"`
	}
	var b bytes.Buffer
	_ = json.NewEncoder(io.Writer(&b)).Encode(v.scalar)
	return strings.TrimSpace(b.String())
}
