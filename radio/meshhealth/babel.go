package meshhealth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultBabelTimeout bounds QueryBabel when ctx has no deadline.
const DefaultBabelTimeout = 5 * time.Second

// Babel is a Source that queries babeld's local control socket with
// QueryBabel.
type Babel struct {
	// Addr is the control socket: "[::1]:PORT" for `babeld -G PORT` (or
	// -g), or a path starting with "/" for `babeld -G /path`.
	Addr string
}

var _ Source = Babel{}

// Read calls QueryBabel(ctx, b.Addr).
func (b Babel) Read(ctx context.Context) (Metrics, error) { return QueryBabel(ctx, b.Addr) }

// QueryBabel connects to babeld's local control socket at addr ("[::1]:33123",
// or a UNIX socket path starting with "/"), checks the banner, sends "dump"
// and parses the reply as ParseBabelDump does. The whole exchange ends by
// ctx's deadline, or within DefaultBabelTimeout if ctx has none; cancelling
// ctx aborts it.
func QueryBabel(ctx context.Context, addr string) (m Metrics, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultBabelTimeout)
		defer cancel()
	}
	network := "tcp"
	if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return Metrics{}, fmt.Errorf("query babeld: %w", err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return Metrics{}, fmt.Errorf("query babeld: %w", err)
	}
	// Cancellation without a deadline change: unblock I/O by expiring the
	// deadline, and wait for that callback before returning.
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		_ = conn.SetDeadline(time.Unix(1, 0))
	})
	defer func() {
		if !stop() {
			<-done
		}
	}()
	defer func() {
		switch {
		case err == nil:
		case ctx.Err() != nil:
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		case errors.Is(err, os.ErrDeadlineExceeded): // the conn deadline fired just before ctx's
			err = fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
		}
	}()

	sc := newLineScanner(conn)
	p := babelParser{}
	if err := p.banner(sc, true); err != nil {
		return Metrics{}, fmt.Errorf("query babeld %s: %w", addr, err)
	}
	if _, err := io.WriteString(conn, "dump\n"); err != nil {
		return Metrics{}, fmt.Errorf("query babeld %s: %w", addr, err)
	}
	if err := p.body(sc, true); err != nil {
		return Metrics{}, fmt.Errorf("query babeld %s: %w", addr, err)
	}
	_, _ = io.WriteString(conn, "quit\n") // polite; the close ends the session anyway
	m = p.metrics()
	m.ReadAt = time.Now()
	return m, nil
}

// ParseBabelDump parses the reply of babeld 1.12's local control protocol
// to "dump": optionally preceded by the banner ("BABEL 1.0", informational
// lines, "ok"), then "add"/"change"/"flush" lines for interfaces,
// neighbours, routes and xroutes, ended by "ok" (or the end of input).
// Unknown object kinds and unknown fields are ignored; a line that is not
// of this form, a reply of "no" or "bad", a line longer than 4 KiB or more
// than 20000 lines are errors. ReadAt is left zero.
func ParseBabelDump(r io.Reader) (Metrics, error) {
	sc := newLineScanner(r)
	p := babelParser{}
	if err := p.banner(sc, false); err != nil {
		return Metrics{}, fmt.Errorf("parse babel dump: %w", err)
	}
	if err := p.body(sc, false); err != nil {
		return Metrics{}, fmt.Errorf("parse babel dump: %w", err)
	}
	return p.metrics(), nil
}

// lineScanner yields lines of at most maxLineBytes, at most maxBabelLines
// of them, with the first line possibly peeked.
type lineScanner struct {
	sc     *bufio.Scanner
	n      int
	peeked *string
}

func newLineScanner(r io.Reader) *lineScanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, maxLineBytes), maxLineBytes)
	return &lineScanner{sc: sc}
}

// next returns the next line without its line ending; io.EOF at the end.
func (l *lineScanner) next() (string, error) {
	if l.peeked != nil {
		s := *l.peeked
		l.peeked = nil
		return s, nil
	}
	if !l.sc.Scan() {
		if err := l.sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				return "", fmt.Errorf("%w: line %d longer than %d bytes", ErrMalformed, l.n+1, maxLineBytes)
			}
			return "", err
		}
		return "", io.EOF
	}
	l.n++
	if l.n > maxBabelLines {
		return "", fmt.Errorf("%w: more than %d lines", ErrMalformed, maxBabelLines)
	}
	return strings.TrimSuffix(l.sc.Text(), "\r"), nil
}

func (l *lineScanner) unread(s string) { l.peeked = &s }

// babelObject is one dumped object, identified by kind and id.
type babelObject struct {
	kind, id string
	fields   map[string]string
}

type babelParser struct {
	objs  []babelObject
	index map[string]int // kind+" "+id -> position in objs
}

// banner consumes "BABEL x.y" and the informational lines up to "ok". If
// required is false and the first line is not "BABEL", it is left for body.
func (p *babelParser) banner(sc *lineScanner, required bool) error {
	first, err := sc.next()
	if err == io.EOF {
		return fmt.Errorf("%w: empty input", ErrMalformed)
	}
	if err != nil {
		return err
	}
	if !strings.HasPrefix(first, "BABEL ") {
		if required {
			return fmt.Errorf("%w: greeting %q", ErrNotBabel, truncate(first))
		}
		sc.unread(first)
		return nil
	}
	if v := strings.TrimPrefix(first, "BABEL "); !strings.HasPrefix(v, "1.") {
		return fmt.Errorf("%w: unsupported protocol version %q", ErrMalformed, truncate(v))
	}
	for {
		line, err := sc.next()
		if err == io.EOF {
			return fmt.Errorf("%w: banner not ended by ok", ErrMalformed)
		}
		if err != nil {
			return err
		}
		switch firstWord(line) {
		case "ok":
			return nil
		case "no", "bad":
			return fmt.Errorf("%w: %q", ErrBabelRefused, truncate(line))
		case "add", "change", "flush":
			return fmt.Errorf("%w: banner not ended by ok", ErrMalformed)
		}
		// version, host, my-id and future informational lines
	}
}

// body consumes the dump up to "ok". With terminated, the end of input
// before "ok" is an error.
func (p *babelParser) body(sc *lineScanner, terminated bool) error {
	for {
		line, err := sc.next()
		if err == io.EOF {
			if terminated {
				return fmt.Errorf("%w: reply not ended by ok", ErrMalformed)
			}
			return nil
		}
		if err != nil {
			return err
		}
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		switch words[0] {
		case "ok":
			return nil
		case "no", "bad":
			return fmt.Errorf("%w: %q", ErrBabelRefused, truncate(line))
		case "add", "change", "flush":
		default:
			return fmt.Errorf("%w: line %d: %q", ErrMalformed, sc.n, truncate(line))
		}
		if len(words) < 3 || len(words)%2 != 1 {
			return fmt.Errorf("%w: line %d: want VERB KIND ID followed by key value pairs: %q", ErrMalformed, sc.n, truncate(line))
		}
		fields := make(map[string]string, (len(words)-3)/2)
		for i := 3; i+1 < len(words); i += 2 {
			fields[words[i]] = words[i+1]
		}
		if err := p.apply(words[0], babelObject{kind: words[1], id: words[2], fields: fields}); err != nil {
			return fmt.Errorf("%w: line %d: %w", ErrMalformed, sc.n, err)
		}
	}
}

func (p *babelParser) apply(verb string, o babelObject) error {
	if p.index == nil {
		p.index = map[string]int{}
	}
	key := o.kind + " " + o.id
	i, ok := p.index[key]
	if verb == "flush" {
		if ok {
			p.objs[i].kind = "" // tombstone
			delete(p.index, key)
		}
		return nil
	}
	if err := checkBabelObject(o); err != nil {
		return err
	}
	if ok {
		p.objs[i] = o
		return nil
	}
	p.index[key] = len(p.objs)
	p.objs = append(p.objs, o)
	return nil
}

// checkBabelObject validates the fields this package uses.
func checkBabelObject(o babelObject) error {
	f := o.fields
	switch o.kind {
	case "interface":
		if v := f["up"]; v != "true" && v != "false" {
			return fmt.Errorf("interface %s: up %q", o.id, v)
		}
	case "neighbour":
		if f["address"] == "" || f["if"] == "" {
			return fmt.Errorf("neighbour %s: missing address or if", o.id)
		}
		for _, k := range []string{"reach"} {
			if _, err := strconv.ParseUint(f[k], 16, 16); err != nil {
				return fmt.Errorf("neighbour %s: %s %q", o.id, k, f[k])
			}
		}
		for _, k := range []string{"rxcost", "txcost", "cost"} {
			if _, err := babelUint(f[k]); err != nil {
				return fmt.Errorf("neighbour %s: %s %q", o.id, k, f[k])
			}
		}
	case "route":
		if f["prefix"] == "" || f["via"] == "" || f["if"] == "" {
			return fmt.Errorf("route %s: missing prefix, via or if", o.id)
		}
		if v := f["installed"]; v != "yes" && v != "no" {
			return fmt.Errorf("route %s: installed %q", o.id, v)
		}
		if _, err := babelUint(f["metric"]); err != nil {
			return fmt.Errorf("route %s: metric %q", o.id, f["metric"])
		}
	}
	return nil
}

// babelUint parses a cost or metric: 0..65535.
func babelUint(s string) (int, error) {
	v, err := strconv.ParseUint(s, 10, 16)
	return int(v), err
}

func (p *babelParser) metrics() Metrics {
	m := Metrics{Proto: ProtoBabel}
	for _, o := range p.objs {
		f := o.fields
		switch o.kind {
		case "interface":
			if f["up"] == "true" {
				m.InterfacesUp++
			}
		case "neighbour":
			reach, _ := strconv.ParseUint(f["reach"], 16, 16)
			rx, _ := babelUint(f["rxcost"])
			tx, _ := babelUint(f["txcost"])
			cost, _ := babelUint(f["cost"])
			m.Neighbors = append(m.Neighbors, Neighbor{
				Address: f["address"], Iface: f["if"], Metric: float64(cost),
				Reach: uint16(reach), RxCost: rx, TxCost: tx,
			})
		case "route":
			if f["installed"] != "yes" {
				continue
			}
			metric, _ := babelUint(f["metric"])
			m.Routes = append(m.Routes, Route{
				Destination: f["prefix"], Via: f["via"], Iface: f["if"], Metric: float64(metric),
			})
		}
	}
	m.MeshOK = babelMeshOK(m)
	return m
}
