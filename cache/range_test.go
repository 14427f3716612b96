package cache

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRange(t *testing.T) {
	many := "bytes=" + strings.Repeat("0-0,", MaxRanges) + "0-0"
	tests := []struct {
		value string
		size  int64
		want  []ByteRange
		err   error
	}{
		{"bytes=0-99", 1000, []ByteRange{{0, 99}}, nil},
		{"bytes=-500", 1000, []ByteRange{{500, 999}}, nil},
		{"bytes=-2000", 1000, []ByteRange{{0, 999}}, nil},
		{"bytes=100-", 1000, []ByteRange{{100, 999}}, nil},
		{"bytes=0-5000", 1000, []ByteRange{{0, 999}}, nil},
		{"bytes=0-99999999999999999999999", 1000, []ByteRange{{0, 999}}, nil},
		{"Bytes=0-1", 1000, []ByteRange{{0, 1}}, nil},
		{"bytes=0-0,-1", 1000, []ByteRange{{0, 0}, {999, 999}}, nil},
		{"bytes=500-600,0-10", 1000, []ByteRange{{500, 600}, {0, 10}}, nil},
		{"bytes=0-10,5-20", 1000, []ByteRange{{0, 20}}, nil},
		{"bytes=500-600,0-10,550-700", 1000, []ByteRange{{0, 10}, {500, 700}}, nil},
		{"bytes=0-10,50-60", 1000, []ByteRange{{0, 60}}, nil},
		{"bytes= 0-1 , ,900-901", 1000, []ByteRange{{0, 1}, {900, 901}}, nil},
		{"bytes=2000-3000,0-1", 1000, []ByteRange{{0, 1}}, nil},
		{"bytes=1000-", 1000, nil, ErrUnsatisfiable},
		{"bytes=-0", 1000, nil, ErrUnsatisfiable},
		{"bytes=0-", 0, nil, ErrUnsatisfiable},
		{"bytes=-5", 0, nil, ErrUnsatisfiable},
		{"bytes=5-1", 1000, nil, ErrIgnoreRange},
		{"items=0-1", 1000, nil, ErrIgnoreRange},
		{"bytes=abc", 1000, nil, ErrIgnoreRange},
		{"bytes=", 1000, nil, ErrIgnoreRange},
		{"bytes=0-1,x-2", 1000, nil, ErrIgnoreRange},
		{"bytes=-", 1000, nil, ErrIgnoreRange},
		{"bytes=1-2-3", 1000, nil, ErrIgnoreRange},
		{"0-1", 1000, nil, ErrIgnoreRange},
		{many, 1000, nil, ErrIgnoreRange},
	}
	for _, tt := range tests {
		got, err := ParseRange(tt.value, tt.size)
		if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) || !slices.Equal(got, tt.want) {
			name := tt.value
			if len(name) > 40 {
				name = name[:40] + "..."
			}
			t.Errorf("ParseRange(%q, %d) = %v, %v; want %v, %v (RFC 9110 §14.2)", name, tt.size, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-99", "bytes=-5", "bytes=5-", "bytes=0-0,2-3,1-1", "bytes=99999999999999999999-", "bytes=,,"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, s string, size int64) {
		if size < 0 {
			size = -size
		}
		rs, err := ParseRange(s, size)
		if err != nil {
			if rs != nil {
				t.Fatalf("ParseRange(%q, %d) returned ranges with error %v", s, size, err)
			}
			return
		}
		if len(rs) == 0 || len(rs) > MaxRanges {
			t.Fatalf("ParseRange(%q, %d) = %d ranges", s, size, len(rs))
		}
		for _, r := range rs {
			if r.Start < 0 || r.Start > r.End || r.End >= size {
				t.Fatalf("ParseRange(%q, %d): range %v outside [0, %d)", s, size, r, size)
			}
		}
	})
}

func TestIfRangeAllows(t *testing.T) {
	lm := t0.Add(-time.Hour)
	stored := hdr("ETag", `"v1"`, "Last-Modified", httpDate(lm), "Date", httpDate(t0))
	recent := hdr("Last-Modified", httpDate(t0.Add(-30*time.Second)), "Date", httpDate(t0))
	weak := hdr("ETag", `W/"v1"`)
	tests := []struct {
		name    string
		ifRange string
		stored  Header
		want    bool
	}{
		{"strong ETag match §13.1.5", `"v1"`, stored, true},
		{"ETag mismatch §13.1.5", `"v2"`, stored, false},
		{"weak If-Range never matches §13.1.5", `W/"v1"`, stored, false},
		{"weak stored ETag never matches §13.1.5", `"v1"`, weak, false},
		{"exact Last-Modified §13.1.5", httpDate(lm), stored, true},
		{"other date §13.1.5", httpDate(lm.Add(time.Second)), stored, false},
		{"weak Last-Modified, under 60s before Date §8.8.2.2", httpDate(t0.Add(-30 * time.Second)), recent, false},
		{"date without stored Date §8.8.2.2", httpDate(lm), hdr("Last-Modified", httpDate(lm)), false},
		{"garbage", "yesterday", stored, false},
		{"empty", "", stored, false},
	}
	for _, tt := range tests {
		if got := IfRangeAllows(tt.ifRange, tt.stored); got != tt.want {
			t.Errorf("%s: IfRangeAllows(%q) = %v, want %v", tt.name, tt.ifRange, got, tt.want)
		}
	}
}

func TestContentRange(t *testing.T) {
	if got := ContentRange(ByteRange{0, 99}, 1000); got != "bytes 0-99/1000" {
		t.Errorf("ContentRange = %q (RFC 9110 §14.4)", got)
	}
	if got := UnsatisfiedRange(1000); got != "bytes */1000" {
		t.Errorf("UnsatisfiedRange = %q (RFC 9110 §14.4)", got)
	}
}

func TestWriteMultipart(t *testing.T) {
	body := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	size := int64(len(body))
	tests := []struct {
		name        string
		ranges      []ByteRange
		contentType string
	}{
		{"two parts", []ByteRange{{0, 3}, {30, 35}}, "text/plain; charset=utf-8"},
		{"no content type", []ByteRange{{10, 10}, {0, 0}, {35, 35}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			const boundary = "3d6b6a416f9b5"
			n, err := WriteMultipart(&buf, body, tt.ranges, tt.contentType, boundary)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(buf.Len()) || n != MultipartLength(tt.ranges, tt.contentType, boundary, size) {
				t.Fatalf("wrote %d (buffer %d), MultipartLength %d: must agree for Content-Length",
					n, buf.Len(), MultipartLength(tt.ranges, tt.contentType, boundary, size))
			}
			// RFC 9110 §14.6: a standard multipart reader sees each part.
			mr := multipart.NewReader(&buf, boundary)
			for i, r := range tt.ranges {
				p, err := mr.NextPart()
				if err != nil {
					t.Fatalf("part %d: %v", i, err)
				}
				if got := p.Header.Get("Content-Range"); got != ContentRange(r, size) {
					t.Errorf("part %d Content-Range %q, want %q", i, got, ContentRange(r, size))
				}
				if got := p.Header.Get("Content-Type"); got != tt.contentType {
					t.Errorf("part %d Content-Type %q, want %q", i, got, tt.contentType)
				}
				data, _ := io.ReadAll(p)
				if !bytes.Equal(data, body[r.Start:r.End+1]) {
					t.Errorf("part %d = %q, want %q", i, data, body[r.Start:r.End+1])
				}
			}
			if _, err := mr.NextPart(); err != io.EOF {
				t.Errorf("after the last part: %v, want EOF", err)
			}
		})
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("connection reset")
	}
	w.after--
	return len(p), nil
}

func TestWriteMultipartErrors(t *testing.T) {
	body := []byte("0123456789")
	if _, err := WriteMultipart(&failWriter{after: 1}, body, []ByteRange{{0, 1}}, "", "b"); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("write error not reported with its cause: %v", err)
	}
	if _, err := WriteMultipart(io.Discard, body, []ByteRange{{5, 10}}, "", "b"); err == nil {
		t.Error("range beyond the body not refused")
	}
}
