package ble

import (
	"errors"

	"github.com/offgrid-net/offgrid/radio"
)

// ErrCodedPHYUnsupported is returned by NewLongRange when the adapter cannot
// scan and advertise on the LE Coded PHY. go-ble, the default adapter,
// cannot (see the package comment), so BT long range (via bt_lr) is not
// available yet; there is deliberately no simulated fallback.
var ErrCodedPHYUnsupported = errors.New("bt_lr: go-ble cannot use the LE Coded PHY: it sends no HCI LE Set Extended Scan/Advertising Parameters or LE Set PHY commands and masks LE Extended Advertising Report events; BT long range needs a Bluetooth 5 adapter driver with extended advertising")

// CodedPHY is implemented by a Device that scans and advertises on the LE
// Coded PHY (Bluetooth 5 long range, S=8) with extended advertising.
// NewLongRange requires it; go-ble's adapter does not implement it.
type CodedPHY interface {
	Device
	// CodedPHY reports whether the adapter's controller supports the LE
	// Coded PHY (LE feature bit 11) and the device uses it for Scan and
	// Advertise. It must not block.
	CodedPHY() bool
}

// NewLongRange returns a BT long-range link (Via radio.ViaBTLR): the same
// name discovery as New, on the LE Coded PHY, which reaches about four
// times as far as LE 1M. It needs cfg.Device (or the device cfg.Open
// returns) to implement CodedPHY and report true; otherwise it returns an
// error wrapping ErrCodedPHYUnsupported, and the node runs without bt_lr.
// With the default go-ble adapter it always fails, before opening the
// adapter.
func NewLongRange(cfg Config) (*Link, error) {
	if cfg.Device == nil && cfg.Open == nil {
		// The default opener is go-ble's, which has no coded PHY: do
		// not take the adapter from BlueZ only to give it back.
		return nil, ErrCodedPHYUnsupported
	}
	l, err := newLink(cfg, radio.ViaBTLR)
	if err != nil {
		return nil, err
	}
	if c, ok := l.dev.(CodedPHY); !ok || !c.CodedPHY() {
		if cfg.Device == nil {
			// We opened it; release it. The Stop error is moot.
			_ = l.Close()
		}
		return nil, ErrCodedPHYUnsupported
	}
	return l, nil
}
