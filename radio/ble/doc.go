// Package ble is Bluetooth Low Energy discovery: a radio.Link (Via "ble")
// that scans for nearby nodes advertising their endpoint in their BLE local
// name, and advertises our own. It carries names, not frames: Send returns
// ErrUnsupported and the node reaches a discovered endpoint over IP. This is
// the seed's bleak scanner (v0.13) in Go, through github.com/go-ble/ble on
// Linux (HCI user channel).
//
// # Name format
//
// A node advertises the complete local name
//
//	"OFFGRID:" + base64url(endpoint)       (RFC 4648 §5, no padding)
//
// where endpoint is its API base URL, http or https with a host and a port
// and nothing else ("http://n1:8081" → "OFFGRID:aHR0cDovL24xOjgwODE").
// ParseName is strict because anyone nearby can name a device anything:
// exact prefix, base64url alphabet only, zero trailing bits, and a valid
// endpoint of at most radio.MaxEndpoint (64) bytes of printable ASCII.
// Packets are delivered with Endpoint set, Data nil, and From the BLE
// address; neither is authenticated, so the node treats a BLE discovery as
// a hint to contact the endpoint, never as proof of identity.
//
// # Limits
//
// A legacy advertisement carries 31 bytes of data; a name's AD structure
// costs 2 of them, so a local name is at most 29 bytes (MaxLegacyName). go-ble
// puts the name in the advertising data if it fits after the flags (26
// bytes), else in the scan response (29 bytes, read by active scanning,
// which go-ble does by default). After the 8-byte prefix, 29 bytes leave 20
// base64url characters: endpoints of at most 15 bytes (MaxLegacyEndpoint),
// such as "http://n1:8081". No IPv4 endpoint fits ("http://1.2.3.4:1" is 16
// bytes); the seed's "http://127.0.0.1:8081" gives a 36-byte name. Name
// refuses such endpoints with ErrNameTooLong rather than advertising a name
// go-ble would silently drop (see below); use a short host name (mDNS,
// /etc/hosts, the node's AP DNS) to advertise over BLE. Extended
// advertising (Bluetooth 5) would carry names up to the GAP limit of 248
// bytes, and ParseName accepts names that long from other stacks, but
// go-ble cannot send it.
//
// Scanning runs in rounds of Config.ScanInterval with the controller's
// duplicate filter on, and an endpoint is delivered at most once per
// Config.DedupWindow; the set of remembered endpoints is bounded
// (Config.MaxTracked, new endpoints dropped while it is full).
//
// # Adapter
//
// The default adapter is go-ble's linux.NewDevice: it needs root or
// CAP_NET_ADMIN, takes the first HCI adapter away from BlueZ (it brings the
// device down and binds the HCI user channel, linux/hci/socket/socket.go
// lines 92-110) and resets it (linux/hci/hci.go:192). Without an adapter or
// permission New returns an error wrapping ErrNoAdapter, and the node runs
// on without BLE. Tests fake the Device interface, the only boundary to
// go-ble.
//
// # BT long range (coded PHY): not possible with go-ble
//
// Bluetooth 5 long range uses the LE Coded PHY, which needs extended
// advertising and scanning (HCI LE Set Extended Advertising Parameters,
// 0x2036, with primary PHY Coded; LE Set Extended Scan Parameters/Enable,
// 0x2041/0x2042) and the LE Extended Advertising Report event (LE meta
// subevent 0x0D). go-ble at v0.0.0-20240122180141-8c5522f54333 has none of
// it:
//
//   - linux/hci/cmd/cmd_gen.go implements LE commands only up to LE Remote
//     Connection Parameter Request Negative Reply (OCF 0x0021, line 1543,
//     Bluetooth 4.1): no LE Set PHY (0x0032), no extended advertising
//     (0x0036-0x0039), no extended scanning (0x0041-0x0042).
//   - linux/hci/hci.go:222 sets the LE event mask to 0x1F, so the controller
//     never reports subevent 0x0D; and handleLEMeta (hci.go:395) dispatches
//     only the subevents registered in the unexported subh map (lines
//     132-135), returning "unsupported LE event" for others.
//   - linux/adv/const.go:7 fixes advertising data at 31 bytes
//     (MaxEIRPacketLength), and LESetAdvertisingData is 32 bytes
//     (cmd_gen.go:791): legacy PDUs only.
//   - HCI.Send (hci.go:234) is exported and takes any Command, so a caller
//     could send extended commands, but their reports would be masked and
//     dropped as above, and a controller that has seen an extended command
//     refuses the legacy ones go-ble's Scan and Advertise use (Core spec
//     Vol 4 Part E §3.1.1: Command Disallowed).
//
// Also, AdvertiseNameAndServices (linux/hci/gap.go:95-128) silently
// advertises no name when the name fits neither the advertising data nor
// the scan response, and ignores a SetAdvertisement error (line 124); Name
// keeps names within the limit for that reason.
//
// So NewLongRange (Via "bt_lr") returns ErrCodedPHYUnsupported unless its
// Device implements CodedPHY, which go-ble's adapter does not; there is no
// simulated stand-in. A future Device that speaks the extended HCI commands
// and events (a fork of go-ble that adds them, or another HCI library)
// implements CodedPHY and slots in behind the same Link.
package ble
