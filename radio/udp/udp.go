package udp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/offgrid-net/offgrid/radio"
)

// DefaultGroup is the multicast group and port of Config.Group when it is
// empty.
const DefaultGroup = "239.23.0.7:47007"

// MTU is the largest frame the link sends.
const MTU = radio.MaxFrame

// Config configures a Link.
type Config struct {
	// Group is the IPv4 multicast group and port that all nodes of a mesh
	// share, "host:port". Empty means DefaultGroup.
	Group string
	// Interface is the name of the network interface to join the group on
	// and to send from, for example "bat0", "wlan0" or "lo". Empty means
	// the system's default multicast interface (the one of the default
	// route), which is rarely the mesh: set it on a node.
	Interface string
	// Loopback turns on IP_MULTICAST_LOOP, so that other sockets on this
	// host (other nodes, and this node's own receiver) hear what the link
	// sends. Needed when several nodes share a host (two nodes on a laptop,
	// tests, demos) and harmless otherwise: a receiver drops its own frames
	// (radio.ErrSelf). On in DefaultConfig.
	Loopback bool
}

// DefaultConfig returns the configuration of a node on the default group
// and interface, hearing other nodes on its own host.
func DefaultConfig() Config { return Config{Group: DefaultGroup, Loopback: true} }

// Link is a radio.Link over UDP multicast. Send and Run are safe to call
// concurrently; Send works whether or not Run is running.
type Link struct {
	group *net.UDPAddr
	ifi   *net.Interface // nil for the system default
	loop  bool
}

var _ radio.Link = (*Link)(nil)

// New validates cfg and returns a link. It opens no socket: Run does.
func New(cfg Config) (*Link, error) {
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	host, port, err := net.SplitHostPort(cfg.Group)
	if err != nil {
		return nil, fmt.Errorf("udp link: group %q: %w", cfg.Group, err)
	}
	ip := net.ParseIP(host).To4()
	if ip == nil || !ip.IsMulticast() {
		return nil, fmt.Errorf("udp link: group %q is not an IPv4 multicast address", cfg.Group)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return nil, fmt.Errorf("udp link: group %q: bad port", cfg.Group)
	}
	l := &Link{group: &net.UDPAddr{IP: ip, Port: int(p)}, loop: cfg.Loopback}
	if cfg.Interface != "" {
		l.ifi, err = net.InterfaceByName(cfg.Interface)
		if err != nil {
			return nil, fmt.Errorf("udp link: interface %q: %w", cfg.Interface, err)
		}
	}
	return l, nil
}

// Via returns radio.ViaUDP.
func (l *Link) Via() radio.Via { return radio.ViaUDP }

// MTU returns MTU.
func (l *Link) MTU() int { return MTU }

// Group returns the multicast group and port.
func (l *Link) Group() string { return l.group.String() }

// Send sends frame in one datagram to the group. It uses a socket of its
// own for each call, so it needs no running Run and shares no state.
func (l *Link) Send(ctx context.Context, frame []byte) error {
	if len(frame) > MTU {
		return fmt.Errorf("udp send: %w: %d bytes, MTU %d", radio.ErrTooLarge, len(frame), MTU)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		return fmt.Errorf("udp send: %w", err)
	}
	defer c.Close()
	p := ipv4.NewPacketConn(c)
	if l.ifi != nil {
		if err := p.SetMulticastInterface(l.ifi); err != nil {
			return fmt.Errorf("udp send: set multicast interface %s: %w", l.ifi.Name, err)
		}
	}
	if err := p.SetMulticastLoopback(l.loop); err != nil {
		return fmt.Errorf("udp send: set multicast loopback: %w", err)
	}
	if err := p.SetMulticastTTL(1); err != nil {
		return fmt.Errorf("udp send: set multicast TTL: %w", err)
	}
	if d, ok := ctx.Deadline(); ok {
		if err := c.SetWriteDeadline(d); err != nil {
			return fmt.Errorf("udp send: %w", err)
		}
	}
	if _, err := c.WriteToUDP(frame, l.group); err != nil {
		return fmt.Errorf("udp send to %s: %w", l.group, err)
	}
	return nil
}

// Run joins the group and delivers each datagram until ctx ends. A closed
// socket unblocks its read when ctx ends; Run waits for the goroutine that
// closes it before it returns.
func (l *Link) Run(ctx context.Context, deliver func(radio.Packet)) error {
	c, err := net.ListenMulticastUDP("udp4", l.ifi, l.group)
	if err != nil {
		return fmt.Errorf("udp link: join %s: %w", l.group, err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		select {
		case <-ctx.Done():
		case <-done:
		}
		c.Close()
	})
	defer func() {
		close(done)
		wg.Wait()
	}()

	// One byte more than a frame may be, to tell oversized datagrams.
	buf := make([]byte, radio.MaxFrame+1)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("udp link: read: %w", err)
			}
			// A transient error (for example ICMP feedback): keep reading,
			// but not in a hot loop.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		p := radio.Packet{Data: make([]byte, n), Via: radio.ViaUDP}
		copy(p.Data, buf[:n])
		if from != nil {
			p.From = from.String()
		}
		deliver(p)
	}
}
