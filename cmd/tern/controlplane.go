package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/configwatch"
	"github.com/terncdn/tern/control"
)

// Files under --data-dir.
const (
	dataNATS       = "nats"                   // the embedded NATS server's store
	dataToken      = "admin-token"            // the control API's bearer token
	dataNATSToken  = "nats-token"             // the token edges present to the embedded NATS server
	dataNATSURL    = "nats-url"               // where the embedded NATS server listens, for edges
	dataControlURL = "control-url"            // where the control API listens, for the CLI
	dataControlCA  = "control-ca.pem"         // the control API's TLS certificate, for the CLI
	dataState      = "edge-config.json"       // the last good configuration (configwatch)
	dataPosition   = "invalidations-position" // the last invalidation the edge applied
	tokenBytes     = 32                       // random bytes in a generated token
)

// controlPlane is the control plane: NATS (embedded, or a connection to
// an external server) with the config bucket and the invalidation stream,
// the distributions store, the edges' heartbeats, the invalidation
// tracker and the API over them. `tern control` runs it alone; `tern
// serve --data-dir` beside an edge.
type controlPlane struct {
	bus   *bus.Server // nil with external NATS
	conn  *bus.Conn
	kv    *bus.KV
	token string
	store *control.Store
	edges *control.Edges
	api   http.Handler // the control API, for /api/v1/
}

// controlOptions say where the control plane keeps its state and how
// edges reach it.
type controlOptions struct {
	// dir holds the admin token and, with embedded NATS, its store.
	dir string
	// base is the configuration file distributions are validated with;
	// its distributions seed an empty bucket.
	base       []byte
	baseSource string
	// natsURL is an external NATS server (with JetStream), natsToken its
	// token; "" embeds one.
	natsURL, natsToken string
	// natsListen is where the embedded server accepts edges ("" only this
	// process), guarded by a token generated under dir; leafListen where it
	// accepts leaf nodes ("" none), with the same token.
	natsListen, leafListen string
}

// openDataDir makes dir (private) and returns the token kept in file
// name under it, generated on first use.
func openDataDir(dir, name string) (token string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("--data-dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, name)
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("--data-dir: %s is empty; remove it to have a new token made", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("--data-dir: read token: %w", err)
	}
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("--data-dir: make token: %w", err)
	}
	token = hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("--data-dir: write token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("--data-dir: write token: %w", err)
	}
	return token, f.Close()
}

// startControlPlane starts (or connects to) NATS, seeds the config bucket
// with base's distributions when it never held any (the first start), and
// returns the control plane ready to serve its API.
func startControlPlane(ctx context.Context, o controlOptions) (*controlPlane, error) {
	token, err := openDataDir(o.dir, dataToken)
	if err != nil {
		return nil, err
	}
	cp := &controlPlane{token: token}
	fail := func(err error) (*controlPlane, error) {
		cp.close()
		return nil, err
	}
	if o.natsURL != "" {
		if cp.conn, err = bus.Connect(ctx, o.natsURL, "tern control", natsAuth(o.natsToken)...); err != nil {
			return nil, err
		}
	} else {
		var natsToken string
		if o.natsListen != "" || o.leafListen != "" {
			if natsToken, err = openDataDir(o.dir, dataNATSToken); err != nil {
				return nil, err
			}
		}
		cp.bus, err = bus.Start(bus.Options{Dir: filepath.Join(o.dir, dataNATS), Listen: o.natsListen, Token: natsToken, LeafListen: o.leafListen})
		if err != nil {
			return nil, fmt.Errorf("embedded NATS: %w", err)
		}
		if cp.conn, err = cp.bus.Connect(ctx, "tern control"); err != nil {
			return fail(fmt.Errorf("embedded NATS: %w", err))
		}
	}
	if err := cp.conn.EnsureBuckets(ctx, bus.BucketOptions{}); err != nil {
		return fail(err)
	}
	if cp.kv, err = cp.conn.KV(ctx, bus.ConfigBucket); err != nil {
		return fail(err)
	}
	if err := seed(ctx, cp.kv, o.base, o.baseSource); err != nil {
		return fail(err)
	}
	if cp.store, err = control.NewStore(cp.kv, o.base, o.baseSource); err != nil {
		return fail(err)
	}
	if cp.edges, err = control.WatchEdges(ctx, cp.conn.NATS()); err != nil {
		return fail(err)
	}
	invs, err := control.NewInvalidations(ctx, cp.conn, cp.store, cp.edges)
	if err != nil {
		return fail(err)
	}
	if cp.api, err = control.API(cp.store, token, control.WithEdges(cp.edges), control.WithInvalidations(invs),
		control.WithPOPs(cp.edges, control.NewDrains(cp.kv))); err != nil {
		return fail(err)
	}
	return cp, nil
}

func (cp *controlPlane) close() {
	if cp.conn != nil {
		cp.conn.Close()
	}
	if cp.bus != nil {
		cp.bus.Shutdown()
	}
}

// seed puts base's distributions into an empty bucket, each as the YAML it
// was written in: the first start of `tern serve --data-dir` carries the
// configuration file's distributions over; later starts leave the bucket,
// which is then the source of truth, alone.
func seed(ctx context.Context, kv *bus.KV, base []byte, baseSource string) error {
	// A bucket that ever held a distribution is past its first start, even
	// if every one was deleted since: the watch delivers their delete
	// markers too, where List would find nothing and seed them again.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := kv.Watch(wctx, configwatch.DistributionPrefix+">", 0)
	if err != nil {
		return fmt.Errorf("read configuration bucket: %w", err)
	}
	e, ok := <-ch
	if !ok {
		return fmt.Errorf("read configuration bucket: %w", errors.Join(ctx.Err(), errors.New("the connection closed")))
	}
	if e.Op != bus.OpSynced {
		return nil
	}
	cancel()
	docs, err := distributionDocuments(base, baseSource)
	if err != nil {
		return err
	}
	for _, d := range docs {
		if _, err := kv.Create(ctx, configwatch.DistributionPrefix+d.id, d.data); err != nil && !errors.Is(err, bus.ErrExists) {
			return fmt.Errorf("seed distribution %s: %w", d.id, err)
		}
	}
	return nil
}

type distributionDoc struct {
	id   string
	data []byte
}

// distributionDocuments returns each of base's distributions as a YAML
// document of its own, as written.
func distributionDocuments(base []byte, baseSource string) ([]distributionDoc, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(base, &root); err != nil {
		return nil, fmt.Errorf("read %s: %w", baseSource, err)
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, nil
	}
	m := root.Content[0]
	var out []distributionDoc
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "distributions" || m.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		for _, item := range m.Content[i+1].Content {
			resolveAliases(item) // an anchor may be in another distribution
			data, err := yaml.Marshal(item)
			if err != nil {
				return nil, fmt.Errorf("read %s: distribution: %w", baseSource, err)
			}
			d, err := config.ParseDistribution(data, baseSource)
			if err != nil {
				return nil, err
			}
			out = append(out, distributionDoc{id: d.ID, data: data})
		}
	}
	return out, nil
}

// resolveAliases replaces each alias under n with a copy of what it names,
// so that n marshals into a document of its own.
func resolveAliases(n *yaml.Node) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		*n = *n.Alias
		n.Anchor = ""
	}
	for _, c := range n.Content {
		resolveAliases(c)
	}
}
