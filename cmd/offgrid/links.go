package main

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/radio"
	"github.com/offgrid-net/offgrid/radio/ble"
	"github.com/offgrid-net/offgrid/radio/filebus"
	"github.com/offgrid-net/offgrid/radio/lora"
	"github.com/offgrid-net/offgrid/radio/noise"
	"github.com/offgrid-net/offgrid/radio/udp"
)

// radioOptions are the discovery flags of a node.
type radioOptions struct {
	radios    []string
	group     string
	iface     string
	loopback  bool
	serial    string
	baud      int
	dutyCycle float64
	fileBus   string
	// btAdapter and btDutyCycle configure the ble and bt_lr links.
	btAdapter      string
	btDutyCycle    float64
	gossip         string
	clusterKey     string
	beaconInterval time.Duration
	// noise encrypts frames on the UDP and file links in pairwise Noise
	// sessions (static keys: the nodes' X25519 keys).
	noise bool
	// optional links are skipped with a warning when they cannot open (the
	// demo, whose nodes also know each other statically).
	optional bool
}

// buildLinks opens the links --radio names. A BLE or BT-LR adapter that is
// missing is logged and skipped, so the rest of the node keeps running; any
// other failure is an error.
func buildLinks(o radioOptions, endpoint string, keys *identity.Keys, log *slog.Logger) ([]radio.Link, error) {
	var links []radio.Link
	seen := map[string]bool{}
	for _, r := range o.radios {
		r = strings.TrimSpace(r)
		if r == "" || r == "none" {
			continue
		}
		if seen[r] {
			return nil, fmt.Errorf("--radio lists %s twice", r)
		}
		seen[r] = true
		switch r {
		case "udp":
			l, err := udp.New(udp.Config{Group: o.group, Interface: o.iface, Loopback: o.loopback})
			if err != nil && o.optional {
				log.Warn("UDP beacons not started", "err", err)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("--radio udp: %w", err)
			}
			links = append(links, l)
			if o.noise {
				if links[len(links)-1], err = noise.New(l, keys, noise.DefaultConfig()); err != nil {
					return nil, fmt.Errorf("--noise on udp: %w", err)
				}
			}
		case "lora":
			if o.serial == "" {
				return nil, fmt.Errorf("--radio lora needs --serial (e.g. /dev/ttyUSB0)")
			}
			cfg := lora.DefaultConfig(o.serial)
			cfg.Baud, cfg.DutyCycle, cfg.Logger = o.baud, o.dutyCycle, log
			l, err := lora.New(cfg)
			if err != nil {
				return nil, fmt.Errorf("--radio lora: %w", err)
			}
			links = append(links, l)
		case "file":
			if o.fileBus == "" {
				return nil, fmt.Errorf("--radio file needs --filebus PATH (a file every node can append to)")
			}
			l, err := filebus.New(o.fileBus, 250*time.Millisecond)
			if err != nil {
				return nil, fmt.Errorf("--radio file: %w", err)
			}
			links = append(links, l)
			if o.noise {
				if links[len(links)-1], err = noise.New(l, keys, noise.DefaultConfig()); err != nil {
					return nil, fmt.Errorf("--noise on file: %w", err)
				}
			}
		case "ble", "bt_lr":
			cfg := ble.DefaultConfig()
			cfg.Adapter, cfg.DutyCycle, cfg.Advertise, cfg.Logger = o.btAdapter, o.btDutyCycle, endpoint, log
			var (
				l   radio.Link
				err error
			)
			if r == "ble" {
				l, err = ble.New(cfg)
			} else {
				l, err = ble.NewLongRange(cfg)
			}
			if err != nil {
				log.Error("Bluetooth link not started; the node runs without it", "radio", r, "err", err)
				continue
			}
			links = append(links, l)
		default:
			return nil, fmt.Errorf("--radio %q: want udp, lora, ble, bt_lr or file", r)
		}
	}
	return links, nil
}

// gossipAddr returns where memberlist listens: --gossip, or the API's host
// on any free port when beacons can carry the port to peers.
func gossipAddr(o radioOptions, listen net.Addr, links []radio.Link) string {
	if o.gossip == "off" {
		return ""
	}
	if o.gossip != "" {
		return o.gossip
	}
	if len(links) == 0 {
		return ""
	}
	host, _, err := net.SplitHostPort(listen.String())
	if err != nil {
		return ""
	}
	return net.JoinHostPort(host, "0")
}

func parseClusterKey(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	k, err := hex.DecodeString(s)
	if err != nil || (len(k) != 16 && len(k) != 24 && len(k) != 32) {
		return nil, fmt.Errorf("--cluster-key must be 16, 24 or 32 bytes in hex")
	}
	return k, nil
}
