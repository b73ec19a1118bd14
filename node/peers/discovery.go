package peers

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/radio"
)

// discovery sends this node's signed beacons on every link and turns the
// frames it hears into peer-table entries; endpoints with a gossip port are
// handed to membership to join.
type discovery struct {
	s        *Service
	links    []radio.Link
	receiver *radio.Receiver
	joins    chan joinRequest

	// mu guards counter.
	mu      sync.Mutex
	counter uint32
}

type joinRequest struct {
	id   identity.NodeID
	addr string
}

func newDiscovery(s *Service, links []radio.Link) *discovery {
	return &discovery{s: s, links: links, receiver: radio.NewReceiver(s.self.Keys.ID(), 4096), joins: make(chan joinRequest, 64)}
}

// registerMetrics exposes the frame counters on /metrics.
func (d *discovery) registerMetrics(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range []struct {
		name, help string
		get        func(radio.StatsSnapshot) uint64
	}{
		{"offgrid_frames_received_total", "Frames received on any link.", func(s radio.StatsSnapshot) uint64 { return s.Received }},
		{"offgrid_frames_malformed_total", "Frames dropped as malformed or truncated.", func(s radio.StatsSnapshot) uint64 { return s.Malformed }},
		{"offgrid_frames_bad_signature_total", "Frames dropped for a missing or forged signature.", func(s radio.StatsSnapshot) uint64 { return s.BadSignature }},
		{"offgrid_frames_replayed_total", "Frames dropped as replayed or stale.", func(s radio.StatsSnapshot) uint64 { return s.Replayed }},
		{"offgrid_frames_oversized_total", "Frames dropped for exceeding the size limit.", func(s radio.StatsSnapshot) uint64 { return s.Oversized }},
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(c.get(d.receiver.Stats())) }))
	}
}

// run beacons and listens on every link until ctx ends.
func (d *discovery) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, l := range d.links {
		wg.Go(func() {
			if err := l.Run(ctx, func(p radio.Packet) { d.deliver(ctx, p) }); err != nil && ctx.Err() == nil {
				d.s.log.Warn("Radio link stopped", "link", string(l.Via()), "err", err)
			}
		})
	}
	wg.Go(func() { d.beaconLoop(ctx) })
	if d.s.members != nil {
		wg.Go(func() { d.joinLoop(ctx) })
	}
	wg.Wait()
}

func (d *discovery) beaconLoop(ctx context.Context) {
	t := time.NewTicker(d.s.cfg.BeaconInterval)
	defer t.Stop()
	for {
		d.beacon(ctx)
		if d.s.members != nil {
			d.s.members.refresh()
		}
		expired, err := d.s.table.expire(ctx, d.s.cfg.DownAfter, d.s.cfg.Expiry)
		if err != nil && ctx.Err() == nil {
			d.s.log.Warn("Peer expiry failed", "err", err)
		}
		for _, p := range expired {
			d.s.log.Info("Peer silent; marked down", "peer", p.Endpoint, "via", p.Via)
			d.s.changed(ctx, p)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// beacon sends one signed beacon on every link.
func (d *discovery) beacon(ctx context.Context) {
	active := d.s.deps.Active(ctx)
	d.mu.Lock()
	d.counter++
	counter := d.counter
	d.mu.Unlock()
	f := radio.Frame{
		Type:     radio.FrameBeacon,
		Epoch:    uint32(d.s.self.Epoch),
		Counter:  counter,
		Endpoint: d.s.self.Endpoint,
		Name:     d.s.self.Name,
		Active:   active,
	}
	if d.s.members != nil {
		f.Gossip = uint16(d.s.members.port())
	}
	frame, err := radio.EncodeFrame(d.s.self.Keys, f)
	if err != nil {
		d.s.log.Warn("Cannot encode beacon", "err", err)
		return
	}
	for _, l := range d.links {
		if err := l.Send(ctx, frame); err != nil && !errors.Is(err, radio.ErrBudget) && ctx.Err() == nil {
			d.s.log.Debug("Beacon not sent", "link", string(l.Via()), "err", err)
		}
	}
}

// deliver handles one packet from a link. It is called from the link's
// goroutine and does one SQLite write at most.
func (d *discovery) deliver(ctx context.Context, p radio.Packet) {
	now := d.s.deps.Now().UTC()
	if p.Data == nil {
		// A name-only discovery (BLE): an endpoint hint, identity unknown
		// until the peer is heard from otherwise.
		if p.Endpoint != "" && p.Endpoint != d.s.self.Endpoint {
			d.s.observe(ctx, Peer{Endpoint: p.Endpoint, Via: string(p.Via), State: StateUp, LastSeen: now})
		}
		return
	}
	f, err := d.receiver.Accept(p)
	if err != nil {
		return
	}
	switch f.Type {
	case radio.FrameBeacon:
		d.s.observe(ctx, Peer{Endpoint: f.Endpoint, ID: f.Sender, Name: f.Name, Via: string(p.Via), State: StateUp,
			Active: f.Active, Gossip: int(f.Gossip), LastSeen: now})
		if d.s.members != nil && f.Gossip != 0 && d.s.deps.Gate.IsMember(f.Sender) {
			if host := endpointHost(f.Endpoint); host != "" {
				select {
				case d.joins <- joinRequest{id: f.Sender, addr: net.JoinHostPort(host, strconv.Itoa(int(f.Gossip)))}:
				default: // joins are backed up; the next beacon asks again
				}
			}
		}
	case radio.FramePing:
		d.mu.Lock()
		d.counter++
		counter := d.counter
		d.mu.Unlock()
		pong, err := radio.EncodeFrame(d.s.self.Keys, radio.Frame{Type: radio.FramePong, Epoch: uint32(d.s.self.Epoch), Counter: counter, Nonce: f.Nonce})
		if err == nil {
			for _, l := range d.links {
				if l.Via() == p.Via {
					l.Send(ctx, pong)
				}
			}
		}
	}
}

func (d *discovery) joinLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-d.joins:
			d.s.members.join(j.id, j.addr)
		}
	}
}

// endpointHost returns the host of an http(s) endpoint URL.
func endpointHost(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	return u.Hostname()
}
