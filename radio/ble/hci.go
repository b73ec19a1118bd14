package ble

import (
	"context"

	goble "github.com/go-ble/ble"
	"github.com/go-ble/ble/linux"
)

// hciDevice adapts go-ble's Linux HCI device to Device.
type hciDevice struct{ d *linux.Device }

// openHCI opens the first HCI adapter through go-ble: it takes the adapter
// over the HCI user channel (the adapter is brought down for BlueZ) and
// resets it.
func openHCI() (Device, error) {
	d, err := linux.NewDevice()
	if err != nil {
		return nil, err
	}
	return hciDevice{d: d}, nil
}

func (h hciDevice) Scan(ctx context.Context, allowDup bool, fn func(name, addr string, rssi int)) error {
	return h.d.Scan(ctx, allowDup, func(a goble.Advertisement) {
		fn(a.LocalName(), a.Addr().String(), a.RSSI())
	})
}

// Advertise advertises name as the complete local name: go-ble puts it in
// the advertising data if it fits after the flags (26 bytes), else in the
// scan response (29 bytes); Name keeps it within the latter.
func (h hciDevice) Advertise(ctx context.Context, name string) error {
	return h.d.AdvertiseNameAndServices(ctx, name)
}

func (h hciDevice) Stop() error { return h.d.Stop() }
