// Package lora is the LoRa transport: a radio.Link over a LoRa module on a
// serial port (UART, typically /dev/ttyUSB0 at 57600 baud) whose firmware
// (TNC or AT style) sends each line it is given as one LoRa packet and
// writes each packet it hears as one line.
//
// # Line framing
//
// A frame travels as one line: radio.EncodeLine, that is the frame in
// base64url without padding, then "\n". A line, newline included, is at most
// radio.MaxFrame (220) bytes, so the largest frame is radio.MaxLineFrame
// (164) bytes before encoding (Link.MTU). Only announce and keep-alive frames
// (beacons, pings, pongs) go over LoRa; there is no bulk data and no
// fragmentation, and Send refuses anything larger.
//
// Reading is defensive, because a radio hears noise and other networks: a
// line longer than radio.MaxFrame (+1 for a "\r" some firmwares add) is
// discarded up to and including its next newline, and a line that does not
// decode is skipped. Neither stops the link.
//
// # Airtime budget
//
// EU868 sub-bands allow a 1 % duty cycle (ETSI EN 300 220), measured over an
// hour. The link keeps a sliding-window log of its own transmissions: a line
// costs len(line) × Config.AirtimePerByte of airtime, newline included, and
// Send admits it only if the airtime sent within the last Config.Window plus
// this line stays within Config.DutyCycle × Config.Window. Otherwise Send
// returns an error that wraps radio.ErrBudget at once; nothing is queued, so
// the caller decides whether to drop the frame or try later.
//
// The default AirtimePerByte is 5 ms: at SF9, 125 kHz and coding rate 4/5 a
// LoRa symbol lasts 2^9/125 kHz = 4.096 ms and the raw rate is
// 9 × 125000/512 × 4/5 ≈ 1758 bit/s, that is 4.55 ms per byte; rounding up
// to 5 ms covers the preamble (12.25 symbols, 50 ms) and the PHY header for
// full-size packets (a 220-byte packet takes about 1.11 s on air). With the
// default 1 % over one hour the link may send 36 s of airtime an hour, about
// 32 full-size lines or 70 typical 100-byte beacons. Set AirtimePerByte from
// the module's real settings (SF, bandwidth) when they differ.
//
// # Lifecycle
//
// New opens the serial port, so that a missing port is reported at start
// with its name. Run reads lines until its context ends, then closes the port
// to unblock the pending read, waits for its reader, and returns nil. Close
// releases the port of a link whose Run was never called.
package lora
