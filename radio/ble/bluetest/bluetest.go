package bluetest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"
)

// BlueZ's D-Bus names (BlueZ 5.66, doc/*-api.txt).
const (
	bluezService    = "org.bluez"
	ifaceAdapter    = "org.bluez.Adapter1"
	ifaceDevice     = "org.bluez.Device1"
	ifaceAdvManager = "org.bluez.LEAdvertisingManager1"
	ifaceAdvert     = "org.bluez.LEAdvertisement1"
	ifaceProperties = "org.freedesktop.DBus.Properties"
	ifaceObjectMgr  = "org.freedesktop.DBus.ObjectManager"
	sigPropsChanged = ifaceProperties + ".PropertiesChanged"
	sigIfacesAdded  = ifaceObjectMgr + ".InterfacesAdded"
	errDoesNotExist = "org.bluez.Error.DoesNotExist"
	// maxExtendedData is the advertising data of one extended
	// advertisement; legacy ones carry 31 bytes.
	maxExtendedData = 251
)

// StartBus starts a private dbus-daemon (Debian's dbus-daemon package) for
// the test and returns its address. It listens on a socket in a temporary
// directory and allows everything: only this test's processes reach it.
func StartBus(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		t.Fatalf("dbus-daemon not installed (apt-get install dbus-daemon; make deps): %v", err)
	}
	dir, err := os.MkdirTemp("", "ogbus") // short: a socket path is at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=`+filepath.Join(dir, "bus")+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("dbus-daemon", "--config-file="+conf, "--print-address", "--nofork", "--nopidfile")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer // it complains it cannot raise its fd limit, which is harmless
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("dbus-daemon said: %s", stderr.String())
		}
	})
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon printed no address: %v", err)
	}
	return strings.TrimSpace(addr)
}

// BlueZ is a fake org.bluez as BlueZ 5.66 exports it, as far as the link uses
// it: adapters with Adapter1 (discovery) and LEAdvertisingManager1
// (advertisements), and devices that appear under an adapter with the data
// they advertise. Its adapters share one "air": an advertisement
// registered on one is heard by every other adapter that is discovering and
// has the PHY it is sent on.
type BlueZ struct {
	t    testing.TB
	conn *dbus.Conn

	mu       sync.Mutex
	adapters []*Adapter
}

// Adapter is one fake adapter. The test sets its exported fields before
// Start.
type Adapter struct {
	// Name is the adapter's name, such as "hci0"; its object is
	// /org/bluez/<Name>.
	Name string
	// Address is its Bluetooth address, the one others hear it from.
	Address string
	// Secondary is SupportedSecondaryChannels, such as {"1M", "2M",
	// "Coded"}: nil for an adapter without extended advertising.
	Secondary []string
	// MaxAdvLen, if not 0, is exposed as SupportedCapabilities.MaxAdvLen.
	MaxAdvLen int
	// NoAdvManager leaves LEAdvertisingManager1 out.
	NoAdvManager bool
	// Full makes RegisterAdvertisement refuse as BlueZ does when other
	// programs hold every advertising instance.
	Full bool

	z *BlueZ

	// Guarded by z.mu.
	discovering bool
	filter      map[string]dbus.Variant
	adverts     map[string]map[string]dbus.Variant // sender + path → properties
	history     []map[string]dbus.Variant
	devices     map[dbus.ObjectPath]bool
}

func (a *Adapter) path() dbus.ObjectPath { return dbus.ObjectPath("/org/bluez/" + a.Name) }

func (a *Adapter) extended() bool { return len(a.Secondary) > 0 }

// Start connects to the bus at addr, takes the name org.bluez and exports
// adapters. It stops when the test ends.
func Start(t testing.TB, addr string, adapters ...*Adapter) *BlueZ {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatalf("fake BlueZ: connect: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	z := &BlueZ{t: t, conn: conn, adapters: adapters}
	for _, a := range adapters {
		a.z = z
		a.adverts = map[string]map[string]dbus.Variant{}
		a.devices = map[dbus.ObjectPath]bool{}
		if err := conn.Export(fakeAdapter1{a}, a.path(), ifaceAdapter); err != nil {
			t.Fatal(err)
		}
		if !a.NoAdvManager {
			if err := conn.Export(fakeAdvManager{a}, a.path(), ifaceAdvManager); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := conn.Export(fakeObjectManager{z}, "/", ifaceObjectMgr); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName(bluezService, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("fake BlueZ: own %s: %v, %v", bluezService, reply, err)
	}
	return z
}

type fakeObjectManager struct{ z *BlueZ }

func (m fakeObjectManager) GetManagedObjects() (map[dbus.ObjectPath]map[string]map[string]dbus.Variant, *dbus.Error) {
	objs := map[dbus.ObjectPath]map[string]map[string]dbus.Variant{}
	for _, a := range m.z.adapters {
		ifaces := map[string]map[string]dbus.Variant{
			ifaceAdapter: {
				"Address": dbus.MakeVariant(a.Address),
				"Powered": dbus.MakeVariant(true),
			},
		}
		if !a.NoAdvManager {
			mgr := map[string]dbus.Variant{
				"ActiveInstances":    dbus.MakeVariant(byte(0)),
				"SupportedInstances": dbus.MakeVariant(byte(5)),
				"SupportedIncludes":  dbus.MakeVariant([]string{"tx-power", "appearance", "local-name"}),
			}
			if a.extended() {
				mgr["SupportedSecondaryChannels"] = dbus.MakeVariant(a.Secondary)
			}
			if a.MaxAdvLen > 0 {
				mgr["SupportedCapabilities"] = dbus.MakeVariant(map[string]dbus.Variant{
					"MaxAdvLen":    dbus.MakeVariant(byte(a.MaxAdvLen)),
					"MaxScnRspLen": dbus.MakeVariant(byte(a.MaxAdvLen)),
				})
			}
			ifaces[ifaceAdvManager] = mgr
		}
		objs[a.path()] = ifaces
	}
	return objs, nil
}

type fakeAdapter1 struct{ a *Adapter }

func (f fakeAdapter1) SetDiscoveryFilter(filter map[string]dbus.Variant) *dbus.Error {
	f.a.z.mu.Lock()
	defer f.a.z.mu.Unlock()
	f.a.filter = filter
	return nil
}

func (f fakeAdapter1) StartDiscovery() *dbus.Error {
	z := f.a.z
	z.mu.Lock()
	defer z.mu.Unlock()
	f.a.discovering = true
	// Others advertise continuously: this adapter hears what is on the air.
	for _, b := range z.adapters {
		if b == f.a {
			continue
		}
		for _, adv := range b.adverts {
			z.relayLocked(b, f.a, adv)
		}
	}
	return nil
}

func (f fakeAdapter1) StopDiscovery() *dbus.Error {
	f.a.z.mu.Lock()
	defer f.a.z.mu.Unlock()
	f.a.discovering = false
	return nil
}

type fakeAdvManager struct{ a *Adapter }

func bluezError(name, msg string) *dbus.Error { return dbus.NewError(name, []any{msg}) }

// RegisterAdvertisement reads the advertisement's properties from its
// owner, as BlueZ does, checks them against the adapter, and puts them on
// the air.
func (f fakeAdvManager) RegisterAdvertisement(sender dbus.Sender, path dbus.ObjectPath, _ map[string]dbus.Variant) *dbus.Error {
	a, z := f.a, f.a.z
	if a.Full {
		return bluezError("org.bluez.Error.NotPermitted", "Maximum advertisements reached")
	}
	var props map[string]dbus.Variant
	if err := z.conn.Object(string(sender), path).Call(ifaceProperties+".GetAll", 0, ifaceAdvert).Store(&props); err != nil {
		return bluezError("org.bluez.Error.Failed", "Failed to read advertisement: "+err.Error())
	}
	size := 0
	if d, _ := props["Discoverable"].Value().(bool); d {
		size += 3 // BlueZ adds the Flags structure for discoverable advertisements only
	}
	if md, ok := props["ManufacturerData"].Value().(map[uint16]dbus.Variant); ok {
		for _, v := range md {
			b, _ := v.Value().([]byte)
			size += 4 + len(b)
		}
	}
	if n, ok := props["LocalName"].Value().(string); ok {
		size += 2 + len(n)
	}
	max := 31
	if ch, ok := props["SecondaryChannel"].Value().(string); ok {
		if !slices.Contains(a.Secondary, ch) {
			return bluezError("org.bluez.Error.Failed", "Failed to parse advertisement")
		}
		max = maxExtendedData
		if a.MaxAdvLen > 0 {
			max = a.MaxAdvLen
		}
	}
	if size > max {
		return bluezError("org.bluez.Error.InvalidLength", "Advertising data too long")
	}
	key := string(sender) + string(path)
	z.mu.Lock()
	defer z.mu.Unlock()
	if _, ok := a.adverts[key]; ok {
		return bluezError("org.bluez.Error.AlreadyExists", "Already Exists")
	}
	a.adverts[key] = props
	a.history = append(a.history, props)
	for _, b := range z.adapters {
		if b != a && b.discovering {
			z.relayLocked(a, b, props)
		}
	}
	return nil
}

func (f fakeAdvManager) UnregisterAdvertisement(sender dbus.Sender, path dbus.ObjectPath) *dbus.Error {
	z := f.a.z
	z.mu.Lock()
	defer z.mu.Unlock()
	key := string(sender) + string(path)
	if _, ok := f.a.adverts[key]; !ok {
		return bluezError(errDoesNotExist, "Does Not Exist")
	}
	delete(f.a.adverts, key)
	return nil
}

// relayLocked makes receiver hear what sender advertises, if it can
// receive the PHY it is sent on. z.mu must be held.
func (z *BlueZ) relayLocked(sender, receiver *Adapter, props map[string]dbus.Variant) {
	if ch, ok := props["SecondaryChannel"].Value().(string); ok && !slices.Contains(receiver.Secondary, ch) {
		return
	}
	dev := map[string]dbus.Variant{"Address": dbus.MakeVariant(sender.Address)}
	if md, ok := props["ManufacturerData"]; ok {
		dev["ManufacturerData"] = md
	}
	if n, ok := props["LocalName"]; ok {
		dev["Name"] = n
	}
	z.emitDeviceLocked(receiver, sender.Address, dev)
}

// emitDeviceLocked announces the device addr under receiver with props:
// InterfacesAdded the first time, PropertiesChanged after.
func (z *BlueZ) emitDeviceLocked(receiver *Adapter, addr string, props map[string]dbus.Variant) {
	path := dbus.ObjectPath(string(receiver.path()) + "/dev_" + strings.ReplaceAll(addr, ":", "_"))
	var err error
	if !receiver.devices[path] {
		receiver.devices[path] = true
		err = z.conn.Emit("/", sigIfacesAdded, path, map[string]map[string]dbus.Variant{ifaceDevice: props})
	} else {
		err = z.conn.Emit(path, sigPropsChanged, ifaceDevice, props, []string{})
	}
	if err != nil {
		z.t.Errorf("fake BlueZ: emit: %v", err)
	}
}

// Hear makes the adapter called receiver hear a device addr advertising
// props (a nearby transmitter the test plays, such as a forger).
func (z *BlueZ) Hear(receiver, addr string, props map[string]dbus.Variant) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, a := range z.adapters {
		if a.Name == receiver {
			z.emitDeviceLocked(a, addr, props)
			return
		}
	}
	z.t.Fatalf("fake BlueZ: no adapter %s", receiver)
}

// Registered returns the advertisements registered on adapter name so far,
// oldest first, and the current discovery state.
func (z *BlueZ) Registered(name string) (history []map[string]dbus.Variant, discovering bool, filter map[string]dbus.Variant) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, a := range z.adapters {
		if a.Name == name {
			return slices.Clone(a.history), a.discovering, a.filter
		}
	}
	panic(fmt.Sprintf("no adapter %s", name))
}

// Active returns the number of advertisements on the air on adapter name.
func (z *BlueZ) Active(name string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, a := range z.adapters {
		if a.Name == name {
			return len(a.adverts)
		}
	}
	return -1
}
