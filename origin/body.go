package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// body is a response body whose every Read must see data within timeout:
// CloudFront's response timeout also bounds the gap between two reads of
// the body. The timer runs only while a Read waits, so a slow consumer is
// never blamed on the origin.
type body struct {
	rc      io.ReadCloser
	origin  string
	timeout time.Duration
	ctx     context.Context // the caller's: its end means Canceled
	cancel  context.CancelCauseFunc
	timer   *time.Timer
	expired atomic.Bool
}

var errBodyStalled = errors.New("no body data within the response timeout")

func newBody(rc io.ReadCloser, origin string, timeout time.Duration, ctx context.Context, cancel context.CancelCauseFunc) *body {
	b := &body{rc: rc, origin: origin, timeout: timeout, ctx: ctx, cancel: cancel}
	b.timer = time.AfterFunc(time.Hour, b.expire)
	b.timer.Stop()
	return b
}

// expire aborts the connection (cancelling the request context makes the
// Transport close it), which ends the Read that is waiting.
func (b *body) expire() {
	b.expired.Store(true)
	b.cancel(errBodyStalled)
}

func (b *body) Read(p []byte) (int, error) {
	b.timer.Reset(b.timeout)
	n, err := b.rc.Read(p)
	b.timer.Stop()
	if err == nil || err == io.EOF {
		return n, err
	}
	switch {
	case b.expired.Load():
		err = &Error{Kind: ResponseTimeout, Origin: b.origin, Err: fmt.Errorf("read body: %w (%v)", errBodyStalled, b.timeout)}
	case b.ctx.Err() != nil:
		err = &Error{Kind: Canceled, Origin: b.origin, Err: fmt.Errorf("read body: %w", err)}
	default:
		var e *Error
		if !errors.As(err, &e) {
			err = &Error{Kind: Truncated, Origin: b.origin, Err: fmt.Errorf("read body: %w", err)}
		}
	}
	return n, err
}

// Close closes the body and releases the request context. A body closed
// before its end takes its connection out of the pool.
func (b *body) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

// upgradedBody is the raw connection after a 101 response; closing it
// releases the request context.
type upgradedBody struct {
	io.ReadWriteCloser
	cancel context.CancelCauseFunc
}

func (u *upgradedBody) Close() error {
	err := u.ReadWriteCloser.Close()
	u.cancel(nil)
	return err
}
