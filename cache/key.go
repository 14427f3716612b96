package cache

import (
	"net/textproto"
	"slices"
	"strings"
)

// Selection behaviors of a KeySelection, as in a CloudFront cache policy.
const (
	SelectNone      = "none"
	SelectWhitelist = "whitelist"
	SelectAllExcept = "allExcept"
	SelectAll       = "all"
)

// KeySelection chooses which headers, cookies or query string parameters
// are part of the cache key.
type KeySelection struct {
	// Behavior is "none" (also the empty string), "whitelist" (only Names),
	// "allExcept" (all but Names) or "all".
	Behavior string
	// Names are header names (compared case-insensitively), or cookie or
	// query parameter names (compared exactly, as CloudFront does).
	Names []string
}

// KeyPolicy is the cache key part of a CloudFront cache policy.
type KeyPolicy struct {
	Headers, Cookies, QueryStrings KeySelection
	// AcceptEncodingGzip, AcceptEncodingBrotli and AcceptEncodingZstd put
	// the viewer's normalised Accept-Encoding in the key, so compressed
	// and uncompressed variants are cached apart.
	AcceptEncodingGzip, AcceptEncodingBrotli, AcceptEncodingZstd bool
	// ChooseEncoding keys on the one coding the edge will send
	// (ChooseEncoding) instead of the set of codings the viewer accepts:
	// set when the edge compresses itself, so that viewers who get the
	// same bytes share one entry.
	ChooseEncoding bool
}

// AcceptsEncodings reports whether the key has an Accept-Encoding part.
func (p *KeyPolicy) AcceptsEncodings() bool {
	return p.AcceptEncodingGzip || p.AcceptEncodingBrotli || p.AcceptEncodingZstd
}

// SelectsHeader reports whether the selection includes the header name
// (compared case-insensitively).
func (s *KeySelection) SelectsHeader(name string) bool { return s.selects(name, true) }

// selects reports whether the selection includes name.
func (s *KeySelection) selects(name string, fold bool) bool {
	switch s.Behavior {
	case SelectAll:
		return true
	case SelectWhitelist:
		return s.named(name, fold)
	case SelectAllExcept:
		return !s.named(name, fold)
	}
	return false
}

func (s *KeySelection) named(name string, fold bool) bool {
	for _, n := range s.Names {
		if fold && strings.EqualFold(n, name) || !fold && n == name {
			return true
		}
	}
	return false
}

// AppendKey appends the primary cache key of a request to dst and returns
// the extended slice. The key is
//
//	distribution \0 path \0 query \0 headers \0 cookies \0 accept-encoding
//
// where query is the selected parameters, normalised (RFC 3986 §6.2.2:
// percent-encoded unreserved characters decoded, other percent-encodings
// in upper case) and sorted by name then value, so ?b=2&a=1 and ?a=1&b=2
// share a key; headers are the selected fields present in h, as
// lower-case-name ":" value, sorted by name; cookies are the selected
// cookies sorted by name then value; and accept-encoding is
// NormalizeAcceptEncoding of the viewer's field when the policy enables
// gzip, Brotli or zstd (with ChooseEncoding, ChooseEncoding's one coding
// instead). Every key of a URI starts with
// distribution+"\x00"+path+"\x00" (see InvalidationPrefix). path is the
// escaped path as received.
//
// AppendKey does not allocate when dst has room and the request has at
// most 16 selected query parameters and 16 selected cookies.
func AppendKey(dst []byte, distribution, path, rawQuery string, h Header, p *KeyPolicy) []byte {
	dst = append(dst, distribution...)
	dst = append(dst, 0)
	dst = append(dst, path...)
	dst = append(dst, 0)
	dst = appendQueryKey(dst, rawQuery, &p.QueryStrings)
	dst = append(dst, 0)
	dst = appendHeaderKey(dst, h, &p.Headers)
	dst = append(dst, 0)
	dst = appendCookieKey(dst, h["Cookie"], &p.Cookies)
	dst = append(dst, 0)
	if p.AcceptsEncodings() {
		dst = append(dst, p.Encoding(h["Accept-Encoding"])...)
	}
	return dst
}

// InvalidationPrefix is the key prefix that a CloudFront invalidation
// path covers in distribution: "/images/*" covers every key whose path
// starts with "/images/", and "/a.jpg" covers every key of /a.jpg, with
// any query string, header, cookie or Vary variant. A "*" is a wildcard
// only at the end (CloudFront semantics).
func InvalidationPrefix(distribution, path string) string {
	if strings.HasSuffix(path, "*") {
		return distribution + "\x00" + path[:len(path)-1]
	}
	return distribution + "\x00" + path + "\x00"
}

// pair is one query parameter or cookie, as substrings of the input.
type pair struct {
	name, value string
	hasValue    bool
}

func appendQueryKey(dst []byte, rawQuery string, sel *KeySelection) []byte {
	if rawQuery == "" || sel.Behavior == "" || sel.Behavior == SelectNone {
		return dst
	}
	var stack [16]pair
	pairs := stack[:0]
	for q := rawQuery; q != ""; {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		if kv == "" {
			continue
		}
		name, value, hasValue := strings.Cut(kv, "=")
		if !querySelects(sel, name) {
			continue
		}
		pairs = append(pairs, pair{name, value, hasValue})
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := compareNormalized(a.name, b.name); c != 0 {
			return c
		}
		if a.hasValue != b.hasValue {
			if a.hasValue {
				return 1
			}
			return -1
		}
		return compareNormalized(a.value, b.value)
	})
	for i, kv := range pairs {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = appendNormalized(dst, kv.name)
		if kv.hasValue {
			dst = append(dst, '=')
			dst = appendNormalized(dst, kv.value)
		}
	}
	return dst
}

// querySelects matches a raw (percent-encoded) parameter name against the
// selection's plain names.
func querySelects(sel *KeySelection, rawName string) bool {
	switch sel.Behavior {
	case SelectAll:
		return true
	case SelectWhitelist, SelectAllExcept:
		named := false
		for _, n := range sel.Names {
			if decodedEquals(rawName, n) {
				named = true
				break
			}
		}
		return named == (sel.Behavior == SelectWhitelist)
	}
	return false
}

// decodedEquals reports whether the percent-decoded raw equals plain.
func decodedEquals(raw, plain string) bool {
	j := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' && i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]) {
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
		}
		if j >= len(plain) || plain[j] != c {
			return false
		}
		j++
	}
	return j == len(plain)
}

// normReader yields the bytes of a URI component normalised as in
// RFC 3986 §6.2.2.1 and §6.2.2.2.
type normReader struct {
	s    string
	i    int
	pend [2]byte
	np   int // pending bytes, taken from pend[2-np:]
}

func (r *normReader) next() (byte, bool) {
	if r.np > 0 {
		c := r.pend[2-r.np]
		r.np--
		return c, true
	}
	if r.i >= len(r.s) {
		return 0, false
	}
	c := r.s[r.i]
	r.i++
	if c == '%' && r.i+1 < len(r.s) && isHex(r.s[r.i]) && isHex(r.s[r.i+1]) {
		v := unhex(r.s[r.i])<<4 | unhex(r.s[r.i+1])
		r.i += 2
		if isUnreserved(v) {
			return v, true
		}
		r.pend = [2]byte{upperHex[v>>4], upperHex[v&15]}
		r.np = 2
		return '%', true
	}
	return c, true
}

func compareNormalized(a, b string) int {
	ra, rb := normReader{s: a}, normReader{s: b}
	for {
		ca, oka := ra.next()
		cb, okb := rb.next()
		switch {
		case !oka && !okb:
			return 0
		case !oka:
			return -1
		case !okb:
			return 1
		case ca != cb:
			return int(ca) - int(cb)
		}
	}
}

func appendNormalized(dst []byte, s string) []byte {
	r := normReader{s: s}
	for {
		c, ok := r.next()
		if !ok {
			return dst
		}
		dst = append(dst, c)
	}
}

const upperHex = "0123456789ABCDEF"

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// isUnreserved reports whether c is an RFC 3986 §2.3 unreserved character.
func isUnreserved(c byte) bool {
	return isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~'
}

func appendHeaderKey(dst []byte, h Header, sel *KeySelection) []byte {
	switch sel.Behavior {
	case SelectWhitelist:
		// Names in lower-case order, duplicates skipped, without sorting
		// (and allocating) a copy: policies name a handful of headers.
		last, first := "", true
		for {
			best, found := "", false
			for _, n := range sel.Names {
				if (first || compareFold(last, n) < 0) && (!found || compareFold(n, best) < 0) {
					best, found = n, true
				}
			}
			if !found {
				return dst
			}
			dst = appendHeaderEntry(dst, best, lookupHeader(h, best))
			last, first = best, false
		}
	case SelectAll, SelectAllExcept:
		last, first := "", true
		for {
			best, found := "", false
			for k := range h {
				if (first || compareFold(last, k) < 0) && (!found || compareFold(k, best) < 0) &&
					sel.selects(k, true) && keyedElsewhere(k) {
					best, found = k, true
				}
			}
			if !found {
				return dst
			}
			dst = appendHeaderEntry(dst, best, h[best])
			last, first = best, false
		}
	}
	return dst
}

// keyedElsewhere reports whether the header k is not already keyed by its
// own part of the key (cookies, accept-encoding).
func keyedElsewhere(k string) bool {
	return k != "Cookie" && k != "Accept-Encoding"
}

func appendHeaderEntry(dst []byte, name string, values []string) []byte {
	if values == nil {
		return dst
	}
	dst = appendLower(dst, name)
	dst = append(dst, ':')
	dst = appendFieldValue(dst, values)
	return append(dst, 1)
}

// appendFieldValue appends the field lines combined with ", ", each
// trimmed and with runs of whitespace collapsed to one space
// (RFC 9111 §4.1 normalisation).
func appendFieldValue(dst []byte, values []string) []byte {
	for i, v := range values {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		v = trimRightOWS(trimLeftOWS(v))
		space := false
		for j := 0; j < len(v); j++ {
			c := v[j]
			if isOWS(c) {
				space = true
				continue
			}
			if space {
				dst = append(dst, ' ')
				space = false
			}
			dst = append(dst, c)
		}
	}
	return dst
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// compareFold compares ASCII strings case-insensitively.
func compareFold(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := lower(a[i]), lower(b[i])
		if ca != cb {
			return int(ca) - int(cb)
		}
	}
	return len(a) - len(b)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// lookupHeader returns h's values for name in any case, without
// allocating for names up to 64 bytes.
func lookupHeader(h Header, name string) []string {
	if v, ok := h[name]; ok {
		return v
	}
	var buf [64]byte
	if len(name) > len(buf) {
		return h[textproto.CanonicalMIMEHeaderKey(name)]
	}
	b := buf[:len(name)]
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper {
			if c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
		} else {
			c = lower(c)
		}
		b[i] = c
		upper = c == '-'
	}
	return h[string(b)]
}

func appendCookieKey(dst []byte, lines []string, sel *KeySelection) []byte {
	if len(lines) == 0 || sel.Behavior == "" || sel.Behavior == SelectNone {
		return dst
	}
	var stack [16]pair
	cookies := stack[:0]
	for _, line := range lines {
		// Cookie: name=value; name=value (RFC 6265 §4.2.1)
		for line != "" {
			var c string
			c, line, _ = strings.Cut(line, ";")
			c = trimRightOWS(trimLeftOWS(c))
			name, value, _ := strings.Cut(c, "=")
			if name == "" || !sel.selects(name, false) {
				continue
			}
			cookies = append(cookies, pair{name: name, value: value})
		}
	}
	slices.SortFunc(cookies, func(a, b pair) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	for _, c := range cookies {
		dst = append(dst, c.name...)
		dst = append(dst, '=')
		dst = append(dst, c.value...)
		dst = append(dst, ';')
	}
	return dst
}

// NormalizeAcceptEncoding reduces an Accept-Encoding value (RFC 9110
// §12.5.3) to the codings the cache stores apart: "br,gzip", "gzip", "br"
// or "", considering only gzip (with its alias x-gzip) if gzip is set and
// br if br is set. A coding with q=0 is not acceptable; "*" stands for
// every coding not listed.
func NormalizeAcceptEncoding(v string, gzip, br bool) string {
	return normalizeAcceptEncoding([]string{v}, gzip, br, false)
}

// Encoding is the Accept-Encoding part of the key for a request with
// these Accept-Encoding field lines: ChooseEncoding's coding with
// p.ChooseEncoding, else the normalised set of the enabled codings the
// viewer accepts ("br,gzip", "gzip,zstd", ...; names sorted).
func (p *KeyPolicy) Encoding(values []string) string {
	if p.ChooseEncoding {
		return chooseEncoding(values, p.AcceptEncodingGzip, p.AcceptEncodingBrotli, p.AcceptEncodingZstd)
	}
	return normalizeAcceptEncoding(values, p.AcceptEncodingGzip, p.AcceptEncodingBrotli, p.AcceptEncodingZstd)
}

// acceptedCodings reads the weights (0-1000) the viewer gives gzip (or
// x-gzip), br and zstd, -1 for a coding it does not name, and for "*".
func acceptedCodings(values []string) (gzipQ, brQ, zstdQ, starQ int) {
	gzipQ, brQ, zstdQ, starQ = -1, -1, -1, -1
	for _, v := range values {
		for v != "" {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			coding, params, _ := strings.Cut(elem, ";")
			coding = trimRightOWS(trimLeftOWS(coding))
			q := qWeight(params)
			switch {
			case strings.EqualFold(coding, "gzip"), strings.EqualFold(coding, "x-gzip"):
				gzipQ = q
			case strings.EqualFold(coding, "br"):
				brQ = q
			case strings.EqualFold(coding, "zstd"):
				zstdQ = q
			case coding == "*":
				starQ = q
			}
		}
	}
	return
}

// effectiveQ is a coding's weight: its own, else that of "*", else 0.
func effectiveQ(q, starQ int) int {
	if q >= 0 {
		return q
	}
	return max(starQ, 0)
}

func normalizeAcceptEncoding(values []string, gzip, br, zstd bool) string {
	gzipQ, brQ, zstdQ, starQ := acceptedCodings(values)
	acceptGzip := gzip && effectiveQ(gzipQ, starQ) > 0
	acceptBr := br && effectiveQ(brQ, starQ) > 0
	acceptZstd := zstd && effectiveQ(zstdQ, starQ) > 0
	switch {
	case !acceptZstd:
		switch {
		case acceptGzip && acceptBr:
			return "br,gzip"
		case acceptGzip:
			return "gzip"
		case acceptBr:
			return "br"
		}
		return ""
	case acceptGzip && acceptBr:
		return "br,gzip,zstd"
	case acceptGzip:
		return "gzip,zstd"
	case acceptBr:
		return "br,zstd"
	}
	return "zstd"
}

// ChooseEncoding picks the one content coding to send a viewer whose
// Accept-Encoding field lines are values, among the enabled ones: the
// acceptable coding (weight above 0, RFC 9110 §12.5.3) with the highest
// weight, ties going to br, then zstd, then gzip (smallest output first).
// It returns "" for identity: nothing enabled is acceptable.
func ChooseEncoding(v string, gzip, br, zstd bool) string {
	return chooseEncoding([]string{v}, gzip, br, zstd)
}

func chooseEncoding(values []string, gzip, br, zstd bool) string {
	if len(values) == 0 {
		return ""
	}
	gzipQ, brQ, zstdQ, starQ := acceptedCodings(values)
	best, bestQ := "", 0
	for _, c := range [...]struct {
		name string
		on   bool
		q    int
	}{{"br", br, brQ}, {"zstd", zstd, zstdQ}, {"gzip", gzip, gzipQ}} {
		if q := effectiveQ(c.q, starQ); c.on && q > bestQ {
			best, bestQ = c.name, q
		}
	}
	return best
}

// qWeight reads the weight in an element's parameters (RFC 9110 §12.4.2)
// in thousandths: "q=0.5" is 500. A missing weight is 1000; an invalid
// one counts as 1000 too, so that a malformed field never refuses a
// coding the viewer listed.
func qWeight(params string) int {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, val, _ := strings.Cut(p, "=")
		if !strings.EqualFold(trimRightOWS(trimLeftOWS(name)), "q") {
			continue
		}
		return parseQ(trimRightOWS(trimLeftOWS(val)))
	}
	return 1000
}

// parseQ reads qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
func parseQ(v string) int {
	if v == "" || (v[0] != '0' && v[0] != '1') {
		return 1000
	}
	w := int(v[0]-'0') * 1000
	if len(v) == 1 {
		return w
	}
	if v[1] != '.' || len(v) > 5 {
		return 1000
	}
	scale := 100
	for i := 2; i < len(v); i++ {
		if !isDigit(v[i]) {
			return 1000
		}
		w += int(v[i]-'0') * scale
		scale /= 10
	}
	return min(w, 1000)
}

// VaryFields reads the Vary fields of a response (RFC 9110 §12.5.5): the
// field names in lower case, sorted, without duplicates, and whether the
// list contains "*" (then fields is nil: the response matches no later
// request, RFC 9111 §4.1).
func VaryFields(resp Header) (fields []string, star bool) {
	for _, v := range resp["Vary"] {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			name = trimRightOWS(trimLeftOWS(name))
			switch {
			case name == "":
				continue
			case name == "*":
				return nil, true
			}
			fields = append(fields, strings.ToLower(name))
		}
	}
	slices.Sort(fields)
	return slices.Compact(fields), false
}

// hasVaryStar reports whether Vary lists "*", without allocating.
func hasVaryStar(resp Header) bool {
	for _, v := range resp["Vary"] {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			if trimRightOWS(trimLeftOWS(name)) == "*" {
				return true
			}
		}
	}
	return false
}

// AppendVariantKey appends to dst the secondary key (RFC 9111 §4.1) of
// the variant that a request selects among responses stored under the
// primary key with Vary fields (from VaryFields). Each field's request
// values are normalised (§4.1: whitespace collapsed, field lines combined
// with ", "; Accept-Encoding reduced with NormalizeAcceptEncoding(v,
// true, true)); a field absent from the request is keyed apart from an
// empty one, since it only matches another absence (§4.1). The key starts
// with primary.
func AppendVariantKey(dst []byte, primary string, fields []string, req Header) []byte {
	dst = append(dst, primary...)
	dst = append(dst, 0, 'v')
	for _, f := range fields {
		dst = append(dst, 0)
		dst = append(dst, f...)
		values := lookupHeader(req, f)
		if values == nil {
			dst = append(dst, 2) // absent
			continue
		}
		dst = append(dst, ':')
		if f == "accept-encoding" {
			dst = append(dst, normalizeAcceptEncoding(values, true, true, false)...)
		} else {
			dst = appendFieldValue(dst, values)
		}
	}
	return dst
}

// VariantKey is AppendVariantKey as a string.
func VariantKey(primary string, fields []string, req Header) string {
	return string(AppendVariantKey(make([]byte, 0, len(primary)+64), primary, fields, req))
}
