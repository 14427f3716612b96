package cache

import (
	"strings"
	"time"
)

// ParseCDNCacheControl parses CDN-Cache-Control field lines (RFC 9213 §2),
// a Dictionary Structured Field (RFC 8941 §3.2) carrying Cache-Control
// directives. ok is false when the field is absent, empty or does not
// parse as a Dictionary; the cache then ignores it and falls back to
// Cache-Control (RFC 9213 §2.1).
//
// Directive values follow RFC 8941 types: max-age=60 is an Integer,
// no-cache="Set-Cookie" a String, a bare no-store is Boolean true and
// no-store=?0 is false. A repeated key keeps its last value (RFC 8941
// §4.2.2). A max-age or s-maxage that is not a non-negative Integer reads
// as 0 (stale), as in Cache-Control (RFC 9111 §4.2.1). Parameters are
// ignored (RFC 9213 §2.1).
func ParseCDNCacheControl(values []string) (d Directives, ok bool) {
	d = emptyDirectives
	if len(values) == 0 {
		return d, false
	}
	p := sfParser{}
	// RFC 8941 §4.2: combine field lines with ", " and strip leading and
	// trailing SP. Single lines, the common case, are parsed in place.
	if len(values) == 1 {
		p.s = values[0]
	} else {
		p.s = strings.Join(values, ", ")
	}
	p.s = strings.Trim(p.s, " ")
	if p.s == "" {
		return d, false
	}
	for {
		key, ok := p.key()
		if !ok {
			return emptyDirectives, false
		}
		v := sfValue{kind: sfBool, b: true}
		if p.peek() == '=' {
			p.i++
			if p.peek() == '(' {
				if !p.innerList() {
					return emptyDirectives, false
				}
				v = sfValue{kind: sfOther}
			} else if v, ok = p.bareItem(); !ok {
				return emptyDirectives, false
			}
		}
		if !p.parameters() {
			return emptyDirectives, false
		}
		applySF(&d, key, v)
		p.ows()
		if p.i == len(p.s) {
			return d, true
		}
		if p.s[p.i] != ',' {
			return emptyDirectives, false
		}
		p.i++
		p.ows()
		if p.i == len(p.s) {
			return emptyDirectives, false // trailing comma
		}
	}
}

type sfKind uint8

const (
	sfOther sfKind = iota
	sfBool
	sfInt
	sfString
)

type sfValue struct {
	kind sfKind
	b    bool
	n    int64
	s    string
}

// applySF sets one dictionary member; the last occurrence of a key wins.
func applySF(d *Directives, key string, v sfValue) {
	flag := func() bool { return v.kind != sfBool || v.b } // non-boolean values count as present
	delta := func() time.Duration {
		if v.kind != sfInt || v.n < 0 {
			return 0
		}
		if v.n > 1<<31 {
			return maxDelta
		}
		return time.Duration(v.n) * time.Second
	}
	fields := func(dst *[]string, unqualified *bool) {
		*dst = nil
		*unqualified = false
		switch {
		case v.kind == sfString:
			*dst = appendFieldNames(nil, v.s)
			*unqualified = len(*dst) == 0
		default:
			*unqualified = flag()
		}
	}
	switch key {
	case "max-age":
		d.MaxAge = delta()
	case "s-maxage":
		d.SMaxAge = delta()
	case "stale-while-revalidate":
		d.StaleWhileRevalidate = delta()
	case "stale-if-error":
		d.StaleIfError = delta()
	case "no-store":
		d.NoStore = flag()
	case "no-cache":
		fields(&d.NoCacheFields, &d.NoCache)
	case "private":
		fields(&d.PrivateFields, &d.Private)
	case "public":
		d.Public = flag()
	case "must-revalidate":
		d.MustRevalidate = flag()
	case "proxy-revalidate":
		d.ProxyRevalidate = flag()
	case "must-understand":
		d.MustUnderstand = flag()
	case "no-transform":
		d.NoTransform = flag()
	case "immutable":
		d.Immutable = flag()
	}
}

// sfParser is a minimal RFC 8941 §4.2 parser: enough to validate a
// Dictionary and read the Boolean, Integer and String values that cache
// directives use.
type sfParser struct {
	s string
	i int
}

func (p *sfParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *sfParser) ows() {
	for p.i < len(p.s) && isOWS(p.s[p.i]) {
		p.i++
	}
}

func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool   { return isLCAlpha(c) || (c >= 'A' && c <= 'Z') }

// key parses an sf-key (RFC 8941 §4.2.3.3).
func (p *sfParser) key() (string, bool) {
	start := p.i
	if c := p.peek(); !isLCAlpha(c) && c != '*' {
		return "", false
	}
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !isLCAlpha(c) && !isDigit(c) && c != '_' && c != '-' && c != '.' && c != '*' {
			break
		}
		p.i++
	}
	return p.s[start:p.i], true
}

// parameters parses and discards parameters (RFC 8941 §4.2.3.2).
func (p *sfParser) parameters() bool {
	for p.peek() == ';' {
		p.i++
		for p.peek() == ' ' {
			p.i++
		}
		if _, ok := p.key(); !ok {
			return false
		}
		if p.peek() == '=' {
			p.i++
			if _, ok := p.bareItem(); !ok {
				return false
			}
		}
	}
	return true
}

// innerList parses and discards an inner list (RFC 8941 §4.2.1.2).
func (p *sfParser) innerList() bool {
	p.i++ // '('
	for p.i < len(p.s) {
		for p.peek() == ' ' {
			p.i++
		}
		if p.peek() == ')' {
			p.i++
			return p.parameters()
		}
		if _, ok := p.bareItem(); !ok {
			return false
		}
		if !p.parameters() {
			return false
		}
		if c := p.peek(); c != ' ' && c != ')' {
			return false
		}
	}
	return false
}

// bareItem parses a bare item (RFC 8941 §4.2.3.1).
func (p *sfParser) bareItem() (sfValue, bool) {
	c := p.peek()
	switch {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		return p.str()
	case c == '*' || isAlpha(c):
		p.i++
		for p.i < len(p.s) && (isTchar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/') {
			p.i++
		}
		return sfValue{kind: sfOther}, true
	case c == ':':
		p.i++
		for p.i < len(p.s) {
			c := p.s[p.i]
			p.i++
			if c == ':' {
				return sfValue{kind: sfOther}, true
			}
			if !isAlpha(c) && !isDigit(c) && c != '+' && c != '/' && c != '=' {
				return sfValue{}, false
			}
		}
		return sfValue{}, false
	case c == '?':
		p.i++
		switch p.peek() {
		case '0':
			p.i++
			return sfValue{kind: sfBool, b: false}, true
		case '1':
			p.i++
			return sfValue{kind: sfBool, b: true}, true
		}
	}
	return sfValue{}, false
}

// number parses an Integer or Decimal (RFC 8941 §4.2.4).
func (p *sfParser) number() (sfValue, bool) {
	neg := false
	if p.peek() == '-' {
		neg = true
		p.i++
	}
	if !isDigit(p.peek()) {
		return sfValue{}, false
	}
	var n int64
	digits, decimal, frac := 0, false, 0
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case isDigit(c):
			if decimal {
				frac++
			} else {
				n = n*10 + int64(c-'0')
			}
			digits++
		case c == '.' && !decimal:
			if digits > 12 {
				return sfValue{}, false
			}
			decimal = true
		default:
			goto done
		}
		if (!decimal && digits > 15) || (decimal && digits > 15) {
			return sfValue{}, false
		}
		p.i++
	}
done:
	if decimal {
		if frac == 0 || frac > 3 {
			return sfValue{}, false
		}
		return sfValue{kind: sfOther}, true
	}
	if neg {
		n = -n
	}
	return sfValue{kind: sfInt, n: n}, true
}

// str parses a String (RFC 8941 §4.2.5).
func (p *sfParser) str() (sfValue, bool) {
	p.i++ // '"'
	start := p.i
	escaped := false
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\':
			if n := p.peek(); n != '"' && n != '\\' {
				return sfValue{}, false
			}
			p.i++
			escaped = true
		case c == '"':
			v := p.s[start : p.i-1]
			if escaped {
				v = strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(v)
			}
			return sfValue{kind: sfString, s: v}, true
		case c < 0x20 || c > 0x7e:
			return sfValue{}, false
		}
	}
	return sfValue{}, false
}

// isTchar reports whether c is a token character (RFC 9110 §5.6.2).
func isTchar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
