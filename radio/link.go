package radio

import (
	"context"
	"errors"
)

// Via names a transport. It is what the peer table records as the way a
// peer was heard.
type Via string

// The transports.
const (
	// ViaUDP is UDP multicast on an IP network (radio/udp).
	ViaUDP Via = "udp"
	// ViaLoRa is a LoRa radio on a serial port (radio/lora).
	ViaLoRa Via = "lora"
	// ViaBLE is Bluetooth Low Energy extended advertising on the LE 1M
	// PHY (radio/ble).
	ViaBLE Via = "ble"
	// ViaBTLR is Bluetooth long range: extended advertising on the LE
	// Coded PHY (radio/ble).
	ViaBTLR Via = "bt_lr"
	// ViaFile is a file shared by all nodes (radio/filebus).
	ViaFile Via = "file"
)

// ErrBudget reports a send refused because the link's duty-cycle (airtime)
// budget is spent. It is not a fault: the caller retries later or drops
// the frame.
var ErrBudget = errors.New("link airtime budget spent")

// Packet is what a Link delivers.
type Packet struct {
	// Data is an encoded frame (already line-decoded), a private copy the
	// receiver may keep. It is nil for links that discover by name only.
	Data []byte
	// Via is the link the packet came from.
	Via Via
	// From is the transport address of the sender, for logs only: it is
	// not authenticated and may be 0.0.0.0 on loopback.
	From string
	// Endpoint is, for a name-only discovery (a BLE legacy name beacon),
	// the advertised endpoint; Data is nil then.
	Endpoint string
}

// Noticer is implemented by a link that can run in a reduced mode the
// operator should know about (a BLE adapter without extended advertising
// falls back to the legacy name beacon).
type Noticer interface {
	// Notice returns one line saying what the link lacks and does instead,
	// or "" when it runs fully. It never changes after the link is opened.
	Notice() string
}

// Link is one transport. Implementations: radio/udp, radio/filebus,
// radio/lora, radio/ble, and radio/radiotest for tests.
type Link interface {
	// Via names the transport.
	Via() Via
	// MTU is the largest encoded frame (before any line encoding) the link
	// carries. It never changes.
	MTU() int
	// Send transmits one encoded frame to every node in range. It is safe
	// for concurrent use, honours ctx, and may refuse with ErrBudget when a
	// duty-cycle budget is spent, or with ErrTooLarge for a frame longer
	// than MTU. A nil error means the frame was handed to the medium, not
	// that anyone heard it.
	Send(ctx context.Context, frame []byte) error
	// Run receives until ctx ends, calling deliver (from one goroutine at a
	// time; it must not block for long) for each packet. It returns nil
	// after ctx ends, and has stopped its goroutines and closed its
	// resources by then. It returns an error if the link cannot work. Call
	// it at most once at a time.
	Run(ctx context.Context, deliver func(Packet)) error
}
