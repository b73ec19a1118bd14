package ble

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/godbus/dbus/v5/prop"
)

// BlueZ's D-Bus names (doc/adapter-api.txt, device-api.txt and
// advertising-api.txt of BlueZ 5.66).
const (
	bluezService      = "org.bluez"
	ifaceAdapter      = "org.bluez.Adapter1"
	ifaceDevice       = "org.bluez.Device1"
	ifaceAdvManager   = "org.bluez.LEAdvertisingManager1"
	ifaceAdvert       = "org.bluez.LEAdvertisement1"
	ifaceProperties   = "org.freedesktop.DBus.Properties"
	ifaceObjectMgr    = "org.freedesktop.DBus.ObjectManager"
	sigPropsChanged   = ifaceProperties + ".PropertiesChanged"
	sigIfacesAdded    = ifaceObjectMgr + ".InterfacesAdded"
	errDoesNotExist   = "org.bluez.Error.DoesNotExist"
	secondary1M       = "1M"
	secondaryCoded    = "Coded"
	advertTypeBcast   = "broadcast"
	capabilityMaxData = "MaxAdvLen"
)

// adapter is what New learns about the BlueZ adapter it uses.
type adapter struct {
	path    dbus.ObjectPath // /org/bluez/hci0
	name    string          // hci0
	address string          // the adapter's own Bluetooth address, if BlueZ says
	// hasAdvManager reports that the adapter exports
	// LEAdvertisingManager1; without it the link only scans.
	hasAdvManager bool
	// secondary are LEAdvertisingManager1.SupportedSecondaryChannels:
	// empty when the controller has no extended advertising.
	secondary []string
	// maxAdvLen is SupportedCapabilities["MaxAdvLen"], 0 if not exposed
	// (the property is experimental in BlueZ 5.66).
	maxAdvLen int
}

// findAdapter lists BlueZ's objects and returns the adapter called name
// ("hci0"), or the first adapter by path when name is "".
func findAdapter(ctx context.Context, conn *dbus.Conn, name string) (adapter, error) {
	var objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	err := conn.Object(bluezService, "/").CallWithContext(ctx, ifaceObjectMgr+".GetManagedObjects", 0).Store(&objs)
	if err != nil {
		return adapter{}, fmt.Errorf("list BlueZ objects: %w", err)
	}
	var paths []dbus.ObjectPath
	for p, ifaces := range objs {
		if _, ok := ifaces[ifaceAdapter]; ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	var found []string
	for _, p := range paths {
		n := string(p[strings.LastIndexByte(string(p), '/')+1:])
		found = append(found, n)
		if name != "" && n != name {
			continue
		}
		a := adapter{path: p, name: n}
		ifaces := objs[p]
		if v, ok := ifaces[ifaceAdapter]["Address"].Value().(string); ok {
			a.address = v
		}
		if mgr, ok := ifaces[ifaceAdvManager]; ok {
			a.hasAdvManager = true
			if v, ok := mgr["SupportedSecondaryChannels"].Value().([]string); ok {
				a.secondary = v
			}
			if caps, ok := mgr["SupportedCapabilities"].Value().(map[string]dbus.Variant); ok {
				switch v := caps[capabilityMaxData].Value().(type) {
				case byte:
					a.maxAdvLen = int(v)
				case int16:
					a.maxAdvLen = int(v)
				case uint16:
					a.maxAdvLen = int(v)
				}
			}
		}
		return a, nil
	}
	if name != "" {
		return adapter{}, fmt.Errorf("BlueZ has no adapter %q (adapters: %s)", name, listOrNone(found))
	}
	return adapter{}, errors.New("BlueZ lists no adapter")
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// supports reports whether the adapter advertises on the secondary channel
// (PHY) ch.
func (a adapter) supports(ch string) bool { return slices.Contains(a.secondary, ch) }

// advertisement is our org.bluez.LEAdvertisement1 object. BlueZ reads its
// properties (GetAll) when it is registered, so each beacon is a new
// registration with new properties; see Link.Send.
type advertisement struct {
	props atomic.Pointer[map[string]dbus.Variant]
	// released counts Release calls: BlueZ releases an advertisement whose
	// Timeout ran out, or when it stops.
	released atomic.Uint64
}

// GetAll implements org.freedesktop.DBus.Properties for BlueZ.
func (a *advertisement) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	if iface != ifaceAdvert {
		return map[string]dbus.Variant{}, nil
	}
	if p := a.props.Load(); p != nil {
		return *p, nil
	}
	return map[string]dbus.Variant{}, nil
}

// Get implements org.freedesktop.DBus.Properties for BlueZ.
func (a *advertisement) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	all, _ := a.GetAll(iface)
	v, ok := all[name]
	if !ok {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"no property " + name})
	}
	return v, nil
}

// Set refuses: BlueZ never writes an advertisement's properties.
func (a *advertisement) Set(string, string, dbus.Variant) *dbus.Error {
	return dbus.NewError("org.freedesktop.DBus.Error.PropertyReadOnly", []any{"read-only"})
}

// Release implements org.bluez.LEAdvertisement1.Release.
func (a *advertisement) Release() *dbus.Error {
	a.released.Add(1)
	return nil
}

// exportAdvert exports adv at path with the interfaces BlueZ's GDBus client
// looks for: the advertisement, its properties and introspection data.
func exportAdvert(conn *dbus.Conn, path dbus.ObjectPath, adv *advertisement) error {
	if err := conn.Export(adv, path, ifaceAdvert); err != nil {
		return err
	}
	if err := conn.Export(adv, path, ifaceProperties); err != nil {
		return err
	}
	node := &introspect.Node{
		Name: string(path),
		Interfaces: []introspect.Interface{
			introspect.IntrospectData,
			prop.IntrospectData,
			{Name: ifaceAdvert, Methods: []introspect.Method{{Name: "Release"}}},
		},
	}
	return conn.Export(introspect.NewIntrospectable(node), path, "org.freedesktop.DBus.Introspectable")
}

// signalQueue is a dbus.SignalHandler with a bounded queue: godbus's
// default handler starts a goroutine per signal when its channel is full,
// which a busy radio neighbourhood could make unbounded. Signals that do not
// fit are dropped and counted; frames are re-advertised, so a later one
// brings the peer back.
type signalQueue struct {
	ch      chan *dbus.Signal
	dropped atomic.Uint64
}

func newSignalQueue(n int) *signalQueue { return &signalQueue{ch: make(chan *dbus.Signal, n)} }

// DeliverSignal implements dbus.SignalHandler; it never blocks, because
// godbus calls it from the connection's reader.
func (q *signalQueue) DeliverSignal(_, _ string, s *dbus.Signal) {
	select {
	case q.ch <- s:
	default:
		q.dropped.Add(1)
	}
}

// deviceProps returns the Device1 properties a BlueZ signal carries, and
// the device's object path, if the signal is about a device under the
// adapter at prefix (InterfacesAdded for a new device, PropertiesChanged
// for a device heard again with new data). Anything else, including a
// signal with a body of the wrong shape, gives ok false.
func deviceProps(s *dbus.Signal, prefix dbus.ObjectPath) (path dbus.ObjectPath, props map[string]dbus.Variant, ok bool) {
	switch s.Name {
	case sigIfacesAdded:
		if len(s.Body) != 2 {
			return "", nil, false
		}
		p, ok1 := s.Body[0].(dbus.ObjectPath)
		ifaces, ok2 := s.Body[1].(map[string]map[string]dbus.Variant)
		if !ok1 || !ok2 {
			return "", nil, false
		}
		path, props = p, ifaces[ifaceDevice]
	case sigPropsChanged:
		if len(s.Body) != 3 {
			return "", nil, false
		}
		iface, ok1 := s.Body[0].(string)
		changed, ok2 := s.Body[1].(map[string]dbus.Variant)
		if !ok1 || !ok2 || iface != ifaceDevice {
			return "", nil, false
		}
		path, props = s.Path, changed
	default:
		return "", nil, false
	}
	if props == nil || !strings.HasPrefix(string(path), string(prefix)+"/") {
		return "", nil, false
	}
	return path, props, true
}

// advertData returns what a device's properties carry for us: the frame in
// ManufacturerData under CompanyID (nil if none) and the device's Name (""
// if none). The frame is returned as decoded from the D-Bus message, a
// slice no one else holds; its length is not checked here, so that the
// receiver counts oversized frames.
func advertData(props map[string]dbus.Variant) (frame []byte, name string) {
	if v, ok := props["ManufacturerData"]; ok {
		if m, ok := v.Value().(map[uint16]dbus.Variant); ok {
			if b, ok := m[CompanyID].Value().([]byte); ok && len(b) > 0 {
				frame = b
			}
		}
	}
	if v, ok := props["Name"]; ok {
		name, _ = v.Value().(string)
	}
	return frame, name
}

// deviceAddress returns the Address property, or the device's path.
func deviceAddress(path dbus.ObjectPath, props map[string]dbus.Variant) string {
	if a, ok := props["Address"].Value().(string); ok && a != "" {
		return a
	}
	return string(path)
}
