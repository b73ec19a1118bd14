package ble

import (
	"errors"
	"strings"
	"testing"
)

func TestNameRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		endpoint, name string
	}{
		{"http://n1:8081", "OFFGRID:aHR0cDovL24xOjgwODE"},
		{"http://a:1", "OFFGRID:aHR0cDovL2E6MQ"},
		{"https://a.b:443", "OFFGRID:aHR0cHM6Ly9hLmI6NDQz"},
		{"http://[::1]:80", "OFFGRID:aHR0cDovL1s6OjFdOjgw"},
	} {
		t.Run(tt.endpoint, func(t *testing.T) {
			t.Parallel()
			got, err := Name(tt.endpoint)
			if err != nil || got != tt.name {
				t.Fatalf("Name(%q) = %q, %v, want %q", tt.endpoint, got, err, tt.name)
			}
			if len(got) > MaxLegacyName {
				t.Errorf("Name(%q) is %d bytes, max %d", tt.endpoint, len(got), MaxLegacyName)
			}
			ep, ok := ParseName(got)
			if !ok || ep != tt.endpoint {
				t.Errorf("ParseName(%q) = %q, %v, want %q, true", got, ep, ok, tt.endpoint)
			}
		})
	}
}

func TestNameErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		endpoint string
		tooLong  bool // wraps ErrNameTooLong, else an invalid endpoint
	}{
		{"http://127.0.0.1:8081", true}, // the seed's example: 36 bytes
		{"http://1.2.3.4:1", true},      // 16 bytes: no IPv4 endpoint fits
		{"http://abc.d:8081", true},
		{"", false},
		{"n1:8081", false},
		{"ftp://n1:21", false},
		{"http://n1", false},
		{"http://n1:0", false},
		{"http://n1:8081/", false},
		{"http://u@n1:1", false},
		{"http://n1:1?q", false},
		{"http://n1:1#f", false},
		{"http://n 1:1", false},
	} {
		t.Run(tt.endpoint, func(t *testing.T) {
			t.Parallel()
			got, err := Name(tt.endpoint)
			if err == nil {
				t.Fatalf("Name(%q) = %q, want an error", tt.endpoint, got)
			}
			if errors.Is(err, ErrNameTooLong) != tt.tooLong {
				t.Errorf("Name(%q) = %v; wraps ErrNameTooLong: %v, want %v", tt.endpoint, err, !tt.tooLong, tt.tooLong)
			}
			if !strings.HasPrefix(err.Error(), "ble: ") || !strings.Contains(err.Error(), tt.endpoint) {
				t.Errorf("Name(%q) error %q does not say ble and name the endpoint", tt.endpoint, err)
			}
		})
	}
}

func TestParseName(t *testing.T) {
	t.Parallel()
	b64 := func(s string) string { return NamePrefix + nameEncoding.EncodeToString([]byte(s)) }
	for _, tt := range []struct {
		label, name string
		want        string // "" = refused
	}{
		{"valid", "OFFGRID:aHR0cDovL24xOjgwODE", "http://n1:8081"},
		{"extended-advertising length", b64("http://127.0.0.1:8081"), "http://127.0.0.1:8081"},
		{"https", b64("https://node.local:8443"), "https://node.local:8443"},
		{"lower-case prefix", "offgrid:aHR0cDovL24xOjgwODE", ""},
		{"no colon", "OFFGRIDaHR0cDovL24xOjgwODE", ""},
		{"prefix not at start", "XOFFGRID:aHR0cDovL24xOjgwODE", ""},
		{"prefix only", "OFFGRID:", ""},
		{"empty", "", ""},
		{"a phone", "Pixel 7", ""},
		{"padding", "OFFGRID:aHR0cDovL24xOjgwODE=", ""},
		{"standard alphabet", "OFFGRID:aHR0cDovL24x+jgwODE", ""},
		{"newline inside", "OFFGRID:aHR0cDovL24x\nOjgwODE", ""},
		{"bad character", "OFFGRID:aHR0cDovL24x!jgwODE", ""},
		{"non-zero trailing bits", "OFFGRID:aHR0cDovL24xOjgwODF", ""},
		{"impossible length", "OFFGRID:aHR0cDovL24xOjgwODEx", ""},
		{"not a URL", b64("hello"), ""},
		{"no scheme", b64("n1:8081"), ""},
		{"ftp", b64("ftp://n1:21"), ""},
		{"no port", b64("http://n1"), ""},
		{"empty port", b64("http://n1:"), ""},
		{"port 0", b64("http://n1:0"), ""},
		{"port too big", b64("http://n1:70000"), ""},
		{"port leading zero", b64("http://n1:08081"), ""},
		{"no host", b64("http://:8081"), ""},
		{"path", b64("http://n1:8081/api"), ""},
		{"user info", b64("http://u:p@n1:8081"), ""},
		{"query", b64("http://n1:8081?x=1"), ""},
		{"fragment", b64("http://n1:8081#x"), ""},
		{"control byte", b64("http://n1:8081\x00"), ""},
		{"longer than MaxEndpoint", b64("http://" + strings.Repeat("a", 60) + ":1"), ""},
		{"longer than MaxName", NamePrefix + strings.Repeat("A", MaxName), ""},
	} {
		t.Run(tt.label, func(t *testing.T) {
			t.Parallel()
			got, ok := ParseName(tt.name)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("ParseName(%q) = %q, %v, want %q, %v", tt.name, got, ok, tt.want, tt.want != "")
			}
		})
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{
		"OFFGRID:aHR0cDovL24xOjgwODE",
		"OFFGRID:aHR0cDovL24xOjgwODE=",
		"OFFGRID:aHR0cDovLzEyNy4wLjAuMTo4MDgx",
		"OFFGRID:",
		"offgrid:aHR0cDovL24xOjgwODE",
		"Pixel 7",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		ep, ok := ParseName(name)
		if !ok {
			if ep != "" {
				t.Errorf("ParseName(%q) = %q, false; want an empty endpoint when refused", name, ep)
			}
			return
		}
		if err := checkEndpoint(ep); err != nil {
			t.Errorf("ParseName(%q) accepted endpoint %q: %v", name, ep, err)
		}
		// One name per endpoint: formatting gives back the very name.
		if got := NamePrefix + nameEncoding.EncodeToString([]byte(ep)); got != name {
			t.Errorf("ParseName(%q) = %q, which formats as %q", name, ep, got)
		}
		got, err := Name(ep)
		switch {
		case len(name) <= MaxLegacyName && (err != nil || got != name):
			t.Errorf("Name(%q) = %q, %v, want %q", ep, got, err, name)
		case len(name) > MaxLegacyName && !errors.Is(err, ErrNameTooLong):
			t.Errorf("Name(%q) = %q, %v, want ErrNameTooLong", ep, got, err)
		}
	})
}
