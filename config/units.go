package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ByteSize is a size in bytes. In YAML it is either an integer (bytes) or a
// string with a unit: "512MiB", "1GiB", "64KB", "1.5GB". Units are B, KB,
// MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB (powers of 1024), in
// any letter case, with or without a space before the unit.
type ByteSize int64

// Common sizes.
const (
	KiB ByteSize = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

var byteUnits = []struct {
	name string
	size float64
}{
	// Longest names first, so "KiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"b", 1},
}

// ParseByteSize reads a size such as "512MiB", "1.5GB" or "4096".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	num, mult := t, 1.0
	lower := strings.ToLower(t)
	for _, u := range byteUnits {
		if strings.HasSuffix(lower, u.name) {
			num, mult = strings.TrimSpace(t[:len(t)-len(u.name)]), u.size
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" || strings.ContainsAny(num, "xXpP_") || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a size (examples: 4096, \"64KiB\", \"512MiB\", \"1.5GB\")", s)
	}
	v := math.Round(f * mult)
	if v >= math.MaxInt64 || v <= math.MinInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return ByteSize(v), nil
}

// String formats the size exactly, in the largest unit that divides it:
// binary units first ("512MiB"), then decimal ("64KB"), else bytes ("1000B"
// becomes "1KB", 1500 stays "1500B").
func (b ByteSize) String() string {
	if b == 0 {
		return "0B"
	}
	if b < 0 {
		if b == math.MinInt64 {
			return strconv.FormatInt(int64(b), 10) + "B"
		}
		return "-" + (-b).String()
	}
	for _, u := range [...]struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}} {
		if int64(b)%u.size == 0 {
			return strconv.FormatInt(int64(b)/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// UnmarshalYAML reads an integer (bytes) or a string with a unit. Zero and
// negative sizes are refused here, with the line, since no size in the file
// can be zero: leave a field out to get its default.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "expected a size such as 4096 or \"512MiB\"")
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return typeError(n, "%v", err)
	}
	if v <= 0 {
		return typeError(n, "size %s must be positive (leave the field out for its default)", n.Value)
	}
	*b = v
	return nil
}

// MarshalYAML writes the size as String does.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// Duration is a length of time. In YAML a number is seconds, as in
// CloudFront (86400, 0.5), and a string is a Go duration ("500ms", "1h30m").
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d as a Go duration ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// ParseDuration reads seconds ("86400", "0.5") or a Go duration ("500ms").
func ParseDuration(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(t, 64); err == nil && !strings.ContainsAny(t, "xXpP_") {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > float64(math.MaxInt64)/float64(time.Second) {
			return 0, fmt.Errorf("%q is out of range", s)
		}
		return Duration(math.Round(f * float64(time.Second))), nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (seconds such as 30, or \"500ms\", \"1h\")", s)
	}
	return Duration(d), nil
}

// UnmarshalYAML reads seconds or a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "expected seconds or a duration such as \"500ms\"")
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return typeError(n, "%v", err)
	}
	*d = v
	return nil
}

// MarshalYAML writes whole seconds as a number, anything finer as a string.
func (d Duration) MarshalYAML() (any, error) {
	if time.Duration(d)%time.Second == 0 {
		return int64(time.Duration(d) / time.Second), nil
	}
	return d.String(), nil
}

// typeError makes an error the YAML decoder collects (with the others) and
// reports with its line, instead of stopping at the first one.
func typeError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, fmt.Sprintf(format, args...))}}
}
