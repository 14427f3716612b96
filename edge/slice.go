package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/terncdn/tern/cache"
	"github.com/terncdn/tern/collapse"
	"github.com/terncdn/tern/origin"
	"github.com/terncdn/tern/telemetry"
)

// Large objects are kept on disk in slices (edge.cache.slice_size). A
// range request for an object not cached, or for slices a partial object
// lacks, asks the origin for just the aligned slices that hold the range
// (RFC 9110 §14.2), serves them as they arrive, and stores each slice
// under the object's key. Slices combine only when they are of the same
// representation (cache.SameRepresentation: a strong validator, RFC 9111
// §3.4); a slice of a new one replaces the old slices. Responses without
// a strong validator are cached whole instead.
//
// One origin request (a span) asks for at most maxSpanBytes (or one
// slice, if slices are larger), so that the fill that carries it can hold
// the whole span for late joiners and a viewer who leaves costs the origin
// at most one span. A range with no end (bytes=N-, as players send when
// they seek) starts with one slice: most are abandoned early.
const maxSpanBytes = 8 << 20

// span is the byte range one origin request for slices asks for: from-to
// (both inclusive), or the last suffix bytes.
type span struct{ from, to, suffix int64 }

func (sp span) rangeValue() string {
	if sp.suffix > 0 {
		return "bytes=-" + strconv.FormatInt(sp.suffix, 10)
	}
	return "bytes=" + strconv.FormatInt(sp.from, 10) + "-" + strconv.FormatInt(sp.to, 10)
}

// sliceResult is the head's Meta of a fill for a span: what the origin's
// 206 said of the whole object.
type sliceResult struct {
	meta  *cache.Object // Status 200: the whole response's header and freshness
	rg    cache.ByteRange
	total int64
	// varyFields and variantKey: when the response varies, the slices are
	// stored under the variant (as for any response, RFC 9111 §4.1).
	varyFields []string
	variantKey string
	// combinable: the span's slices are stored and may be combined with
	// other spans' (a strong validator); without it, a range longer than
	// the span cannot be answered span by span.
	combinable bool
	// upstream is what the span's fetch took, for Server-Timing.
	upstream upstreamTiming
}

// wholeFetch is the head's Meta of a span fill that turned into a fetch
// of the whole object (the origin ignored Range, or answered a range that
// cannot be placed in slices): its viewers follow fill, which the span's
// fetch started (started) or found in flight.
type wholeFetch struct {
	fill    *collapse.Fill
	started bool
}

// slicing reports whether x, a miss, is served from slices: a GET for one
// byte range, on an edge with a disk tier.
func (s *Server) slicing(x *exchange) bool {
	if s.slices == nil || x.r.Method != http.MethodGet || x.errorPage {
		return false
	}
	spec, ok := cache.ParseRangeSpec(x.r.Header.Get("Range"))
	// Offsets beyond any real object (and near overflow) are left to the
	// whole-object path, which answers 416.
	return ok && spec.First < 1<<60 && spec.Suffix < 1<<60
}

// spanBytes is the most one span asks for: whole slices.
func (s *Server) spanBytes() int64 {
	return max(maxSpanBytes/s.sliceSize, 1) * s.sliceSize
}

// firstSpan is the span that starts a sliced response whose metadata is
// not known: for a miss, the aligned slices that hold the start of the
// range (total is -1); for a stale partial object of total bytes, the
// slice that holds the first byte wanted, which also revalidates it.
func (s *Server) firstSpan(spec cache.RangeSpec, ranged bool, total int64) span {
	ss := s.sliceSize
	if total >= 0 {
		start := int64(0)
		if rg, ok := spec.Resolve(total); ranged && ok {
			start = rg.Start
		}
		from := start / ss * ss
		return span{from: from, to: from + ss - 1}
	}
	if spec.Suffix > 0 {
		// Asking for S-1 bytes more than the suffix takes in every slice
		// that holds a byte of it, whole (the last slice ends the object),
		// without knowing where the object ends.
		return span{suffix: min(spec.Suffix+ss-1, s.spanBytes())}
	}
	from := spec.First / ss * ss
	to := from + ss - 1
	if spec.Last >= 0 {
		to = from + s.spanBytes() - 1
		if spec.Last < to {
			to = (spec.Last/ss+1)*ss - 1
		}
	}
	return span{from: from, to: to}
}

// serveSliced answers x from the slices of its object: obj is the partial
// object stored under the key, or nil on a miss.
func (s *Server) serveSliced(x *exchange, obj *cache.Object) {
	r := x.r
	fresh := obj != nil && obj.Usability(x.start, noRequestDirectives) == cache.Fresh
	if fresh && r.Method == http.MethodHead {
		x.result = resultHit
		s.respondObject(x, obj, x.start)
		return
	}
	rv := r.Header.Get("Range")
	spec, ranged := cache.ParseRangeSpec(rv)
	sv := &slicedView{s: s, x: x, key: x.joinKey()}
	defer sv.close()

	var meta *cache.Object
	var total int64
	x.result = resultHit
	first := s.firstSpan(spec, ranged, -1)
	if obj != nil {
		total = obj.File.Len()
		first = s.firstSpan(spec, ranged, total)
		if fresh {
			// The stored metadata answers, unless the first slice wanted
			// is missing: then the span fetched for it does, so that a
			// representation changed at the origin is served whole.
			want := cache.ByteRange{Start: 0, End: total - 1}
			if rg, ok := spec.Resolve(total); ranged && ok {
				want = rg
			}
			if i := want.Start / s.sliceSize; has(obj.File, i) {
				meta = obj
			} else {
				first = s.missingSpan(obj.File, i, want.End/s.sliceSize, total)
			}
		}
	}
	if meta == nil {
		if obj != nil {
			sv.stale = obj
		}
		if !sv.first(first) {
			return // answered otherwise: an error, or the origin's own answer
		}
		if sv.seg != nil {
			meta, total = sv.seg.meta, sv.seg.total
		} else {
			meta = obj // the origin failed: the stale slices stand in (RFC 5861 §4)
		}
	}
	sv.meta, sv.total = meta, total

	h := x.w.Header()
	for k, v := range meta.Header {
		h[k] = v
	}
	tagsForTier(x, h, meta.Tags)
	if len(meta.Freshness.NoCacheFields) > 0 && fresh {
		for _, f := range meta.Freshness.NoCacheFields {
			delete(h, f) // RFC 9111 §5.2.2.4, as for any hit
		}
	}
	h["Age"] = ageValue(meta.CurrentAge(time.Now()))
	s.decorate(x, h)
	if answerConditional(x, h, http.StatusOK) {
		return
	}
	h["Accept-Ranges"] = acceptRangesBytes
	status, want := http.StatusOK, cache.ByteRange{Start: 0, End: total - 1}
	if rv != "" && (r.Header.Get("If-Range") == "" || cache.IfRangeAllows(r.Header.Get("If-Range"), cache.Header(h))) {
		if _, err := cache.ParseRange(rv, total); errors.Is(err, cache.ErrUnsatisfiable) {
			clearBodyHeaders(h)
			h.Set("Content-Range", cache.UnsatisfiedRange(total))
			x.w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		if rg, ok := spec.Resolve(total); ranged && ok {
			// Several ranges on a partial object are answered whole
			// (RFC 9110 §14.2 lets a server ignore Range).
			status, want = http.StatusPartialContent, rg
			h.Set("Content-Range", cache.ContentRange(rg, total))
		}
	}
	h.Set("Content-Length", strconv.FormatInt(want.Length(), 10))
	if r.Method == http.MethodHead {
		x.w.WriteHeader(status)
		return
	}
	if seg := sv.seg; seg != nil && !seg.combinable {
		keepable := seg.storable && (total <= s.maxObject || s.bodies != nil && total <= s.bodiesMax)
		switch {
		case want.Start < seg.rg.Start || want.End > seg.rg.End:
			// This response's spans cannot be combined (no strong
			// validator, or not stored): the range cannot be answered
			// span by span. Fetch the object whole, as a miss without
			// slices would, or pass the range on when it cannot be
			// stored whole (a whole download nobody keeps would only
			// add to the origin's bytes).
			sv.closeSegment()
			for k := range h {
				delete(h, k)
			}
			if keepable {
				s.fetch(x, nil)
			} else {
				s.pass(x)
			}
			return
		case keepable && !(seg.whole() && total <= s.maxObject):
			// Served from the span; the object can be cached only
			// whole, so fetch it whole behind this viewer (a span that
			// held it all is stored only when memory takes it).
			s.refreshInBackground(x, nil)
		}
	}
	if sv.seg == nil && has(obj.File, want.Start/s.sliceSize) {
		// The response starts from a stored slice: check it before the
		// head goes out, so that a corrupt one is fetched again rather
		// than cutting the response.
		start := want.Start
		if err := obj.File.Verify(start, min((start/s.sliceSize+1)*s.sliceSize, want.End+1)-start); err != nil {
			slog.Warn("stored slice failed its checksum; fetching it again", "id", x.id, "error", err)
			for k := range h {
				delete(h, k)
			}
			s.store.Delete(sv.key)
			x.result = resultMiss
			if s.slicing(x) {
				s.serveSliced(x, nil)
			} else {
				s.fetch(x, nil)
			}
			return
		}
	}
	x.w.WriteHeader(status)
	if err := sv.stream(want); err != nil {
		x.err, x.errTok = err, errorToken(err)
		if x.result != resultError && r.Context().Err() == nil {
			x.result = resultError
			slog.Warn("sliced response cut", "id", x.id, "error", err)
		}
		// The head is out: cut the connection, so the viewer sees a
		// truncated body and never a short one that looks complete.
		panic(http.ErrAbortHandler)
	}
}

// slicedView is one viewer's walk over the slices of an object.
type slicedView struct {
	s     *Server
	x     *exchange
	key   string
	meta  *cache.Object
	total int64
	seg   *segment // the span being read, if any
	// later is a span that starts after the position being sent: the
	// first span of a suffix range longer than a span, used once the
	// spans before it are sent.
	later *segment
	// stale is the stored partial object being revalidated, if any: it
	// answers when the origin fails and stale-if-error allows.
	stale *cache.Object
}

// segment is a span joined by a viewer.
type segment struct {
	f      *collapse.Fill
	rg     cache.ByteRange
	meta   *cache.Object
	total  int64
	reader *collapse.Reader
	// storable and combinable are the span response's (see sliceResult).
	storable, combinable bool
}

// whole reports whether the span holds the whole object.
func (seg *segment) whole() bool { return seg.rg.Start == 0 && seg.rg.End == seg.total-1 }

func (sv *slicedView) closeSegment() {
	if sv.seg != nil && sv.seg.reader != nil {
		sv.seg.reader.Close()
	}
	sv.seg = nil
}

// close lets go of every span the view holds.
func (sv *slicedView) close() {
	sv.closeSegment()
	if sv.later != nil && sv.later.reader != nil {
		sv.later.reader.Close()
	}
	sv.later = nil
}

// join joins (or starts) the fill for sp and waits for its head.
func (sv *slicedView) join(sp span) (f *collapse.Fill, head collapse.Head, leader bool, early *collapse.Reader, err error) {
	s, x := sv.s, sv.x
	f, leader = s.sliceFills.Join(sv.key + "\x00" + sp.rangeValue())
	early, _ = f.NewReader(0)
	if leader {
		j := s.newFillJob(x, nil)
		for _, h := range j.headers() {
			h.Set("Range", sp.rangeValue())
		}
		go s.runSliceFill(f, j, sp, sv.key)
		x.result = resultMiss
	} else if s.metrics != nil {
		s.metrics.ObserveCollapsed(x.dist.id)
	}
	head, err = f.Head(x.r.Context())
	if err != nil && leader && x.r.Context().Err() != nil {
		// The viewer left: hold its stream until the fetch it started
		// has its head, as followFill does (rapid reset).
		f.Head(context.Background())
	}
	if err != nil && early != nil {
		early.Close()
		early = nil
	}
	return f, head, leader, early, err
}

// first joins the span that starts the response and reports whether the
// response goes on: with the span's slices (sv.seg), or with the stale
// object's when the origin failed and RFC 5861 allows (sv.seg nil).
// Otherwise it has answered the viewer: an error, or the origin's answer
// other than a 206, served as a miss would serve it.
func (sv *slicedView) first(sp span) bool {
	s, x := sv.s, sv.x
	f, head, leader, early, err := sv.join(sp)
	if err != nil {
		if x.r.Context().Err() != nil {
			x.result, x.err = resultError, err
			return false
		}
		if sv.useStale(sp, 0, err) {
			return true
		}
		s.failOrigin(x, err)
		return false
	}
	if wf, ok := head.Meta.(wholeFetch); ok {
		if early != nil {
			early.Close()
		}
		// The object is being fetched whole: follow that fetch, as its
		// leader if this viewer's span started it.
		var whole *collapse.Reader
		if x.r.Method == http.MethodGet {
			whole, _ = wf.fill.NewReader(0)
		}
		s.followFill(x, wf.fill, leader && wf.started, whole)
		return false
	}
	res, ok := head.Meta.(*sliceResult)
	if !ok {
		if head.Status >= 500 && sv.useStale(sp, head.Status, &originStatusError{status: head.Status}) {
			if early != nil {
				early.Close()
			}
			return true
		}
		s.answerFill(x, f, head, leader, &early)
		if early != nil {
			early.Close()
		}
		return false
	}
	if !leader && (!head.Shareable || !sv.ourVariant(res)) {
		if early != nil {
			early.Close()
		}
		s.pass(x) // a response for another viewer, or another variant
		return false
	}
	if res.variantKey != "" {
		sv.key = res.variantKey // where its slices are stored
	}
	if leader {
		x.upstream = res.upstream // this viewer's span fetch starts the response
	}
	sv.seg = &segment{f: f, rg: res.rg, meta: res.meta, total: res.total, reader: early,
		storable: head.Shareable, combinable: res.combinable}
	return true
}

// useStale reports whether the stale partial object answers because the
// origin failed (status 0: could not be reached) fetching sp, and notes
// why. It must hold the slice sp starts with.
func (sv *slicedView) useStale(sp span, status int, cause error) bool {
	if sv.stale == nil || sp.suffix > 0 || !has(sv.stale.File, sp.from/sv.s.sliceSize) ||
		!staleOnError(sv.stale, time.Now(), status) {
		return false
	}
	x := sv.x
	x.result, x.detail, x.errTok, x.err = resultHit, "StaleIfErrorHit", errorToken(cause), cause
	return true
}

// ourVariant reports whether a span's response is the variant this viewer
// selects.
func (sv *slicedView) ourVariant(res *sliceResult) bool {
	x := sv.x
	return res.variantKey == "" ||
		string(cache.AppendVariantKey(x.vkey[:0], string(x.key), res.varyFields, cache.Header(x.r.Header))) == res.variantKey
}

// stream writes bytes want of the object to the viewer: each from the
// slices stored, or from a span fetched for the slices missing.
func (sv *slicedView) stream(want cache.ByteRange) error {
	s, x := sv.s, sv.x
	ss := s.sliceSize
	for pos := want.Start; pos <= want.End; {
		if err := x.r.Context().Err(); err != nil {
			return nil // the viewer left: nothing to tell it
		}
		if sv.seg == nil && sv.later != nil && pos >= sv.later.rg.Start {
			sv.seg, sv.later = sv.later, nil
		}
		if seg := sv.seg; seg != nil {
			switch {
			case pos >= seg.rg.Start && pos <= seg.rg.End:
				end := min(seg.rg.End, want.End)
				if err := sv.copySegment(pos, end); err != nil {
					return err
				}
				pos = end + 1
			case pos < seg.rg.Start && sv.later == nil:
				sv.seg, sv.later = nil, seg // its turn comes
				continue
			}
			sv.closeSegment()
			continue
		}
		body := sv.stored()
		i := pos / ss
		last := want.End / ss
		if sv.later != nil {
			last = min(last, (sv.later.rg.Start-1)/ss) // the later span has the rest
		}
		if body != nil && has(body, i) {
			j := i
			for j < last && has(body, j+1) {
				j++
			}
			end := min((j+1)*ss-1, want.End)
			b := storedBody{file: body}
			if err := b.verify(pos, end-pos+1); err != nil {
				// The head is out, but the origin can still send these
				// bytes: fetch them rather than cut the response.
				slog.Warn("stored slice failed its checksum; fetching it again", "id", x.id, "error", err)
				s.store.Delete(sv.key)
				if err := sv.fetchSpan(s.missingSpan(nil, i, last, sv.total)); err != nil {
					return err
				}
				continue
			}
			if err := b.write(x, pos, end-pos+1); err != nil {
				return err
			}
			pos = end + 1
			continue
		}
		if err := sv.fetchSpan(s.missingSpan(body, i, last, sv.total)); err != nil {
			return err
		}
	}
	return nil
}

// missingSpan is the span for the run of slices missing from body (nil:
// all of them) from slice i, up to slice last and one span, of an object
// of total bytes.
func (s *Server) missingSpan(body cache.FileBody, i, last, total int64) span {
	ss := s.sliceSize
	j := i
	for j < last && (j-i+1)*ss < s.spanBytes() && (body == nil || !has(body, j+1)) {
		j++
	}
	return span{from: i * ss, to: min((j+1)*ss, total) - 1}
}

func has(b cache.FileBody, i int64) bool {
	if p, ok := b.(cache.PartialBody); ok {
		return p.Has(i)
	}
	return true // a complete object
}

// stored is the body stored under the key if it is the representation
// this viewer is being sent, else nil.
func (sv *slicedView) stored() cache.FileBody {
	obj, ok := sv.s.store.Get(sv.key)
	if !ok || obj.File == nil || obj.File.Len() != sv.total || obj.Status != http.StatusOK ||
		!cache.SameRepresentation(obj.Header, sv.meta.Header) {
		return nil
	}
	if p, ok := obj.File.(cache.PartialBody); ok && p.SliceSize() != sv.s.sliceSize {
		return nil
	}
	return obj.File
}

// fetchSpan joins the fill for sp, a span of missing slices within the
// response, and makes it the segment to read.
func (sv *slicedView) fetchSpan(sp span) error {
	f, head, _, early, err := sv.join(sp)
	if err != nil {
		return err
	}
	res, ok := head.Meta.(*sliceResult)
	if !ok || !head.Shareable || !sv.ourVariant(res) || res.total != sv.total || res.rg.Start != sp.from ||
		!cache.SameRepresentation(res.meta.Header, sv.meta.Header) {
		if early != nil {
			early.Close()
		}
		// The object changed at the origin (or stopped answering ranges)
		// while this viewer was being sent the old one.
		return fmt.Errorf("origin sent another representation for bytes %d-%d: %w", sp.from, sp.to, errRepresentationChanged)
	}
	sv.seg = &segment{f: f, rg: res.rg, meta: res.meta, total: res.total, reader: early,
		storable: head.Shareable, combinable: res.combinable}
	return nil
}

var errRepresentationChanged = errors.New("representation changed")

// copySegment writes bytes [pos, end] of the object from the segment's
// fill as they arrive.
func (sv *slicedView) copySegment(pos, end int64) error {
	seg := sv.seg
	rd := seg.reader
	seg.reader = nil
	off := pos - seg.rg.Start
	if rd == nil {
		var err error
		if rd, err = seg.f.NewReader(off); err != nil {
			return err
		}
		off = 0
	}
	defer rd.Close()
	if off > 0 {
		if _, err := io.CopyN(io.Discard, rd, off); err != nil {
			return err
		}
	}
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	n, err := io.CopyBuffer(viewerWriter{&sv.x.w}, io.LimitReader(rd, end-pos+1), *bp)
	if err != nil {
		return err
	}
	if n != end-pos+1 {
		return fmt.Errorf("span ended after %d of %d bytes: %w", n, end-pos+1, io.ErrUnexpectedEOF)
	}
	return nil
}

// viewerWriter flushes every write, so that bytes reach the viewer as they
// arrive from the origin. It hides countingWriter's ReadFrom, which is for
// files.
type viewerWriter struct{ w *countingWriter }

func (v viewerWriter) Write(p []byte) (int, error) {
	n, err := v.w.Write(p)
	if err == nil {
		v.w.Flush()
	}
	return n, err
}

// runSliceFill fetches span sp for everyone joined on f. A 206 that holds
// the span is published with the whole object's metadata and its complete
// slices are stored; any other answer is handled as a miss handles it
// (fillFrom), except a 416 or a 5xx, which are passed on and not stored.
func (s *Server) runSliceFill(f *collapse.Fill, j *fillJob, sp span, joinKey string) {
	resp, err := s.fetchUpstream(j)
	if err != nil {
		s.observeOriginError(j.dist.id, err)
		f.Fail(err)
		return
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent:
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable || resp.StatusCode >= 500:
		// Passed on, not stored: a 416 is not the object, and a server
		// error must not replace stored slices (the viewer may be served
		// them stale instead, RFC 5861 §4).
		defer resp.Body.Close()
		s.observeOrigin(j, resp)
		h := cache.Header(resp.Header)
		cache.RemoveUnstorableFields(h)
		tags, _ := takeTags(h, j.key)
		res := &fillResult{tags: tags, result: resultMiss, initialAge: cache.InitialAge(h, resp.RequestTime, resp.ResponseTime), responseTime: resp.ResponseTime,
			upstream: j.upstreamTiming}
		f.Publish(collapse.Head{Status: resp.StatusCode, Header: http.Header(clipHeader(h)), Shareable: true, ContentLength: resp.ContentLength, Meta: res})
		_, err := io.Copy(f, resp.Body)
		f.Close(err)
		return
	default:
		// The origin answered the whole object (it ignores Range), or
		// something else that is about the object, not the span: as a
		// miss without slices, one fetch per key.
		s.handOffWhole(f, j, joinKey, resp)
		return
	}
	defer resp.Body.Close()
	s.observeOrigin(j, resp)
	h := cache.Header(resp.Header)
	rg, total, err := cache.ParseContentRange(h.Get("Content-Range"))
	switch {
	case err != nil:
	case sp.suffix > 0 && (rg.End != total-1 || rg.Length() != min(sp.suffix, total)):
		err = cache.ErrContentRange
	case sp.suffix == 0 && (rg.Start != sp.from || rg.End != min(sp.to, total-1)):
		err = cache.ErrContentRange
	case resp.ContentLength >= 0 && resp.ContentLength != rg.Length():
		err = cache.ErrContentRange
	}
	if err != nil {
		// A range that cannot be placed in slices (an unknown complete
		// length, RFC 9110 §14.4, or not the range asked for): fetch the
		// object whole instead.
		slog.Debug("span answer does not fit slices; fetching the object whole", "key", joinKey,
			"asked", sp.rangeValue(), "content-range", h.Get("Content-Range"), "content-length", resp.ContentLength)
		resp.Body.Close()
		s.handOffWhole(f, j.whole(), joinKey, nil)
		return
	}

	// The whole response, as a 200 would have said it (RFC 9111 §3.4).
	whole := clipHeader(cache.Header(http.Header(h).Clone()))
	delete(whole, "Content-Range")
	// Digests of the content are of this part, not of the whole body.
	delete(whole, "Content-Md5")
	delete(whole, "Content-Digest")
	whole["Content-Length"] = []string{strconv.FormatInt(total, 10)}
	fr := cache.Evaluate(j.storeFacts, http.StatusOK, whole, j.b.ttl, resp.ResponseTime)
	cache.RemoveUnstorableFields(whole)
	cache.StripPrivateFields(whole, cache.EffectiveDirectives(whole))
	delete(whole, "Surrogate-Control")
	tags, _ := takeTags(whole, j.key)
	vary, star := cache.VaryFields(whole)
	if star {
		fr.Storable, fr.Reason = false, "vary *"
	}
	meta := &cache.Object{
		Status: http.StatusOK, Header: whole, RequestTime: resp.RequestTime, ResponseTime: resp.ResponseTime,
		InitialAge: cache.InitialAge(h, resp.RequestTime, resp.ResponseTime), Freshness: fr, Tags: tags,
	}
	res := &sliceResult{meta: meta, rg: rg, total: total, combinable: fr.Storable && cache.CanCombine(whole), upstream: j.upstreamTiming}
	key := j.key
	if len(vary) > 0 {
		res.varyFields = vary
		res.variantKey = cache.VariantKey(j.key, vary, j.facts.Header)
		key = res.variantKey
	}
	f.Publish(collapse.Head{Status: http.StatusPartialContent, Header: http.Header(whole), Shareable: fr.Storable,
		ContentLength: rg.Length(), Meta: res})
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close(err)
		return
	}
	f.Complete(func(body []byte) {
		switch {
		case !fr.Storable:
			// As for a whole response that may not be stored: a
			// hit-for-pass marker replaces what the key held.
			s.store.Set(key, &cache.Object{ResponseTime: resp.ResponseTime, Freshness: cache.Freshness{Lifetime: s.passMarkerTTL, Reason: fr.Reason}})
		case rg.Start == 0 && rg.End == total-1 && total <= s.maxObject:
			// The whole object came in one span: store it as any other.
			o := *meta
			o.Body = body
			s.storeObject(j, &o, vary)
		case cache.CanCombine(whole):
			if len(vary) > 0 {
				s.store.Set(j.key, &cache.Object{Vary: vary, ResponseTime: meta.ResponseTime, InitialAge: meta.InitialAge, Freshness: fr})
			}
			s.storeSlices(key, meta, total, rg, body)
		}
	})
}

// handOffWhole ends span fill f with a head that sends its viewers to the
// fetch of the whole object under joinKey, started here if none is in
// flight: from resp when the origin already answered with it, else with
// j's request.
func (s *Server) handOffWhole(f *collapse.Fill, j *fillJob, joinKey string, resp *origin.Response) {
	var g *collapse.Fill
	leader := false
	if !f.Store(func() { g, leader = s.fills.Join(joinKey) }) {
		// A purge ran since the span was asked for (invalidate): what the
		// origin answered before it must not be stored. Ask again.
		if resp != nil {
			resp.Body.Close()
			resp = nil
		}
		j = j.whole()
		g, leader = s.fills.Join(joinKey)
	}
	f.Publish(collapse.Head{Status: http.StatusOK, Shareable: true, Meta: wholeFetch{fill: g, started: leader}})
	f.Close(nil)
	switch {
	case !leader:
		if resp != nil {
			resp.Body.Close() // one is already on its way
		}
	case resp != nil:
		s.fillFrom(g, j, resp)
	default:
		s.runFill(g, j)
	}
}

// whole is j asking for the whole object.
func (j *fillJob) whole() *fillJob {
	w := *j
	w.cloneRequests()
	for _, h := range w.headers() {
		h.Del("Range")
	}
	return &w
}

// storeSlices stores each whole slice of body, which holds bytes rg of an
// object of total bytes.
func (s *Server) storeSlices(key string, meta *cache.Object, total int64, rg cache.ByteRange, body []byte) {
	ss := s.sliceSize
	for i := (rg.Start + ss - 1) / ss; i*ss <= rg.End; i++ {
		start, end := i*ss, min((i+1)*ss, total)-1
		if end > rg.End {
			break // the span ends inside this slice
		}
		if err := s.slices.PutSlice(key, meta, total, i, body[start-rg.Start:end+1-rg.Start]); err != nil {
			slog.Debug("slice not stored", "key", key, "slice", i, "error", err)
			return
		}
	}
}

// observeOrigin accounts for the origin's response to j; a peer's or a
// shield's is counted by the upstream metrics alone.
func (s *Server) observeOrigin(j *fillJob, resp *origin.Response) {
	j.upstreamTiming = timingOf(resp, j.upstream == telemetry.UpstreamOrigin)
	if s.metrics != nil && j.upstream == telemetry.UpstreamOrigin {
		s.metrics.ObserveOrigin(j.dist.id, resp.Origin.ID, resp.StatusCode, resp.ResponseTime.Sub(resp.RequestTime))
	}
}
