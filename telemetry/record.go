package telemetry

import (
	"strconv"
	"time"
)

// Values of x-edge-result-type and x-edge-response-result-type: how the edge
// classified a response (CloudFront standard log fields 14 and 23).
const (
	ResultHit              = "Hit"
	ResultRefreshHit       = "RefreshHit"
	ResultMiss             = "Miss"
	ResultLimitExceeded    = "LimitExceeded"
	ResultCapacityExceeded = "CapacityExceeded"
	ResultError            = "Error"
	ResultRedirect         = "Redirect"
)

// Values of x-edge-detailed-result-type (field 29) beyond the Result*
// values, which it repeats in every other case.
const (
	// DetailedOriginShieldHit: served from the shield tier.
	DetailedOriginShieldHit = "OriginShieldHit"
	// DetailedMissGeneratedResponse: not in cache, and an origin-request
	// function generated the response.
	DetailedMissGeneratedResponse = "MissGeneratedResponse"

	// The rest detail a result type of Error.
	DetailedAbortedOrigin                 = "AbortedOrigin"
	DetailedClientCommError               = "ClientCommError"
	DetailedClientGeoBlocked              = "ClientGeoBlocked"
	DetailedClientHungUpRequest           = "ClientHungUpRequest"
	DetailedError                         = "Error"
	DetailedInvalidRequest                = "InvalidRequest"
	DetailedInvalidRequestBlocked         = "InvalidRequestBlocked"
	DetailedInvalidRequestCertificate     = "InvalidRequestCertificate"
	DetailedInvalidRequestHeader          = "InvalidRequestHeader"
	DetailedInvalidRequestMethod          = "InvalidRequestMethod"
	DetailedOriginCommError               = "OriginCommError"
	DetailedOriginConnectError            = "OriginConnectError"
	DetailedOriginContentRangeLengthError = "OriginContentRangeLengthError"
	DetailedOriginDNSError                = "OriginDnsError"
	DetailedOriginError                   = "OriginError"
	DetailedOriginHeaderTooBigError       = "OriginHeaderTooBigError"
	DetailedOriginInvalidResponseError    = "OriginInvalidResponseError"
	DetailedOriginReadError               = "OriginReadError"
	DetailedOriginWriteError              = "OriginWriteError"
	DetailedOriginZeroSizeObjectError     = "OriginZeroSizeObjectError"
	DetailedSlowReaderOriginError         = "SlowReaderOriginError"
)

// LogHeader is what starts every access log file: the W3C extended log
// format version line and the 33 CloudFront standard log fields, in order.
const LogHeader = "#Version: 1.0\n" +
	"#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) " +
	"cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) " +
	"x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes " +
	"time-taken x-forwarded-for ssl-protocol ssl-cipher " +
	"x-edge-response-result-type cs-protocol-version fle-status " +
	"fle-encrypted-fields c-port time-to-first-byte " +
	"x-edge-detailed-result-type sc-content-type sc-content-len " +
	"sc-range-start sc-range-end\n"

// Record is one served request, as the access log and the metrics see it.
// The comment on each field names the log field it becomes; an empty string
// is logged as "-".
type Record struct {
	// Time is when the edge finished responding (date, time; logged in UTC).
	Time time.Time
	// EdgeLocation is the POP that served the request (x-edge-location).
	EdgeLocation string
	// ScBytes is every byte sent to the viewer, headers included (sc-bytes).
	ScBytes int64
	// ClientIP is the address of the viewer's connection (c-ip).
	ClientIP string
	// Method (cs-method), Host (cs(Host): the distribution's own domain
	// name) and URIStem (cs-uri-stem: the path, without the query).
	Method, Host, URIStem string
	// Status is the response status (sc-status); 0 means the viewer left
	// before a response started and is logged as "000".
	Status int
	// Referer, UserAgent, Query and Cookie are the request's Referer and
	// User-Agent headers, its query string as received, without the '?'
	// (cs-uri-query), and its Cookie header.
	Referer, UserAgent, Query, Cookie string
	// EdgeResultType (x-edge-result-type, a Result* value), RequestID
	// (x-edge-request-id), HostHeader (x-host-header: the Host the viewer
	// sent) and Protocol (cs-protocol: http, https, ws, wss).
	EdgeResultType, RequestID, HostHeader, Protocol string
	// CsBytes is every byte the viewer sent, headers included (cs-bytes).
	CsBytes int64
	// TimeTaken runs from receiving the request to writing the last byte
	// (time-taken, logged in seconds to the millisecond).
	TimeTaken time.Duration
	// ForwardedFor (x-forwarded-for), SSLProtocol (ssl-protocol),
	// SSLCipher (ssl-cipher), ResponseResultType
	// (x-edge-response-result-type, a Result* value) and ProtocolVersion
	// (cs-protocol-version: HTTP/1.1, HTTP/2.0, HTTP/3.0).
	ForwardedFor, SSLProtocol, SSLCipher, ResponseResultType, ProtocolVersion string
	// ClientPort is the viewer's source port (c-port); 0 is logged as "-".
	ClientPort int
	// TimeToFirstByte runs from receiving the request to writing the first
	// response byte (time-to-first-byte).
	TimeToFirstByte time.Duration
	// DetailedResultType (x-edge-detailed-result-type, a Result* or
	// Detailed* value) and ContentType (sc-content-type).
	DetailedResultType, ContentType string
	// ContentLength is the response's Content-Length (sc-content-len);
	// -1 means unknown.
	ContentLength int64
	// RangeStart and RangeEnd come from the response's Content-Range
	// (sc-range-start, sc-range-end); -1 means no range.
	RangeStart, RangeEnd int64
	// Distribution names the distribution that served the request. It is
	// not a log field; metrics are labelled with it.
	Distribution string
}

// AppendRecord appends r to dst as one access log line: the 33 fields in
// CloudFront's order, tab-separated, ending in '\n'. It does not allocate
// when dst has room for the line.
func AppendRecord(dst []byte, r *Record) []byte {
	t := r.Time.UTC()
	dst = appendDate(dst, t)
	dst = append(dst, '\t')
	dst = appendClock(dst, t)
	dst = append(dst, '\t')
	dst = appendField(dst, r.EdgeLocation)
	dst = append(dst, '\t')
	dst = strconv.AppendInt(dst, r.ScBytes, 10)
	dst = append(dst, '\t')
	dst = appendField(dst, r.ClientIP)
	dst = append(dst, '\t')
	dst = appendField(dst, r.Method)
	dst = append(dst, '\t')
	dst = appendField(dst, r.Host)
	dst = append(dst, '\t')
	dst = appendField(dst, r.URIStem)
	dst = append(dst, '\t')
	if r.Status == 0 {
		dst = append(dst, "000"...)
	} else {
		dst = strconv.AppendInt(dst, int64(r.Status), 10)
	}
	dst = append(dst, '\t')
	dst = appendField(dst, r.Referer)
	dst = append(dst, '\t')
	dst = appendField(dst, r.UserAgent)
	dst = append(dst, '\t')
	dst = appendField(dst, r.Query)
	dst = append(dst, '\t')
	dst = appendField(dst, r.Cookie)
	dst = append(dst, '\t')
	dst = appendField(dst, r.EdgeResultType)
	dst = append(dst, '\t')
	dst = appendField(dst, r.RequestID)
	dst = append(dst, '\t')
	dst = appendField(dst, r.HostHeader)
	dst = append(dst, '\t')
	dst = appendField(dst, r.Protocol)
	dst = append(dst, '\t')
	dst = strconv.AppendInt(dst, r.CsBytes, 10)
	dst = append(dst, '\t')
	dst = appendSeconds(dst, r.TimeTaken)
	dst = append(dst, '\t')
	dst = appendField(dst, r.ForwardedFor)
	dst = append(dst, '\t')
	dst = appendField(dst, r.SSLProtocol)
	dst = append(dst, '\t')
	dst = appendField(dst, r.SSLCipher)
	dst = append(dst, '\t')
	dst = appendField(dst, r.ResponseResultType)
	dst = append(dst, '\t')
	dst = appendField(dst, r.ProtocolVersion)
	// fle-status and fle-encrypted-fields: Tern has no field-level
	// encryption, and CloudFront logs "-" when it is not configured.
	dst = append(dst, "\t-\t-\t"...)
	dst = appendOptional(dst, int64(r.ClientPort), 1)
	dst = append(dst, '\t')
	dst = appendSeconds(dst, r.TimeToFirstByte)
	dst = append(dst, '\t')
	dst = appendField(dst, r.DetailedResultType)
	dst = append(dst, '\t')
	dst = appendField(dst, r.ContentType)
	dst = append(dst, '\t')
	dst = appendOptional(dst, r.ContentLength, 0)
	dst = append(dst, '\t')
	dst = appendOptional(dst, r.RangeStart, 0)
	dst = append(dst, '\t')
	dst = appendOptional(dst, r.RangeEnd, 0)
	return append(dst, '\n')
}

// escaped marks the bytes CloudFront writes URL-encoded in any log field:
// codes 0-32 and 127-255, and < > " # % { } | \ ^ ~ [ ] ` ' (the table in
// CloudFront's "Standard log file format", which follows RFC 1738 §2.2).
// Escaping % keeps every logged value reversible with one URL-decode, and
// escaping tab and newline keeps one record per line and 33 fields per
// record whatever a viewer sends.
var escaped = func() (t [256]bool) {
	for c := 0; c <= 32; c++ {
		t[c] = true
	}
	for c := 127; c < 256; c++ {
		t[c] = true
	}
	for _, c := range []byte("<>\"#%{}|\\^~[]`'") {
		t[c] = true
	}
	return t
}()

const hexDigits = "0123456789ABCDEF"

// appendField appends s with CloudFront's escaping, or "-" when s is empty.
func appendField(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '-')
	}
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !escaped[c] {
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&0xF])
		start = i + 1
	}
	return append(dst, s[start:]...)
}

// appendOptional appends n, or "-" when n is below min.
func appendOptional(dst []byte, n, min int64) []byte {
	if n < min {
		return append(dst, '-')
	}
	return strconv.AppendInt(dst, n, 10)
}

// appendSeconds appends d in seconds with three decimals (0.082), rounded
// to the nearest millisecond; negative durations are logged as 0.000.
func appendSeconds(dst []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	ms := int64((d + time.Millisecond/2) / time.Millisecond)
	dst = strconv.AppendInt(dst, ms/1000, 10)
	frac := ms % 1000
	return append(dst, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// appendDate appends t as YYYY-MM-DD.
func appendDate(dst []byte, t time.Time) []byte {
	y, m, d := t.Date()
	dst = appendPadded(dst, y, 4)
	dst = append(dst, '-')
	dst = appendPadded(dst, int(m), 2)
	dst = append(dst, '-')
	return appendPadded(dst, d, 2)
}

// appendClock appends t as HH:MM:SS.
func appendClock(dst []byte, t time.Time) []byte {
	h, m, s := t.Clock()
	dst = appendPadded(dst, h, 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, m, 2)
	dst = append(dst, ':')
	return appendPadded(dst, s, 2)
}

// appendPadded appends n, zero-padded to width digits.
func appendPadded(dst []byte, n, width int) []byte {
	if n < 0 {
		dst = append(dst, '-')
		n = -n
	}
	for w, p := width, 1; w > 1; w-- {
		p *= 10
		if n < p {
			dst = append(dst, '0')
		}
	}
	return strconv.AppendInt(dst, int64(n), 10)
}
