package lora

import (
	"io"

	"go.bug.st/serial"
)

// openSerial is the default Config.Open: the port in raw mode, 8N1, no
// flow control, at baud bit/s.
func openSerial(port string, baud int) (io.ReadWriteCloser, error) {
	p, err := serial.Open(port, &serial.Mode{
		BaudRate: baud,
		DataBits: 8,
		Parity:   serial.NoParity,
		StopBits: serial.OneStopBit,
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}
