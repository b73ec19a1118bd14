// Package ble is Bluetooth discovery through BlueZ: two radio.Links, Via
// "ble" (extended advertising on the LE 1M PHY) and "bt_lr" (Bluetooth long
// range: extended advertising on the LE Coded PHY), that advertise the
// node's signed beacon frame (package radio, the same bytes as on UDP and
// LoRa) and deliver the frames they hear to the node's radio.Receiver,
// which checks signatures and replays as for every link.
//
// # Why BlueZ over D-Bus
//
// The link talks to BlueZ (bluetoothd, 5.66 in Debian bookworm) on the
// system bus with github.com/godbus/dbus/v5, through a thin client of the
// few calls it needs (bluez.go). BlueZ keeps the adapter: no HCI user
// channel, no root beyond the bus policy (the "bluetooth" group or root),
// and other Bluetooth users of the machine keep working. go-ble, which took
// the adapter over the HCI user channel, is gone: it had no extended
// advertising and no coded PHY (its LE commands stop at Bluetooth 4.1), and
// nothing else needs raw HCI. tinygo.org/x/bluetooth was not chosen because
// it cannot set an advertisement's SecondaryChannel, which is what selects
// extended advertising and the PHY.
//
// # Advertising
//
// Each frame the node sends (Link.Send, one beacon per beacon interval)
// becomes an org.bluez.LEAdvertisement1 object that Run registers with the
// adapter's LEAdvertisingManager1, replacing the previous one:
//
//	Type              "broadcast" (not connectable, not scannable)
//	ManufacturerData  {0xFFFF: frame}   company ID 0xFFFF (CompanyID)
//	SecondaryChannel  "1M" (ble) or "Coded" (bt_lr)
//	Timeout           Config.AdvertiseFor, 4 s
//	Min/MaxInterval   Config.Interval, 500 ms
//
// A SecondaryChannel makes BlueZ use extended advertising, whose
// AUX_ADV_IND carries up to 251 bytes of advertising data
// (MaxExtendedData). Our data is the frame plus 4 bytes of manufacturer
// data structure (length, type 0xFF, company ID) and, if BlueZ adds one, a
// 3-byte Flags structure (ADOverhead = 7): a typical 150-byte beacon takes
// 157 bytes, the largest possible beacon (199 bytes: 64-byte endpoint,
// 24-byte name) 206, and the largest frame Send takes (radio.MaxFrame, 220)
// 227, so one advertisement carries any frame with 24 bytes to spare.
//
// # Scanning
//
// Run sets the discovery filter {Transport: "le", DuplicateData: false}
// and starts discovery. BlueZ reports a device the first time with
// ObjectManager.InterfacesAdded and later with PropertiesChanged on its
// Device1 object whenever its advertised data changes, which every beacon
// does (its counter). Run takes only signals from BlueZ's unique bus name
// about devices under its adapter, reads ManufacturerData[0xFFFF] and
// delivers it as the packet's Data, unverified and of any length: the
// radio.Receiver drops and counts forged, replayed, malformed and
// oversized frames. The signal queue is bounded (Config.SignalQueue); a
// signal that does not fit is dropped and counted (Link.SignalsDropped),
// and the next beacon brings the peer back. If BlueZ refuses a beacon's
// registration (all advertising instances taken by other programs, say),
// Run logs it once, keeps scanning, and tries again with the next beacon. Scanning on the coded PHY
// needs the controller's PHYs to include it (btmgmt phy: LECODEDRX); BlueZ
// 5.66 has no per-scan PHY option.
//
// # Capabilities and fallback
//
// New and NewLongRange ask BlueZ (ObjectManager.GetManagedObjects) about
// the adapter, then close the connection; Run opens its own, so that no
// goroutine runs before Run. The adapter's LEAdvertisingManager1 lists
// SupportedSecondaryChannels ("1M", "2M", "Coded"): BlueZ derives them from
// the controller's extended advertising and PHY support, and omits the
// property for a controller without extended advertising. If it exposes
// SupportedCapabilities.MaxAdvLen (experimental in 5.66), the link checks
// that a largest beacon fits.
//
// A ble link without "1M" falls back to the legacy name beacon: it
// registers an advertisement with the local name
// "OFFGRID:" + base64url(endpoint) (name.go) and delivers the names it
// hears as Packet.Endpoint, an unsigned hint that the node contacts over
// IP. A legacy advertisement carries 31 bytes, so the name is at most 29
// bytes and the endpoint at most 15 (MaxLegacyEndpoint, "http://n1:8081";
// no IPv4 URL fits); with a longer endpoint the link only scans. Both modes
// deliver frames and names: an extended node hears legacy names too, while
// a controller without extended advertising cannot receive extended
// advertisements, so a legacy node hears only names. The fallback is logged once (Config.Logger) and Link.Notice says
// it for the dashboard's Mesh page (radio.Noticer). A bt_lr link without
// "Coded" fails to open with an error wrapping ErrCodedPHYUnsupported
// that names the adapter and what BlueZ reports; the node runs on without
// it, as without BlueZ or an adapter (ErrNoAdapter).
//
// # Airtime budget
//
// BlueZ advertises each beacon every Interval until AdvertiseFor ends or
// the next beacon replaces it, so Send books the airtime of all its
// advertising events in a radio.Budget (the one LoRa uses):
// AdvertiseFor/Interval = 8 events, each three ADV_EXT_IND on the primary
// channels (about 20 bytes each) and one AUX_ADV_IND (about 20 bytes of
// framing plus the data), at 8 µs a byte on LE 1M and 64 µs on LE Coded
// S=8. A 150-byte beacon books 15.2 ms on ble and 121.3 ms on bt_lr. With
// the default 1 % of each minute (600 ms; --bt-duty-cycle) ble sends up to
// 39 beacons a minute, more than the node's 30 at the default 2 s interval,
// and bt_lr 4: Send refuses the others with radio.ErrBudget and the last
// admitted beacon stays on the air until its Timeout. Bluetooth in the
// 2.4 GHz band has no legal duty cycle like EU868 LoRa; the budget keeps a
// busy neighbourhood's channel (and a battery) usable.
//
// # Tests
//
// The tests run a private dbus-daemon and a fake org.bluez in the test
// process (radio/ble/bluetest) that exports adapters, their advertising managers and the
// devices they hear as BlueZ does, including adapters without the coded
// PHY, without extended advertising, and without an advertising manager;
// advertisements registered on one fake adapter are heard by the others.
package ble
