package server

import (
	"net"
	"net/netip"
	"testing"
)

// TestNames checks which Host values a node signature may name, for the
// ways a node is configured: endpoint, listen address, allowed hosts.
func TestNames(t *testing.T) {
	t.Parallel()
	// A local address other than loopback, if this host has one, for the
	// node listening on all interfaces.
	local := ""
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && !p.Addr().IsLoopback() && p.Addr().Is4() {
				local = p.Addr().String()
				break
			}
		}
	}
	tests := []struct {
		name             string
		endpoint, listen string
		allowed          []string
		own, notOwn      []string
	}{
		{
			name:     "endpoint only (tests serving the handler themselves)",
			endpoint: "http://127.0.0.1:8081",
			own:      []string{"127.0.0.1:8081", "[::ffff:127.0.0.1]:8081"},
			notOwn:   []string{"127.0.0.1:8082", "127.0.0.2:8081", "localhost:8082", "node.example:8081", ""},
		},
		{
			name:     "loopback listener",
			endpoint: "http://127.0.0.1:8081", listen: "127.0.0.1:8081",
			own:    []string{"127.0.0.1:8081", "localhost:8081", "LOCALHOST:8081"},
			notOwn: []string{"localhost:8082", "127.0.0.1", "10.0.0.5:8081"},
		},
		{
			name:     "endpoint behind a proxy, allowed names at both ports",
			endpoint: "https://node.example", listen: "10.0.0.5:8081", allowed: []string{"Pi.Lan"},
			own:    []string{"node.example", "NODE.example:443", "10.0.0.5:8081", "pi.lan:8081", "pi.lan:443"},
			notOwn: []string{"node.example:8081", "pi.lan", "pi.lan:80", "localhost:8081", "10.0.0.6:8081", "other.example"},
		},
		{
			name:     "IPv6",
			endpoint: "http://[fd00::5]:8081", listen: "[::1]:9000",
			own:    []string{"[fd00::5]:8081", "[FD00:0::5]:8081", "[::1]:9000", "localhost:9000"},
			notOwn: []string{"[fd00::6]:8081", "[::1]:8081", "fd00::5"},
		},
		{
			name:     "all interfaces",
			endpoint: "http://10.9.9.9:8081", listen: "[::]:8081",
			own:    append([]string{"127.0.0.1:8081", "127.0.0.2:8081", "[::1]:8081", "localhost:8081", "10.9.9.9:8081"}, nonEmpty(local+":8081")...),
			notOwn: append([]string{"192.0.2.1:8081", "127.0.0.1:8082", "node.example:8081"}, nonEmpty(local+":8082")...),
		},
		{
			name:     "all interfaces, written without a host",
			endpoint: "http://10.9.9.9:8081", listen: ":8081",
			own:    []string{"127.0.0.1:8081", "localhost:8081"},
			notOwn: []string{"192.0.2.1:8081", ":8081"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := newNames(tt.endpoint, tt.listen, tt.allowed)
			for _, h := range tt.own {
				if !n.ownHost(h) {
					t.Errorf("ownHost(%q) = false, want true", h)
				}
			}
			for _, h := range tt.notOwn {
				if n.ownHost(h) {
					t.Errorf("ownHost(%q) = true, want false", h)
				}
			}
		})
	}
}

// TestAllowedHost: the DNS-rebinding allow-list takes IP literals,
// localhost, the endpoint's host name and the allowed names, at any port.
func TestAllowedHost(t *testing.T) {
	t.Parallel()
	n := newNames("http://node.example:8081", "0.0.0.0:8081", []string{"pi.lan"})
	for h, want := range map[string]bool{
		"10.1.2.3:9": true, "[::1]:1": true, "localhost": true, "node.example:1": true, "NODE.EXAMPLE": true,
		"pi.lan:8081": true, "evil.example:8081": false, "node.example.evil:8081": false,
	} {
		if got := n.allowedHost(h); got != want {
			t.Errorf("allowedHost(%q) = %v, want %v", h, got, want)
		}
	}
}

// nonEmpty returns s as a list, empty when s has no host.
func nonEmpty(s string) []string {
	if s[0] == ':' {
		return nil
	}
	return []string{s}
}
