package ble

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/offgrid-net/offgrid/radio"
)

// NamePrefix starts every Offgrid-Net BLE local name.
const NamePrefix = "OFFGRID:"

// MaxLegacyName is the longest local name, in bytes, that a legacy BLE
// advertisement (or scan response) carries: 31 bytes of advertising data
// less the 1-byte length and 1-byte type of the name's AD structure. It
// leaves 20 base64url characters after NamePrefix, that is endpoints of at
// most 15 bytes: a short host name such as "http://n1:8081" fits, no IPv4
// address does ("http://1.2.3.4:1" is already 16 bytes). See
// MaxLegacyEndpoint.
const MaxLegacyName = 31 - 2

// MaxLegacyEndpoint is the longest endpoint, in bytes, whose name fits
// MaxLegacyName: 20 base64url characters carry 15 bytes.
const MaxLegacyEndpoint = 15

// MaxName is the longest local name ParseName accepts: the GAP limit on a
// device name (248 bytes), which extended advertising (Bluetooth 5) can
// carry. Longer names are refused before decoding.
const MaxName = 248

// ErrNameTooLong reports an endpoint whose advertised name would not fit a
// legacy advertisement (MaxLegacyName).
var ErrNameTooLong = errors.New("ble: name too long for a legacy advertisement")

// nameEncoding is base64url without padding; Strict refuses non-zero
// trailing bits, so that each endpoint has exactly one name.
var nameEncoding = base64.RawURLEncoding.Strict()

// Name returns the BLE local name that advertises endpoint:
// NamePrefix + base64url(endpoint) without padding. endpoint must be a valid
// endpoint (see ParseName). It returns an error wrapping ErrNameTooLong if
// the name exceeds MaxLegacyName bytes, the most a legacy advertisement
// carries, which is where the name beacon is used (adapters without
// extended advertising, see the package comment): only endpoints of up to
// MaxLegacyEndpoint bytes fit.
func Name(endpoint string) (string, error) {
	if err := checkEndpoint(endpoint); err != nil {
		return "", fmt.Errorf("ble: endpoint %q: %w", endpoint, err)
	}
	name := NamePrefix + nameEncoding.EncodeToString([]byte(endpoint))
	if len(name) > MaxLegacyName {
		return "", fmt.Errorf("%w: endpoint %q gives a %d-byte name, a legacy advertisement carries at most %d bytes (endpoints of up to %d bytes, e.g. http://n1:8081)",
			ErrNameTooLong, endpoint, len(name), MaxLegacyName, MaxLegacyEndpoint)
	}
	return name, nil
}

// ParseName returns the endpoint that name advertises, and reports whether
// name is an Offgrid-Net name. It is strict, because anyone nearby can
// choose a device name: the exact prefix NamePrefix, then only base64url
// characters without padding and with zero trailing bits, decoding to a
// valid endpoint (checkEndpoint). Names up to MaxName bytes are accepted,
// so that peers using extended advertising are heard too.
func ParseName(name string) (endpoint string, ok bool) {
	if len(name) > MaxName {
		return "", false
	}
	enc, ok := strings.CutPrefix(name, NamePrefix)
	if !ok || enc == "" {
		return "", false
	}
	// The decoder skips '\r' and '\n'; refuse them and anything else
	// outside the alphabet here.
	for i := 0; i < len(enc); i++ {
		c := enc[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return "", false
		}
	}
	b, err := nameEncoding.DecodeString(enc)
	if err != nil {
		return "", false
	}
	endpoint = string(b)
	if checkEndpoint(endpoint) != nil {
		return "", false
	}
	return endpoint, true
}

// checkEndpoint accepts an API base URL as beacons carry it: at most
// radio.MaxEndpoint bytes of printable ASCII; scheme http or https; a host
// and a numeric port 1..65535; no user info, path, query or fragment.
func checkEndpoint(s string) error {
	if len(s) > radio.MaxEndpoint {
		return fmt.Errorf("%d bytes, max %d", len(s), radio.MaxEndpoint)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return fmt.Errorf("byte %d is not printable ASCII", i)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("scheme is not http or https")
	case u.Opaque != "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return errors.New("want scheme://host:port and nothing else")
	case u.Hostname() == "":
		return errors.New("no host")
	}
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil || port == 0 || strconv.FormatUint(port, 10) != u.Port() {
		return fmt.Errorf("port %q is not in 1..65535", u.Port())
	}
	if !strings.EqualFold(s, u.Scheme+"://"+u.Host) {
		return errors.New("not in canonical form")
	}
	return nil
}
