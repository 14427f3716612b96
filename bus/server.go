package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ErrLocked is returned by Start when another Server (in this process or
// another) already uses the same Dir.
var ErrLocked = errors.New("directory in use by another NATS server")

// DefaultStartTimeout is how long Start waits for the server to accept clients
// when Options.StartTimeout is zero.
const DefaultStartTimeout = 10 * time.Second

// Options configures an embedded NATS server.
type Options struct {
	// Dir is the directory where the server keeps its JetStream file store
	// (config buckets and streams, under Dir/jetstream). It is created if
	// missing. Required. One server at a time may use a directory; a second
	// one fails to start with ErrLocked.
	Dir string

	// Listen is the host:port on which the server accepts NATS clients from
	// other processes and machines (edges, a remote control plane), for
	// example "0.0.0.0:4222", or "127.0.0.1:0" for a free port (see
	// Server.ClientURL). Empty means no listener at all: only clients in this
	// process can connect, through Server.Connect. This is what `tern serve`
	// uses.
	Listen string

	// Token, if set, is the secret every client must present (nats.Token, or
	// automatically for Server.Connect). Set it whenever Listen is reachable
	// from other machines: anyone who can connect can change the config.
	Token string

	// LeafListen is the host:port on which the server accepts NATS leaf
	// nodes: a NATS server in a POP, configured with this server as its
	// remote, that the POP's edges connect to instead (they reach JetStream
	// through it). Empty means none. Leaf nodes authenticate as user
	// "leaf" with Token as the password (LeafURL). The port must be given.
	LeafListen string

	// Name identifies this server to clients and in JetStream. Default "tern".
	Name string

	// StartTimeout bounds how long Start waits for the server to be ready
	// for clients. Default DefaultStartTimeout.
	StartTimeout time.Duration

	// Logger receives the NATS server's warnings and errors. Its notices,
	// debug and trace lines are dropped. Nil means slog.Default().
	Logger *slog.Logger
}

// Server is an embedded NATS server with JetStream enabled.
type Server struct {
	ns      *server.Server
	lock    *os.File
	url     string
	leafURL string
	token   string
	once    sync.Once
}

// Start starts an embedded NATS server with JetStream and waits until it
// accepts clients. The error says what failed: the directory, the listen
// address (errors.Is(err, syscall.EADDRINUSE) for a busy port), JetStream,
// or readiness within the timeout.
func Start(o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("start nats: Options.Dir is required")
	}
	if o.Name == "" {
		o.Name = "tern"
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	lock, err := lockDir(o.Dir)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			lock.Close() // releases the flock
		}
	}()

	sopts := &server.Options{
		ServerName:    o.Name,
		JetStream:     true,
		StoreDir:      o.Dir,
		NoSigs:        true, // the embedding process owns its signals
		Authorization: o.Token,
	}
	if o.Listen == "" {
		sopts.DontListen = true
	} else {
		host, port, err := splitListen(o.Listen)
		if err != nil {
			return nil, err
		}
		sopts.Host, sopts.Port = host, port
		// nats-server reports a busy port only as text; probing first gives
		// the caller a wrapped *net.OpError (EADDRINUSE, EACCES, ...).
		if port != server.RANDOM_PORT {
			l, err := net.Listen("tcp", o.Listen)
			if err != nil {
				return nil, fmt.Errorf("start nats: listen on %s: %w", o.Listen, err)
			}
			l.Close()
		}
	}

	if o.LeafListen != "" {
		host, port, err := splitListen(o.LeafListen)
		if err != nil || port <= 0 {
			return nil, fmt.Errorf("start nats: leaf node listen address %q: want host:port with a port", o.LeafListen)
		}
		if o.Token == "" {
			return nil, errors.New("start nats: leaf nodes need a token")
		}
		l, err := net.Listen("tcp", o.LeafListen)
		if err != nil {
			return nil, fmt.Errorf("start nats: listen for leaf nodes on %s: %w", o.LeafListen, err)
		}
		l.Close()
		sopts.LeafNode = server.LeafNodeOpts{Host: host, Port: port, Username: leafUser, Password: o.Token}
		// Clients behind a leaf node name this domain to reach this
		// server's JetStream (a leaf node has none of its own, or its own).
		sopts.JetStreamDomain = Domain
	}

	ns, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("start nats: configure server: %w", err)
	}
	logger := &serverLog{log: o.Logger.With("component", "nats-server")}
	ns.SetLoggerV2(logger, false, false, false)
	ns.Start()
	ready := ns.ReadyForConnections(o.StartTimeout)
	if !ready || !ns.JetStreamEnabled() {
		ns.Shutdown()
		ns.WaitForShutdown()
		if f := logger.fatal(); f != "" {
			return nil, fmt.Errorf("start nats in %s: %s", o.Dir, f)
		}
		if !ready {
			return nil, fmt.Errorf("start nats in %s: not ready for clients after %s", o.Dir, o.StartTimeout)
		}
		return nil, fmt.Errorf("start nats in %s: JetStream is not enabled", o.Dir)
	}
	s := &Server{ns: ns, lock: lock, token: o.Token}
	if o.Listen != "" {
		s.url = "nats://" + ns.Addr().String()
	}
	if o.LeafListen != "" {
		s.leafURL = "nats-leaf://" + o.LeafListen
	}
	ok = true
	return s, nil
}

// splitListen parses host:port into nats-server's terms, where port 0 means
// the default port and RANDOM_PORT means a free one.
func splitListen(listen string) (string, int, error) {
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("start nats: listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("start nats: listen address %q: bad port %q", listen, p)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// lockDir creates dir and takes an exclusive lock on dir/nats.lock, because
// nats-server itself does not stop two servers sharing a store directory,
// which corrupts it.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start nats: create data dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "nats.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start nats: data dir not writable: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("start nats in %s: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("start nats in %s: lock: %w", dir, err)
	}
	return lock, nil
}

// Domain is the JetStream domain of an embedded server that accepts leaf
// nodes: clients connected through a leaf node reach its JetStream with
// ConnectDomain(..., Domain, ...).
const Domain = "tern"

// leafUser is the user name leaf nodes present, with the token as password.
const leafUser = "leaf"

// LeafURL is the URL a leaf node's remote names, with credentials: keep it
// secret. "" when LeafListen was not set.
func (s *Server) LeafURL() string {
	if s.leafURL == "" {
		return ""
	}
	return strings.Replace(s.leafURL, "://", "://"+leafUser+":"+s.token+"@", 1)
}

// ClientURL is the nats:// URL other processes connect to, with the port
// actually bound. It is empty when Options.Listen was empty.
func (s *Server) ClientURL() string { return s.url }

// InProcessConn returns a connection to the server that does not go through
// the network; it makes *Server a nats.InProcessConnProvider.
func (s *Server) InProcessConn() (net.Conn, error) { return s.ns.InProcessConn() }

// Shutdown stops the server, waits until it has stopped and flushed its
// store, and releases Dir. Clients see a disconnect and keep reconnecting.
// It is safe to call more than once.
func (s *Server) Shutdown() {
	s.once.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.lock.Close()
	})
}

// serverLog routes nats-server's log to slog: warnings and errors only, and
// keeps the first fatal message so Start can say why the server failed.
// nats-server calls Fatalf for failures it cannot recover from (port in use,
// JetStream store unusable) and expects the logger to exit; embedded, we must
// not, so the message is kept and Start turns it into an error.
type serverLog struct {
	log *slog.Logger
	mu  sync.Mutex
	msg string
}

func (l *serverLog) fatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msg
}

func (l *serverLog) Noticef(string, ...any) {}
func (l *serverLog) Debugf(string, ...any)  {}
func (l *serverLog) Tracef(string, ...any)  {}
func (l *serverLog) Warnf(format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...))
}
func (l *serverLog) Errorf(format string, v ...any) {
	l.log.Error(fmt.Sprintf(format, v...))
}
func (l *serverLog) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	if l.msg == "" {
		l.msg = msg
	}
	l.mu.Unlock()
	l.log.Error(msg)
}
