package cache

import (
	"strconv"
	"strings"
	"time"
)

// InitialAge is corrected_initial_age (RFC 9111 §4.2.3): the age a
// response already had when its head arrived at responseTime, for a
// request sent at requestTime. It takes the larger of the age implied by
// the Date field and the Age field corrected for the request's round trip.
func InitialAge(resp Header, requestTime, responseTime time.Time) time.Duration {
	var apparentAge time.Duration
	if date, ok := singleDate(resp["Date"]); ok {
		apparentAge = max(responseTime.Sub(date), 0)
	}
	responseDelay := max(responseTime.Sub(requestTime), 0)
	correctedAgeValue := ageValue(resp["Age"]) + responseDelay
	return clampDuration(max(apparentAge, correctedAgeValue))
}

// ageValue reads the Age field (RFC 9111 §5.1): the first member of a
// list-based value is used; an invalid value is ignored (0); a value too
// large to represent is 2^31 seconds.
func ageValue(values []string) time.Duration {
	if len(values) == 0 {
		return 0
	}
	v, _, _ := strings.Cut(values[0], ",")
	d, ok := parseDelta(strings.TrimSpace(v))
	if !ok {
		return 0
	}
	return d
}

// CurrentAge is current_age (RFC 9111 §4.2.3): the initial age plus the
// time the object has been resident in this cache.
func (o *Object) CurrentAge(now time.Time) time.Duration {
	resident := max(now.Sub(o.ResponseTime), 0)
	return clampDuration(o.InitialAge + resident)
}

// FreshFor is how much longer the object stays fresh at now: its
// freshness lifetime minus its current age (RFC 9111 §4.2). A negative
// value is how long it has been stale.
func (o *Object) FreshFor(now time.Time) time.Duration {
	return o.Freshness.Lifetime - o.CurrentAge(now)
}

// Usability is what a cache may do with a stored object for one request.
type Usability int

const (
	// Fresh: serve the object as is.
	Fresh Usability = iota
	// StaleWhileRevalidate: serve the stale object and refresh it in the
	// background (RFC 5861 §3).
	StaleWhileRevalidate
	// StaleIfError: validate first; serve the stale object only if the
	// origin cannot be reached or answers 500, 502, 503 or 504 (RFC 5861 §4).
	StaleIfError
	// MustValidate: the object must not be served without successful
	// validation (RFC 9111 §4.3).
	MustValidate
)

func (u Usability) String() string {
	switch u {
	case Fresh:
		return "fresh"
	case StaleWhileRevalidate:
		return "stale-while-revalidate"
	case StaleIfError:
		return "stale-if-error"
	case MustValidate:
		return "must-validate"
	}
	return "Usability(" + strconv.Itoa(int(u)) + ")"
}

// Usability decides how the object may serve a request with the request
// directives req at now (RFC 9111 §4.2, §5.2.1, §5.2.2; RFC 5861).
func (o *Object) Usability(now time.Time, req Directives) Usability {
	f := &o.Freshness
	// RFC 9111 §5.2.1.4 and §5.2.2.4: no-cache in the request or the
	// response means the object must be validated before any use.
	if req.NoCache || f.NoCache {
		return MustValidate
	}
	age := o.CurrentAge(now)
	// RFC 9111 §5.2.1.1: the client does not want a response older than
	// max-age (nor a stale one, unless max-stale is also present).
	if req.MaxAge != Absent && age > req.MaxAge {
		return MustValidate
	}
	freshFor := f.Lifetime - age
	// RFC 9111 §4.2: fresh when freshness_lifetime > current_age.
	if freshFor > 0 {
		// RFC 9111 §5.2.1.3: the client wants it to stay fresh at least
		// min-fresh longer.
		if req.MinFresh != Absent && freshFor < req.MinFresh {
			return MustValidate
		}
		return Fresh
	}
	staleness := -freshFor
	// RFC 9111 §5.2.2.2 (with §5.2.2.8, §5.2.2.10 folded into
	// MustRevalidate): never served stale, whatever the client accepts.
	if f.MustRevalidate {
		return MustValidate
	}
	// RFC 9111 §5.2.1.2: the client accepts this much staleness.
	if req.MaxStaleAny || (req.MaxStale != Absent && staleness <= req.MaxStale) {
		return Fresh
	}
	// RFC 5861 §3: serve stale while refreshing.
	if staleness < f.StaleWhileRevalidate {
		return StaleWhileRevalidate
	}
	// RFC 5861 §4: stale-if-error, from the response or the request.
	if staleness < f.StaleIfError || (req.StaleIfError != Absent && staleness < req.StaleIfError) {
		return StaleIfError
	}
	return MustValidate
}

// AgeHeaderValue formats an age as an Age field value (RFC 9111 §5.1):
// whole seconds, at least 0, at most 2147483648.
func AgeHeaderValue(age time.Duration) string {
	s := int64(clampDuration(age) / time.Second)
	if s < int64(len(smallAges)) {
		return smallAges[s]
	}
	return strconv.FormatInt(s, 10)
}

// smallAges avoids an allocation for the ages most responses carry.
var smallAges = func() (a [600]string) {
	for i := range a {
		a[i] = strconv.Itoa(i)
	}
	return a
}()
