package server

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// interfaceRefresh is how often, at most, a node listening on all
// interfaces rereads their addresses after a signed request names an
// address it does not know (an address can appear after start, from DHCP).
const interfaceRefresh = time.Second

// names are the host names a node is reached by, built once from its
// endpoint, its listen address and Config.AllowedHosts. Two checks use
// them: the DNS-rebinding allow-list (the host part of any request's Host)
// and the receiver of a node signature (the signed host and port must be
// one of this node's).
type names struct {
	// hosts are lower-case host names (not IP literals) allowed in Host.
	hosts map[string]bool
	// own are this node's "host:port" names, canonical (see canonical).
	own map[string]bool
	// anyPort, when the node listens on all interfaces, is the port at
	// which every address of this host's interfaces is this node.
	anyPort string

	// mu guards the interface addresses, read lazily.
	mu       sync.Mutex
	ifaces   map[netip.Addr]bool
	readAt   time.Time
	readAddr func() ([]net.Addr, error)
}

// newNames builds the names of a node at endpoint (its URL) listening on
// listen ("host:port"; empty: not known, as in tests that serve the handler
// themselves), answering also to allowed host names.
func newNames(endpoint, listen string, allowed []string) *names {
	n := &names{hosts: map[string]bool{"localhost": true}, own: map[string]bool{}, readAddr: net.InterfaceAddrs}
	var ports []string
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		host, port := splitHost(u.Host)
		if port == "" {
			port = map[string]string{"https": "443"}[u.Scheme]
			if port == "" {
				port = "80"
			}
			// A client sends the endpoint's Host as written, without a port.
			n.own[host] = true
		}
		n.addName(host)
		n.own[canonical(host, port)] = true
		ports = append(ports, port)
	}
	if listen != "" {
		host, port := splitHost(listen)
		ports = append(ports, port)
		ip, err := netip.ParseAddr(host)
		switch {
		case host == "" || err == nil && ip.IsUnspecified():
			n.anyPort = port
			n.own[canonical("localhost", port)] = true
		case err == nil:
			n.own[canonical(host, port)] = true
			if ip.IsLoopback() {
				n.own[canonical("localhost", port)] = true
			}
		default:
			n.addName(host)
			n.own[canonical(host, port)] = true
		}
	}
	for _, h := range allowed {
		n.addName(h)
		for _, p := range ports {
			n.own[canonical(h, p)] = true
		}
	}
	return n
}

// addName allows host in Host headers, unless it is an IP literal (those
// are always allowed).
func (n *names) addName(host string) {
	host = strings.ToLower(host)
	if _, err := netip.ParseAddr(host); err != nil {
		n.hosts[host] = true
	}
}

// allowedHost reports whether a request's Host (with or without a port)
// may reach the node: an IP literal, localhost or a configured name.
func (n *names) allowedHost(hostport string) bool {
	host, _ := splitHost(hostport)
	_, err := netip.ParseAddr(host)
	return err == nil || n.hosts[host]
}

// ownHost reports whether hostport, the Host a node signature covers, is one of
// this node's names: its endpoint's host and port, its listen address (every
// local interface address at its port when it listens on all of them), or an
// allowed host name at one of those ports.
func (n *names) ownHost(hostport string) bool {
	host, port := splitHost(hostport)
	if n.own[canonical(host, port)] {
		return true
	}
	if n.anyPort == "" || port != n.anyPort {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return ip.IsLoopback() || n.localAddr(ip.Unmap().WithZone(""))
}

// localAddr reports whether ip is an address of one of this host's
// interfaces, rereading them when ip is not known and the last read is
// older than interfaceRefresh.
func (n *names) localAddr(ip netip.Addr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ifaces[ip] {
		return true
	}
	if !n.readAt.IsZero() && time.Since(n.readAt) < interfaceRefresh {
		return false
	}
	n.readAt = time.Now()
	addrs, err := n.readAddr()
	if err != nil {
		return false
	}
	n.ifaces = make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			n.ifaces[p.Addr().Unmap().WithZone("")] = true
		}
	}
	return n.ifaces[ip]
}

// splitHost splits "host:port", "[v6]:port", "host" or "[v6]" into a
// lower-case host without brackets and the port ("" when absent).
func splitHost(hostport string) (host, port string) {
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		return strings.ToLower(h), p
	}
	return strings.ToLower(strings.Trim(hostport, "[]")), ""
}

// canonical joins host and port into the one spelling compared: a name in
// lower case, an IP literal in its shortest form (IPv4-mapped IPv6 as IPv4,
// zone kept), and no port when there is none.
func canonical(host, port string) string {
	host = strings.ToLower(host)
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
	}
	if port == "" {
		return host
	}
	return net.JoinHostPort(host, port)
}
