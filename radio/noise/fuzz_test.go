package noise

import (
	"context"
	"testing"
)

// FuzzHandleDatagram feeds arbitrary datagrams to a link that holds a
// session: it must never panic, and a delivered frame must come from a
// datagram the peer sealed.
func FuzzHandleDatagram(f *testing.F) {
	a, b, ca := pair(f)
	if err := a.Send(context.Background(), []byte("frame")); err != nil {
		f.Fatal(err)
	}
	transport := ca.take()[0]
	f.Add(transport)
	f.Add([]byte("ON\x01\x01\x00\x00\x00\x01\x00\x00\x00\x00" + string(make([]byte, 32))))
	f.Add([]byte("ON\x01\x02\x00\x00\x00\x01\x00\x00\x00\x02" + string(make([]byte, 96))))
	f.Add([]byte("ON\x01\x03\x00\x00\x00\x01\x00\x00\x00\x02" + string(make([]byte, 64))))
	f.Add([]byte{1, 1, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, frame := b.handle(data)
		if frame != nil && string(frame) != "frame" && len(frame) != 0 {
			t.Errorf("handle(%x) delivered %q, which a never sent", data, frame)
		}
	})
}
