package config

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		err  bool
	}{
		{in: "4096", want: 4096},
		{in: "512MiB", want: 512 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "64KB", want: 64000},
		{in: "1.5GB", want: 1_500_000_000},
		{in: "1.5 KiB", want: 1536},
		{in: "2gib", want: 2 << 30},
		{in: "10B", want: 10},
		{in: "3TiB", want: 3 << 40},
		{in: "", err: true},
		{in: "MiB", err: true},
		{in: "12 apples", err: true},
		{in: "0x10", err: true},
		{in: "NaN", err: true},
		{in: "1e30GiB", err: true},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	tests := []struct {
		in   ByteSize
		want string
	}{
		{0, "0B"},
		{512 * MiB, "512MiB"},
		{1536, "1536B"},
		{64000, "64KB"},
		{1 << 30, "1GiB"},
		{1000, "1KB"},
		{1500, "1500B"},
		{-2 * KiB, "-2KiB"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		if tt.in > 0 {
			back, err := ParseByteSize(tt.in.String())
			if err != nil || back != tt.in {
				t.Errorf("ParseByteSize(%q) = %v, %v; want %d back", tt.in.String(), back, err, int64(tt.in))
			}
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{in: "86400", want: 24 * time.Hour},
		{in: "0", want: 0},
		{in: "0.5", want: 500 * time.Millisecond},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "-5", want: -5 * time.Second},
		{in: "soon", err: true},
		{in: "1e300", err: true},
		{in: "Inf", err: true},
		{in: "", err: true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.err || got.Std() != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestUnitsYAML checks the YAML forms, and that bad values are reported
// with their line.
func TestUnitsYAML(t *testing.T) {
	var v struct {
		Size ByteSize `yaml:"size"`
		TTL  Duration `yaml:"ttl"`
	}
	if err := yaml.Unmarshal([]byte("size: 1MiB\nttl: 90\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.Size != MiB || v.TTL.Std() != 90*time.Second {
		t.Errorf("got size %v ttl %v, want 1MiB and 90s", v.Size, v.TTL)
	}
	if err := yaml.Unmarshal([]byte("size: 7\nttl: 250ms\n"), &v); err != nil || v.Size != 7 || v.TTL.Std() != 250*time.Millisecond {
		t.Errorf("got size %v ttl %v err %v, want 7B and 250ms", v.Size, v.TTL, err)
	}
	for _, bad := range []string{"\nsize: 0\n", "\nsize: -1MiB\n", "\nsize: [1]\n", "\nttl: soon\n", "\nttl: {a: 1}\n"} {
		err := yaml.Unmarshal([]byte(bad), &v)
		if err == nil || !strings.Contains(err.Error(), "line 2:") {
			t.Errorf("Unmarshal(%q) error = %v, want one naming line 2", bad, err)
		}
	}

	out, err := yaml.Marshal(map[string]any{"size": 512 * MiB, "whole": Duration(time.Hour), "fine": Duration(1500 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"size: 512MiB", "whole: 3600", "fine: 1.5s"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Marshal output %q lacks %q", out, want)
		}
	}
}
