package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/radio/ble/bluetest"
)

// TestDiscoveryByBluetooth runs two nodes with --radio ble and no static
// peers on one fake BlueZ (a private dbus-daemon stands in for the system
// bus): they find each other by the signed beacons in their extended
// advertisements, and list each other via ble.
func TestDiscoveryByBluetooth(t *testing.T) {
	bus := bluetest.StartBus(t)
	z := bluetest.Start(t, bus,
		&bluetest.Adapter{Name: "hci0", Address: "02:00:00:00:00:00", Secondary: []string{"1M", "2M"}},
		&bluetest.Adapter{Name: "hci1", Address: "02:00:00:00:00:01", Secondary: []string{"1M", "2M", "Coded"}})
	// The links reach BlueZ on the system bus; here that is the private one.
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", bus)
	interval := 200 * time.Millisecond * time.Duration(raceSlowdown)
	m := startMesh(t, 2, func(i int, o *nodeOptions) {
		o.peers = nil // Bluetooth beacons only
		o.radio = radioOptions{radios: []string{"ble"}, btAdapter: fmt.Sprintf("hci%d", i), btDutyCycle: 0.01,
			beaconInterval: interval, gossip: "off"}
	})
	m.waitViews(30*interval, "both nodes up", func(i int, states map[string]string) bool {
		return states[m.nodes[1-i].url] == "up"
	})
	for i := range 2 {
		if _, vias := m.peerStates(i); vias[m.nodes[1-i].url] != "ble" {
			t.Errorf("node %d lists node %d via %q, want ble", i, 1-i, vias[m.nodes[1-i].url])
		}
	}
	if h, _, _ := z.Registered("hci0"); len(h) == 0 || h[0]["SecondaryChannel"].Value() != "1M" {
		t.Errorf("hci0 advertisements: %v, want extended ones on 1M", h)
	}
}
