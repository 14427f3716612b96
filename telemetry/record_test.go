package telemetry

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func knownRecord() *Record {
	return &Record{
		Time:               time.Date(2026, 11, 25, 20, 10, 33, 0, time.FixedZone("CET", 3600)),
		EdgeLocation:       "LHR1",
		ScBytes:            392,
		ClientIP:           "192.0.2.100",
		Method:             "GET",
		Host:               "d111111abcdef8.tern.example",
		URIStem:            "/index.html",
		Status:             200,
		UserAgent:          "curl/8.5.0",
		EdgeResultType:     ResultHit,
		RequestID:          "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==",
		HostHeader:         "www.example.com",
		Protocol:           "https",
		CsBytes:            23,
		TimeTaken:          82 * time.Millisecond,
		SSLProtocol:        "TLSv1.3",
		SSLCipher:          "TLS_AES_128_GCM_SHA256",
		ResponseResultType: ResultHit,
		ProtocolVersion:    "HTTP/2.0",
		ClientPort:         11040,
		TimeToFirstByte:    1400 * time.Microsecond,
		DetailedResultType: ResultHit,
		ContentType:        "text/html",
		ContentLength:      78,
		RangeStart:         -1,
		RangeEnd:           -1,
		Distribution:       "web",
	}
}

func TestAppendRecordKnownLine(t *testing.T) {
	want := "2026-11-25\t19:10:33\tLHR1\t392\t192.0.2.100\tGET\td111111abcdef8.tern.example\t/index.html\t200\t-\tcurl/8.5.0\t-\t-\t" +
		"Hit\tSOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\twww.example.com\thttps\t23\t0.082\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\t" +
		"Hit\tHTTP/2.0\t-\t-\t11040\t0.001\tHit\ttext/html\t78\t-\t-\n"
	got := string(AppendRecord(nil, knownRecord()))
	if got != want {
		t.Fatalf("line mismatch\n got: %q\nwant: %q", got, want)
	}
	if n := strings.Count(got, "\t"); n != 32 {
		t.Errorf("got %d tabs, want 32 (33 fields)", n)
	}
}

// TestAppendRecordFieldOrder checks every field lands in its CloudFront
// position, by giving each one a distinct value and reading it back by the
// name the #Fields header line gives it.
func TestAppendRecordFieldOrder(t *testing.T) {
	r := &Record{
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), EdgeLocation: "loc", ScBytes: 4,
		ClientIP: "cip", Method: "m", Host: "host", URIStem: "/stem", Status: 304,
		Referer: "ref", UserAgent: "ua", Query: "q=1", Cookie: "c=1",
		EdgeResultType: "ert", RequestID: "rid", HostHeader: "hh", Protocol: "proto",
		CsBytes: 18, TimeTaken: 19 * time.Second, ForwardedFor: "xff", SSLProtocol: "sslp",
		SSLCipher: "sslc", ResponseResultType: "rrt", ProtocolVersion: "pv", ClientPort: 27,
		TimeToFirstByte: 28 * time.Second, DetailedResultType: "drt", ContentType: "ct",
		ContentLength: 31, RangeStart: 32, RangeEnd: 33,
	}
	want := map[string]string{
		"date": "2026-01-02", "time": "03:04:05", "x-edge-location": "loc", "sc-bytes": "4",
		"c-ip": "cip", "cs-method": "m", "cs(Host)": "host", "cs-uri-stem": "/stem",
		"sc-status": "304", "cs(Referer)": "ref", "cs(User-Agent)": "ua", "cs-uri-query": "q=1",
		"cs(Cookie)": "c=1", "x-edge-result-type": "ert", "x-edge-request-id": "rid",
		"x-host-header": "hh", "cs-protocol": "proto", "cs-bytes": "18", "time-taken": "19.000",
		"x-forwarded-for": "xff", "ssl-protocol": "sslp", "ssl-cipher": "sslc",
		"x-edge-response-result-type": "rrt", "cs-protocol-version": "pv", "fle-status": "-",
		"fle-encrypted-fields": "-", "c-port": "27", "time-to-first-byte": "28.000",
		"x-edge-detailed-result-type": "drt", "sc-content-type": "ct", "sc-content-len": "31",
		"sc-range-start": "32", "sc-range-end": "33",
	}
	names := strings.Fields(strings.TrimPrefix(strings.Split(LogHeader, "\n")[1], "#Fields:"))
	if len(names) != 33 {
		t.Fatalf("#Fields lists %d fields, want 33", len(names))
	}
	line := string(AppendRecord(nil, r))
	values := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
	if len(values) != len(names) {
		t.Fatalf("line has %d fields, header %d", len(values), len(names))
	}
	for i, name := range names {
		if values[i] != want[name] {
			t.Errorf("field %d %s = %q, want %q", i+1, name, values[i], want[name])
		}
	}
}

func TestAppendRecordValues(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Record)
		field int // 0-based index in the line
		want  string
	}{
		{"spaces and parens in user agent", func(r *Record) { r.UserAgent = "Mozilla/5.0 (X11; Linux)" }, 10, "Mozilla/5.0%20(X11;%20Linux)"},
		{"tab and newline cannot split the line", func(r *Record) { r.UserAgent = "a\tb\nc\rd" }, 10, "a%09b%0Ac%0Dd"},
		{"non-ASCII as UTF-8 bytes", func(r *Record) { r.URIStem = "/café/日" }, 7, "/caf%C3%A9/%E6%97%A5"},
		{"DEL and NUL", func(r *Record) { r.Referer = "x\x7fy\x00" }, 9, "x%7Fy%00"},
		{"table characters", func(r *Record) { r.Cookie = `<>"#%{}|\^~[]` + "`'" }, 12, "%3C%3E%22%23%25%7B%7D%7C%5C%5E%7E%5B%5D%60%27"},
		{"safe punctuation kept", func(r *Record) { r.URIStem = "/a-b_c.d/e;f,g+h=i&j:k@l!m$n*o(p)" }, 7, "/a-b_c.d/e;f,g+h=i&j:k@l!m$n*o(p)"},
		{"query as received, percent escaped", func(r *Record) { r.Query = "q=a%20b&x=1" }, 11, "q=a%2520b&x=1"},
		{"empty query", func(r *Record) { r.Query = "" }, 11, "-"},
		{"status 0 is 000", func(r *Record) { r.Status = 0 }, 8, "000"},
		{"time-taken rounds to ms", func(r *Record) { r.TimeTaken = 1500*time.Microsecond + 1 }, 18, "0.002"},
		{"time-taken many seconds", func(r *Record) { r.TimeTaken = 75*time.Second + 5*time.Millisecond }, 18, "75.005"},
		{"negative time-taken", func(r *Record) { r.TimeTaken = -time.Second }, 18, "0.000"},
		{"unknown port", func(r *Record) { r.ClientPort = 0 }, 26, "-"},
		{"unknown content length", func(r *Record) { r.ContentLength = -1 }, 30, "-"},
		{"zero content length", func(r *Record) { r.ContentLength = 0 }, 30, "0"},
		{"range start 0", func(r *Record) { r.RangeStart, r.RangeEnd = 0, 99 }, 31, "0"},
		{"range end", func(r *Record) { r.RangeStart, r.RangeEnd = 0, 99 }, 32, "99"},
		{"ipv6 client", func(r *Record) { r.ClientIP = "2001:db8::1" }, 4, "2001:db8::1"},
		{"xff list", func(r *Record) { r.ForwardedFor = "192.0.2.1, 198.51.100.2" }, 19, "192.0.2.1,%20198.51.100.2"},
		{"year padding", func(r *Record) { r.Time = time.Date(999, 3, 4, 5, 6, 7, 0, time.UTC) }, 0, "0999-03-04"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := knownRecord()
			tt.edit(r)
			line := string(AppendRecord(nil, r))
			fields := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
			if len(fields) != 33 || strings.Count(line, "\n") != 1 {
				t.Fatalf("line breaks the format: %q", line)
			}
			if got := fields[tt.field]; got != tt.want {
				t.Errorf("field %d = %q, want %q", tt.field+1, got, tt.want)
			}
		})
	}
}

func TestAppendRecordAppends(t *testing.T) {
	prefix := []byte("keep:")
	out := AppendRecord(prefix, knownRecord())
	if !bytes.HasPrefix(out, []byte("keep:2026-11-25\t")) {
		t.Fatalf("AppendRecord did not append to dst: %q", out[:20])
	}
}

func TestAppendRecordNoAllocs(t *testing.T) {
	r := knownRecord()
	r.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() { buf = AppendRecord(buf[:0], r) })
	if allocs != 0 {
		t.Errorf("AppendRecord allocated %.1f times per call with room in dst", allocs)
	}
}

func BenchmarkAppendRecord(b *testing.B) {
	r := knownRecord()
	r.UserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.108 Safari/537.36"
	r.Query = "v=3&lang=en"
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendRecord(buf[:0], r)
	}
}

// FuzzAppendRecord checks that nothing a viewer sends can break the line
// format: always 33 fields, one line, and only printable ASCII.
func FuzzAppendRecord(f *testing.F) {
	f.Add("/index.html", "Mozilla/5.0 (X11)", "a=1&b=%20", "s=1; t=2", "https://example.com/")
	f.Add("/\t\n", "\x00\xff", "#", "'\"", "日本")
	f.Fuzz(func(t *testing.T, stem, ua, query, cookie, referer string) {
		r := knownRecord()
		r.URIStem, r.UserAgent, r.Query, r.Cookie, r.Referer = stem, ua, query, cookie, referer
		line := AppendRecord(nil, r)
		if line[len(line)-1] != '\n' || bytes.Count(line, []byte("\n")) != 1 {
			t.Fatalf("not one line: %q", line)
		}
		if n := bytes.Count(line, []byte("\t")); n != 32 {
			t.Fatalf("%d tabs, want 32: %q", n, line)
		}
		for _, c := range line[:len(line)-1] {
			if c != '\t' && (c <= ' ' || c >= 0x7f) {
				t.Fatalf("unescaped byte %#x in %q", c, line)
			}
		}
	})
}
