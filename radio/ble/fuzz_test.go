package ble

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/offgrid-net/offgrid/radio"
)

const (
	fuzzOwner   = ":1.7"
	fuzzAdapter = dbus.ObjectPath("/org/bluez/hci0")
)

// encodeSignal returns the wire bytes of a signal as BlueZ sends it.
func encodeSignal(tb testing.TB, path dbus.ObjectPath, name string, body ...any) []byte {
	tb.Helper()
	dot := strings.LastIndexByte(name, '.')
	msg := &dbus.Message{
		Type: dbus.TypeSignal,
		Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldPath:      dbus.MakeVariant(path),
			dbus.FieldInterface: dbus.MakeVariant(name[:dot]),
			dbus.FieldMember:    dbus.MakeVariant(name[dot+1:]),
			dbus.FieldSender:    dbus.MakeVariant(fuzzOwner),
			dbus.FieldSignature: dbus.MakeVariant(dbus.SignatureOf(body...)),
		},
		Body: body,
	}
	var b bytes.Buffer
	if err := msg.EncodeTo(&b, binary.LittleEndian); err != nil {
		tb.Fatalf("encode %s: %v", name, err)
	}
	return b.Bytes()
}

// signalOf turns a decoded message into the signal godbus would deliver.
func signalOf(msg *dbus.Message) (*dbus.Signal, bool) {
	if msg.Type != dbus.TypeSignal {
		return nil, false
	}
	path, ok1 := msg.Headers[dbus.FieldPath].Value().(dbus.ObjectPath)
	iface, ok2 := msg.Headers[dbus.FieldInterface].Value().(string)
	member, ok3 := msg.Headers[dbus.FieldMember].Value().(string)
	sender, _ := msg.Headers[dbus.FieldSender].Value().(string)
	if !ok1 || !ok2 || !ok3 {
		return nil, false
	}
	return &dbus.Signal{Sender: sender, Path: path, Name: iface + "." + member, Body: msg.Body}, true
}

// FuzzHeard feeds D-Bus messages, as the bus delivers them, to the
// decoder of advertisement data: it must never panic, take only devices
// under the adapter, and return what the message carried.
func FuzzHeard(f *testing.F) {
	frame := bytes.Repeat([]byte{1}, 150)
	dev := dbus.ObjectPath("/org/bluez/hci0/dev_00_11_22_33_44_55")
	mfr := func(v any) map[string]dbus.Variant {
		return map[string]dbus.Variant{
			"Address":          dbus.MakeVariant("00:11:22:33:44:55"),
			"ManufacturerData": dbus.MakeVariant(map[uint16]dbus.Variant{CompanyID: dbus.MakeVariant(v)}),
		}
	}
	named := map[string]dbus.Variant{"Name": dbus.MakeVariant("OFFGRID:aHR0cDovL24xOjgwODE")}
	for _, seed := range [][]byte{
		encodeSignal(f, "/", sigIfacesAdded, dev, map[string]map[string]dbus.Variant{ifaceDevice: mfr(frame)}),
		encodeSignal(f, dev, sigPropsChanged, ifaceDevice, mfr(frame), []string{}),
		encodeSignal(f, dev, sigPropsChanged, ifaceDevice, named, []string{}),
		encodeSignal(f, dev, sigPropsChanged, ifaceDevice, mfr("not bytes"), []string{}),
		encodeSignal(f, dev, sigPropsChanged, ifaceAdapter, mfr(frame), []string{}),
		encodeSignal(f, "/org/bluez/hci1/dev_00_11_22_33_44_55", sigPropsChanged, ifaceDevice, mfr(frame), []string{}),
		encodeSignal(f, "/", sigIfacesAdded, dev, map[string]map[string]dbus.Variant{ifaceAdapter: mfr(frame)}),
		encodeSignal(f, dev, sigPropsChanged, ifaceDevice),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := dbus.DecodeMessage(bytes.NewReader(b))
		if err != nil {
			return
		}
		sig, ok := signalOf(msg)
		if !ok {
			return
		}
		frame, name, from, ok := heard(sig, fuzzOwner, fuzzAdapter)
		if !ok {
			if frame != nil || name != "" || from != "" {
				t.Fatalf("refused signal returned %q, %q, %q", frame, name, from)
			}
			return
		}
		if from == "" {
			t.Fatal("accepted signal without an address")
		}
		if frame != nil {
			if len(frame) == 0 {
				t.Fatal("empty frame returned")
			}
			radio.DecodeFrame(frame) // must not panic on anything
		}
		if ep, ok := ParseName(name); ok {
			if n, err := Name(ep); err == nil && n != name {
				t.Fatalf("name %q parses to %q, which names %q", name, ep, n)
			}
		}
		if _, _, _, ok := heard(sig, ":1.8", fuzzAdapter); ok {
			t.Fatal("a signal from another sender was taken")
		}
	})
}

// TestHeardSeeds pins what the decoder takes from the seed shapes.
func TestHeardSeeds(t *testing.T) {
	frame := bytes.Repeat([]byte{1}, 150)
	dev := dbus.ObjectPath("/org/bluez/hci0/dev_00_11_22_33_44_55")
	props := map[string]dbus.Variant{
		"Address":          dbus.MakeVariant("00:11:22:33:44:55"),
		"Name":             dbus.MakeVariant("OFFGRID:aHR0cDovL24xOjgwODE"),
		"ManufacturerData": dbus.MakeVariant(map[uint16]dbus.Variant{CompanyID: dbus.MakeVariant(frame), 0x004C: dbus.MakeVariant([]byte{9})}),
	}
	for _, tt := range []struct {
		name  string
		wire  []byte
		ok    bool
		frame bool
	}{
		{"new device", encodeSignal(t, "/", sigIfacesAdded, dev, map[string]map[string]dbus.Variant{ifaceDevice: props}), true, true},
		{"device changed", encodeSignal(t, dev, sigPropsChanged, ifaceDevice, props, []string{}), true, true},
		{"another adapter", encodeSignal(t, "/org/bluez/hci1/dev_00_11_22_33_44_55", sigPropsChanged, ifaceDevice, props, []string{}), false, false},
		{"adapter prefix without slash", encodeSignal(t, "/org/bluez/hci01", sigPropsChanged, ifaceDevice, props, []string{}), false, false},
		{"not a device", encodeSignal(t, dev, sigPropsChanged, ifaceAdapter, props, []string{}), false, false},
		{"wrong body", encodeSignal(t, dev, sigPropsChanged, ifaceDevice, "x"), false, false},
	} {
		msg, err := dbus.DecodeMessage(bytes.NewReader(tt.wire))
		if err != nil {
			t.Fatalf("%s: decode: %v", tt.name, err)
		}
		sig, _ := signalOf(msg)
		got, name, from, ok := heard(sig, fuzzOwner, fuzzAdapter)
		if ok != tt.ok || (got != nil) != tt.frame {
			t.Errorf("%s: ok %v, frame %v; want %v, %v", tt.name, ok, got != nil, tt.ok, tt.frame)
		}
		if tt.ok && (!bytes.Equal(got, frame) || name != "OFFGRID:aHR0cDovL24xOjgwODE" || from != "00:11:22:33:44:55") {
			t.Errorf("%s: got %d bytes, %q, %q", tt.name, len(got), name, from)
		}
	}
}
