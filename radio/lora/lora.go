package lora

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/offgrid-net/offgrid/radio"
)

// ErrClosed is returned by Send and Run once the link's port is closed (Run
// has returned or Close was called).
var ErrClosed = errors.New("lora: link closed")

// Config configures a LoRa link. The zero value of every field but Port
// means its default; DefaultConfig spells the defaults out.
type Config struct {
	// Port is the serial device of the LoRa module, for example
	// /dev/ttyUSB0 or /dev/serial/by-id/…. Required.
	Port string

	// Baud is the UART speed in bit/s. Default 57600, the usual speed of
	// TNC/AT LoRa firmwares; it is the serial speed, not the radio's rate.
	Baud int

	// DutyCycle is the share of time the link may spend transmitting,
	// measured over Window. Default 0.01 (1 %, the EU868 g/g1 sub-band
	// limit). Must be in (0, 1]. Lower it to leave airtime to neighbours.
	DutyCycle float64

	// Window is the sliding window over which DutyCycle is measured.
	// Default one hour, as ETSI EN 300 220 measures duty cycle. A shorter
	// window spreads transmissions more evenly but allows smaller bursts.
	Window time.Duration

	// AirtimePerByte is the time on air of one byte of a line, newline
	// included. Default 5 ms: SF9, 125 kHz, coding rate 4/5 (≈1758 bit/s,
	// 4.55 ms a byte) rounded up to cover preamble and header; see the
	// package documentation. Slower settings (SF12) need about 35 ms.
	AirtimePerByte time.Duration

	// Open opens the serial port at the given speed. Default: go.bug.st/serial
	// in raw mode, 8N1, no flow control. Tests inject a pseudo-terminal or
	// a pipe here.
	Open func(port string, baud int) (io.ReadWriteCloser, error)

	// Now returns the current time for the airtime budget. Default time.Now;
	// tests inject a clock.
	Now func() time.Time

	// Logger receives debug records about skipped lines. Default: discard.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults for a LoRa module on port.
func DefaultConfig(port string) Config {
	return Config{
		Port:           port,
		Baud:           57600,
		DutyCycle:      0.01,
		Window:         time.Hour,
		AirtimePerByte: 5 * time.Millisecond,
		Open:           openSerial,
		Now:            time.Now,
		Logger:         slog.New(slog.DiscardHandler),
	}
}

// withDefaults fills zero fields with their defaults and validates.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig(c.Port)
	if c.Port == "" {
		return c, errors.New("lora: no serial port configured")
	}
	if c.Baud == 0 {
		c.Baud = d.Baud
	}
	if c.DutyCycle == 0 {
		c.DutyCycle = d.DutyCycle
	}
	if c.Window == 0 {
		c.Window = d.Window
	}
	if c.AirtimePerByte == 0 {
		c.AirtimePerByte = d.AirtimePerByte
	}
	if c.Open == nil {
		c.Open = d.Open
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	switch {
	case c.Baud < 0:
		return c, fmt.Errorf("lora: baud %d is negative", c.Baud)
	case c.DutyCycle < 0 || c.DutyCycle > 1:
		return c, fmt.Errorf("lora: duty cycle %g is outside (0, 1]", c.DutyCycle)
	case c.Window < 0:
		return c, fmt.Errorf("lora: window %v is negative", c.Window)
	case c.AirtimePerByte < 0:
		return c, fmt.Errorf("lora: airtime per byte %v is negative", c.AirtimePerByte)
	}
	return c, nil
}

// Link is a radio.Link over a LoRa module on a serial port. Send and MTU are
// safe for concurrent use; Run is called once.
type Link struct {
	cfg  Config
	port io.ReadWriteCloser
	log  *slog.Logger

	// writeMu serialises writes to the port so that lines never interleave.
	writeMu sync.Mutex

	// mu guards the fields below.
	mu      sync.Mutex
	budget  *radio.Budget
	closed  bool
	running bool
}

var _ radio.Link = (*Link)(nil)

// New validates cfg and opens the serial port. It starts no goroutines; Run
// does the reading. A port that cannot be opened is reported with its name.
func New(cfg Config) (*Link, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	port, err := cfg.Open(cfg.Port, cfg.Baud)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("lora: serial port %s does not exist (is the LoRa module plugged in?): %w", cfg.Port, err)
		}
		return nil, fmt.Errorf("lora: open serial port %s at %d baud: %w", cfg.Port, cfg.Baud, err)
	}
	return &Link{
		cfg:    cfg,
		port:   port,
		log:    cfg.Logger.With("component", "radio/lora", "port", cfg.Port),
		budget: radio.NewBudget(cfg.Window, cfg.DutyCycle),
	}, nil
}

// Via returns radio.ViaLoRa.
func (l *Link) Via() radio.Via { return radio.ViaLoRa }

// MTU returns the largest frame that fits one line: radio.MaxLineFrame.
func (l *Link) MTU() int { return radio.MaxLineFrame }

// Send line-encodes frame and writes it to the module if the airtime budget
// allows it. Otherwise it returns an error wrapping radio.ErrBudget without
// writing or queueing anything. Frames larger than MTU are refused: LoRa
// carries announcements and keep-alives, not bulk data. Send blocks only for
// the UART write (about 40 ms for a full line at 57600 baud).
func (l *Link) Send(ctx context.Context, frame []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(frame) > l.MTU() {
		return fmt.Errorf("lora: frame of %d bytes exceeds the LoRa MTU of %d bytes: %w", len(frame), l.MTU(), radio.ErrTooLarge)
	}
	line, err := radio.EncodeLine(frame)
	if err != nil {
		return fmt.Errorf("lora: %w", err)
	}
	air := time.Duration(len(line)) * l.cfg.AirtimePerByte

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	now := l.cfg.Now()
	if !l.budget.Admit(now, air) {
		used := l.budget.Used(now)
		l.mu.Unlock()
		return fmt.Errorf("lora: %w: line needs %v of airtime, %v of %v used in the last %v",
			radio.ErrBudget, air, used, l.budget.Limit(), l.budget.Window())
	}
	l.mu.Unlock()

	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if _, err := l.port.Write(line); err != nil {
		return fmt.Errorf("lora: write to %s: %w", l.cfg.Port, err)
	}
	return nil
}

// Run reads lines from the module and delivers each decoded frame as a
// radio.Packet with Via radio.ViaLoRa and From set to the port name (LoRa
// has no link-layer sender address; frames name their sender). deliver is
// called from Run's goroutine, one packet at a time, and must not block for
// long: the UART buffers only a little. Packet.Data is the caller's to keep.
//
// When ctx ends Run closes the port, which unblocks the pending read, and
// returns nil once its goroutine has stopped. If the port fails first (the
// module was unplugged), Run returns the read error.
func (l *Link) Run(ctx context.Context, deliver func(radio.Packet)) error {
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return ErrClosed
	case l.running:
		l.mu.Unlock()
		return errors.New("lora: Run is already running")
	}
	l.running = true
	l.mu.Unlock()

	var wg sync.WaitGroup
	readDone := make(chan struct{})
	wg.Go(func() {
		select {
		case <-ctx.Done():
		case <-readDone:
		}
		// Closing the port unblocks the read below; its error is moot.
		_ = l.Close()
	})
	err := l.read(deliver)
	close(readDone)
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("lora: read from %s: %w", l.cfg.Port, err)
}

// maxLine is the longest line accepted, newline included: radio.MaxFrame
// plus one for a "\r" that some firmwares put before the newline.
const maxLine = radio.MaxFrame + 1

// read reads lines until the port fails or is closed.
func (l *Link) read(deliver func(radio.Packet)) error {
	r := bufio.NewReaderSize(l.port, maxLine)
	discarding := false // inside an overlong line, until its newline
	for {
		line, err := r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if !discarding {
				l.log.Debug("Overlong line skipped", "limit", maxLine)
			}
			discarding = true
			continue
		case err != nil:
			return err
		case discarding:
			discarding = false // the tail of the overlong line
			continue
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) == 0 {
			continue
		}
		frame, err := radio.DecodeLine(line)
		if err != nil {
			if l.log.Enabled(context.Background(), slog.LevelDebug) {
				l.log.Debug("Undecodable line skipped", "bytes", len(line), "err", err)
			}
			continue
		}
		deliver(radio.Packet{Data: bytes.Clone(frame), Via: radio.ViaLoRa, From: l.cfg.Port})
	}
}

// Close closes the serial port. Run calls it when its context ends; call it
// directly only for a link whose Run is never called. It is idempotent.
func (l *Link) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if err := l.port.Close(); err != nil {
		return fmt.Errorf("lora: close %s: %w", l.cfg.Port, err)
	}
	return nil
}
