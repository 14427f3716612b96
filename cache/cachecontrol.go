package cache

import (
	"net/textproto"
	"strings"
	"time"
)

// Absent marks a delta-seconds directive that was not present.
const Absent time.Duration = -1

// maxDelta is 2^31 seconds, the value a cache uses for delta-seconds it
// cannot represent (RFC 9111 §1.2.2).
const maxDelta = (1 << 31) * time.Second

// Directives are the cache directives of one message (RFC 9111 §5.2,
// RFC 5861, RFC 9213). Request and response directives share the type; a
// directive that does not apply to the message kind is simply ignored by
// the rules that read it.
type Directives struct {
	// Delta-seconds directives, Absent when not present. An invalid or
	// repeated max-age or s-maxage reads as 0, so the response is stale
	// (RFC 9111 §4.2.1).
	MaxAge, SMaxAge, MaxStale, MinFresh, StaleWhileRevalidate, StaleIfError time.Duration
	// MaxStaleAny is max-stale without a value: any staleness is accepted
	// (RFC 9111 §5.2.1.2).
	MaxStaleAny bool

	NoStore, NoCache, Private, Public, MustRevalidate, ProxyRevalidate, MustUnderstand, NoTransform, Immutable, OnlyIfCached bool

	// NoCacheFields and PrivateFields are the field names (canonical form)
	// of the qualified no-cache="..." and private="..." forms
	// (RFC 9111 §5.2.2.4, §5.2.2.7). NoCache and Private are set only by
	// the unqualified forms; a qualified form with an empty list counts as
	// unqualified, the more restrictive reading.
	NoCacheFields, PrivateFields []string
}

// emptyDirectives has every delta-seconds directive Absent.
var emptyDirectives = Directives{
	MaxAge: Absent, SMaxAge: Absent, MaxStale: Absent, MinFresh: Absent,
	StaleWhileRevalidate: Absent, StaleIfError: Absent,
}

// seen bits, to find repeated delta-seconds directives.
const (
	seenMaxAge = 1 << iota
	seenSMaxAge
	seenMaxStale
	seenMinFresh
	seenSWR
	seenSIE
)

// ParseCacheControl parses the Cache-Control field lines of one message
// (RFC 9111 §5.2). It is tolerant: directive names compare
// case-insensitively, arguments may be tokens or quoted strings (§5.2:
// "recipients ought to accept both forms"), unknown directives and empty
// list elements are ignored, and it never fails.
func ParseCacheControl(values []string) Directives {
	d := emptyDirectives
	var seen uint
	for _, line := range values {
		parseDirectiveList(&d, &seen, line, false)
	}
	return d
}

// ParseSurrogateControl parses Surrogate-Control field lines (W3C Edge
// Architecture Specification 1.0 §3) into the same Directives: max-age,
// no-store, no-store-remote (read as no-store) and the RFC 5861 and
// Cache-Control directives that CDNs commonly accept there. max-age=N+M
// gives M seconds of stale-if-error. Directives targeted at a named
// device ("max-age=60;edge1") are ignored: Tern is not a named device.
// content="..." carries no caching meaning and is ignored.
func ParseSurrogateControl(values []string) Directives {
	d := emptyDirectives
	var seen uint
	for _, line := range values {
		parseDirectiveList(&d, &seen, line, true)
	}
	return d
}

// hasCachingDirective reports whether d sets anything that bears on
// storability or freshness, so a Surrogate-Control carrying only
// content="ESI/1.0" does not displace Cache-Control.
func (d *Directives) hasCachingDirective() bool {
	return d.MaxAge != Absent || d.SMaxAge != Absent || d.StaleWhileRevalidate != Absent ||
		d.StaleIfError != Absent || d.NoStore || d.NoCache || d.Private || d.Public ||
		d.MustRevalidate || d.ProxyRevalidate || d.MustUnderstand ||
		len(d.NoCacheFields) > 0 || len(d.PrivateFields) > 0
}

// parseDirectiveList adds the directives of one field line to d.
func parseDirectiveList(d *Directives, seen *uint, s string, surrogate bool) {
	for len(s) > 0 {
		// name
		s = trimLeftOWS(s)
		i := 0
		for i < len(s) && s[i] != ',' && s[i] != '=' && s[i] != ';' {
			i++
		}
		name := trimRightOWS(s[:i])
		s = s[i:]

		var arg string
		hasArg, targeted := false, false
		if len(s) > 0 && s[0] == '=' {
			hasArg = true
			arg, s = readArgument(trimLeftOWS(s[1:]))
		}
		if len(s) > 0 && s[0] == ';' {
			targeted = true
		}
		// skip to the next list element, past anything unparsed
		s = skipToComma(s)
		if name == "" || (surrogate && targeted) {
			continue
		}
		applyDirective(d, seen, name, arg, hasArg, surrogate)
	}
}

// readArgument reads a token or quoted-string argument from the start of
// s, returning it (unquoted) and the rest of s. An unterminated quoted
// string runs to the end of s.
func readArgument(s string) (arg, rest string) {
	if len(s) > 0 && s[0] == '"' {
		// Quoted-string (RFC 9110 §5.6.4). Fast path: no escapes.
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '"':
				return s[1:i], s[i+1:]
			case '\\':
				return unescapeQuoted(s)
			}
		}
		return s[1:], ""
	}
	i := 0
	for i < len(s) && s[i] != ',' && s[i] != ';' {
		i++
	}
	return trimRightOWS(s[:i]), s[i:]
}

// unescapeQuoted reads a quoted-string with quoted-pairs from the start of s.
func unescapeQuoted(s string) (arg, rest string) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:]
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

// skipToComma returns s after the next comma that is not inside a quoted
// string, or "" if there is none.
func skipToComma(s string) string {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inQuote = !inQuote
		case '\\':
			if inQuote {
				i++
			}
		case ',':
			if !inQuote {
				return s[i+1:]
			}
		}
	}
	return ""
}

func applyDirective(d *Directives, seen *uint, name, arg string, hasArg, surrogate bool) {
	switch len(name) {
	case 6:
		if strings.EqualFold(name, "public") {
			d.Public = true
		}
	case 7:
		switch {
		case strings.EqualFold(name, "max-age"):
			// RFC 9111 §4.2.1: an invalid or repeated max-age makes the
			// response stale. Surrogate-Control may add "+N" seconds of
			// stale-if-error.
			if surrogate && hasArg {
				if j := strings.IndexByte(arg, '+'); j >= 0 {
					if v, ok := parseDelta(arg[j+1:]); ok {
						setDelta(&d.StaleIfError, seen, seenSIE, v, false)
					}
					arg = arg[:j]
				}
			}
			v, ok := parseDelta(arg)
			setDelta(&d.MaxAge, seen, seenMaxAge, v, !ok || !hasArg)
		case strings.EqualFold(name, "private"):
			if hasArg {
				d.PrivateFields = appendFieldNames(d.PrivateFields, arg)
				if len(d.PrivateFields) > 0 {
					return
				}
			}
			d.Private = true
		}
	case 8:
		switch {
		case strings.EqualFold(name, "no-store"):
			d.NoStore = true
		case strings.EqualFold(name, "no-cache"):
			if hasArg {
				d.NoCacheFields = appendFieldNames(d.NoCacheFields, arg)
				if len(d.NoCacheFields) > 0 {
					return
				}
			}
			d.NoCache = true
		case strings.EqualFold(name, "s-maxage"):
			v, ok := parseDelta(arg)
			setDelta(&d.SMaxAge, seen, seenSMaxAge, v, !ok || !hasArg)
		}
	case 9:
		switch {
		case strings.EqualFold(name, "max-stale"):
			// RFC 9111 §5.2.1.2: without a value, any staleness is fine.
			if !hasArg {
				d.MaxStaleAny = true
				return
			}
			if v, ok := parseDelta(arg); ok {
				setDelta(&d.MaxStale, seen, seenMaxStale, v, false)
			}
		case strings.EqualFold(name, "min-fresh"):
			if v, ok := parseDelta(arg); ok && hasArg {
				setDelta(&d.MinFresh, seen, seenMinFresh, v, false)
			}
		case strings.EqualFold(name, "immutable"):
			d.Immutable = true
		}
	case 12:
		if strings.EqualFold(name, "no-transform") {
			d.NoTransform = true
		}
	case 14:
		switch {
		case strings.EqualFold(name, "only-if-cached"):
			d.OnlyIfCached = true
		case strings.EqualFold(name, "stale-if-error"):
			v, ok := parseDelta(arg)
			setDelta(&d.StaleIfError, seen, seenSIE, v, !ok || !hasArg)
		}
	case 15:
		switch {
		case strings.EqualFold(name, "must-revalidate"):
			d.MustRevalidate = true
		case strings.EqualFold(name, "must-understand"):
			d.MustUnderstand = true
		case surrogate && strings.EqualFold(name, "no-store-remote"):
			d.NoStore = true
		}
	case 16:
		if strings.EqualFold(name, "proxy-revalidate") {
			d.ProxyRevalidate = true
		}
	case 22:
		if strings.EqualFold(name, "stale-while-revalidate") {
			v, ok := parseDelta(arg)
			setDelta(&d.StaleWhileRevalidate, seen, seenSWR, v, !ok || !hasArg)
		}
	}
}

// setDelta records a delta-seconds directive. A repeated max-age or
// s-maxage, or an invalid one, reads as 0 (RFC 9111 §4.2.1: "considered
// stale"); other repeated directives keep the smaller value, the more
// restrictive one (§4.2.1: "the most restrictive directive should be
// honored").
func setDelta(dst *time.Duration, seen *uint, bit uint, v time.Duration, invalid bool) {
	staleOnDoubt := bit == seenMaxAge || bit == seenSMaxAge
	switch {
	case *seen&bit != 0 && staleOnDoubt:
		v = 0
	case invalid:
		v = 0
	case *seen&bit != 0 && *dst < v:
		v = *dst
	}
	*seen |= bit
	*dst = v
}

// parseDelta parses delta-seconds (RFC 9111 §1.2.2): one or more digits;
// values too large to represent become 2^31 seconds.
func parseDelta(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < 1<<31 {
			n = n*10 + int64(c-'0')
		}
	}
	if n > 1<<31 {
		n = 1 << 31
	}
	return time.Duration(n) * time.Second, true
}

// appendFieldNames appends the comma-separated field names in list, in
// canonical form, to dst.
func appendFieldNames(dst []string, list string) []string {
	for list != "" {
		var name string
		name, list, _ = strings.Cut(list, ",")
		name = strings.TrimSpace(name)
		if name != "" {
			dst = append(dst, textproto.CanonicalMIMEHeaderKey(name))
		}
	}
	return dst
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

func trimLeftOWS(s string) string {
	for len(s) > 0 && isOWS(s[0]) {
		s = s[1:]
	}
	return s
}

func trimRightOWS(s string) string {
	for len(s) > 0 && isOWS(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}
