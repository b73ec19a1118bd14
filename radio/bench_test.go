package radio

import (
	"crypto/ed25519"
	"testing"
)

// typicalBeacon is a beacon as a village node sends it.
var typicalBeacon = Frame{Type: FrameBeacon, Epoch: 12, Counter: 345, Endpoint: "http://192.168.100.200:8081", Name: "village-hall", Gossip: 7946, Active: true}

func TestBeaconSize(t *testing.T) {
	t.Parallel()
	raw := mustEncode(t, testKeys(t, 1), typicalBeacon)
	line, err := EncodeLine(raw)
	if err != nil {
		t.Fatalf("EncodeLine(typical beacon): %v", err)
	}
	t.Logf("beacon (endpoint %q, name %q): %d bytes raw, %d bytes line-encoded (MaxFrame %d, MaxLineFrame %d)",
		typicalBeacon.Endpoint, typicalBeacon.Name, len(raw), len(line), MaxFrame, MaxLineFrame)
	if len(raw) >= 160 {
		t.Errorf("beacon is %d bytes raw, want < 160", len(raw))
	}
	if len(line) > MaxFrame {
		t.Errorf("beacon is %d bytes line-encoded, want <= %d", len(line), MaxFrame)
	}
}

// BenchmarkFrames measures receiving a typical beacon, against its floor
// in the same run: one bare Ed25519 verification of a message of the same
// size, no parsing. "decode" parses and verifies; "receiver-accept" adds
// the replay filter, as a node runs it (each frame has a new counter, so
// all are accepted).
func BenchmarkFrames(b *testing.B) {
	b.Run("base=ed25519-verify", func(b *testing.B) {
		k := testKeys(b, 1)
		frame := mustEncode(b, k, typicalBeacon)
		msg := domainMessageForBench(frame[:len(frame)-sigSize])
		sig := frame[len(frame)-sigSize:]
		pub := k.SignPublic()
		b.ReportAllocs()
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("signature does not verify")
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	})
	b.Run("decode", func(b *testing.B) {
		frame := mustEncode(b, testKeys(b, 1), typicalBeacon)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeFrame(frame); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	})
	b.Run("receiver-accept", func(b *testing.B) {
		k := testKeys(b, 1)
		frames := make([][]byte, 256)
		for i := range frames {
			f := typicalBeacon
			f.Counter = uint32(i)
			frames[i] = mustEncode(b, k, f)
		}
		b.ReportAllocs()
		var r *Receiver
		i := 0
		for b.Loop() {
			if i%len(frames) == 0 {
				r = NewReceiver("", 0) // counters start again; amortized over 256 frames
			}
			if _, err := r.Accept(Packet{Data: frames[i%len(frames)]}); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	})
}

// domainMessageForBench builds what identity signs: domain, 0x00, msg.
func domainMessageForBench(msg []byte) []byte {
	out := append([]byte(FrameDomain), 0)
	return append(out, msg...)
}
