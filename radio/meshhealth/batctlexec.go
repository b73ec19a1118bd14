package meshhealth

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// Defaults of Batctl's zero fields.
const (
	DefaultBatctlPath    = "batctl"
	DefaultBatctlIface   = "bat0"
	DefaultBatctlTimeout = 5 * time.Second
)

// Batctl reads batman-adv's state by running batctl (2023.0; any version
// with the "meshif" syntax). Its zero value is usable.
type Batctl struct {
	// Path is the batctl executable, looked up in PATH when it has no
	// slash. Default DefaultBatctlPath.
	Path string
	// Iface is the batman-adv mesh interface. Default DefaultBatctlIface.
	Iface string
	// Timeout bounds one Read (all of its batctl runs together). Default
	// DefaultBatctlTimeout.
	Timeout time.Duration
}

var _ Source = Batctl{}

var reIfaceRow = regexp.MustCompile(`^(\S+): (active|inactive)$`)

// Read runs `batctl meshif IFACE interface` (InterfacesUp), then the JSON
// tables neighbors_json and originators_json, falling back to the text
// tables `neighbors -n` and `originators -n` when the JSON ones fail or do
// not parse. Each run's output is bounded (1 MiB). It returns errors
// matching ErrBatctlNotFound, ErrModuleNotLoaded or ErrNoMeshInterface when
// batman-adv is not there; it does not fall back to text then.
func (b Batctl) Read(ctx context.Context) (Metrics, error) {
	path, iface, timeout := b.Path, b.Iface, b.Timeout
	if path == "" {
		path = DefaultBatctlPath
	}
	if iface == "" {
		iface = DefaultBatctlIface
	}
	if timeout <= 0 {
		timeout = DefaultBatctlTimeout
	}
	exe, err := exec.LookPath(path)
	if err != nil {
		return Metrics{}, fmt.Errorf("%w: %w", ErrBatctlNotFound, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	up, upErr := b.interfacesUp(ctx, exe, iface)
	if upErr != nil && fatalBatctl(ctx, upErr) {
		return Metrics{}, upErr
	}
	ns, origs, throughput, err := b.tablesJSON(ctx, exe, iface)
	if err != nil {
		if fatalBatctl(ctx, err) {
			return Metrics{}, err
		}
		var textErr error
		ns, origs, throughput, textErr = b.tablesText(ctx, exe, iface)
		if textErr != nil {
			return Metrics{}, fmt.Errorf("read batman-adv: %w (after JSON: %w)", textErr, err)
		}
	}
	if !throughput {
		fillTQ(ns, origs)
	}
	if upErr != nil { // unknown interface listing: count the interfaces neighbours are heard on
		seen := map[string]bool{}
		for _, n := range ns {
			seen[n.Iface] = true
		}
		up = len(seen)
	}
	m := Metrics{
		Proto:        ProtoBatman,
		Neighbors:    ns,
		Routes:       bestRoutes(origs),
		InterfacesUp: up,
		ReadAt:       time.Now(),
	}
	m.MeshOK = batmanMeshOK(m, throughput)
	return m, nil
}

// fatalBatctl reports whether err means batman-adv cannot be read at all.
func fatalBatctl(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, ErrModuleNotLoaded) || errors.Is(err, ErrNoMeshInterface) ||
		errors.Is(err, ErrBatctlNotFound)
}

func (b Batctl) interfacesUp(ctx context.Context, exe, iface string) (int, error) {
	out, err := runBatctl(ctx, exe, "meshif", iface, "interface")
	if err != nil {
		return 0, err
	}
	up := 0
	err = eachTableRow(out, "", func(line string) error {
		m := reIfaceRow.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			return fmt.Errorf("interface row %q", truncate(line))
		}
		if m[2] == "active" {
			up++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("parse batctl interface: %w", err)
	}
	return up, nil
}

func (b Batctl) tablesJSON(ctx context.Context, exe, iface string) ([]Neighbor, []originator, bool, error) {
	out, err := runBatctl(ctx, exe, "meshif", iface, "neighbors_json")
	if err != nil {
		return nil, nil, false, err
	}
	ns, throughput, err := parseNeighborsJSON(out)
	if err != nil {
		return nil, nil, false, err
	}
	out, err = runBatctl(ctx, exe, "meshif", iface, "originators_json")
	if err != nil {
		return nil, nil, false, err
	}
	origs, err := parseOriginatorsJSON(out)
	if err != nil {
		return nil, nil, false, err
	}
	return ns, origs, throughput, nil
}

func (b Batctl) tablesText(ctx context.Context, exe, iface string) ([]Neighbor, []originator, bool, error) {
	out, err := runBatctl(ctx, exe, "meshif", iface, "neighbors", "-n")
	if err != nil {
		return nil, nil, false, err
	}
	ns, throughput, err := parseNeighborsText(out)
	if err != nil {
		return nil, nil, false, err
	}
	out, err = runBatctl(ctx, exe, "meshif", iface, "originators", "-n")
	if err != nil {
		return nil, nil, false, err
	}
	origs, err := parseOriginatorsText(out)
	if err != nil {
		return nil, nil, false, err
	}
	return ns, origs, throughput, nil
}

// runBatctl runs exe with args and returns its standard output, at most
// maxInputBytes of it. batctl's own error messages are mapped to
// ErrModuleNotLoaded and ErrNoMeshInterface.
func runBatctl(ctx context.Context, exe string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, exe, args...)
	stdout := &cappedBuffer{max: maxInputBytes}
	stderr := &cappedBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.WaitDelay = time.Second // do not wait for grandchildren holding the pipes
	err := cmd.Run()
	name := "batctl " + strings.Join(args, " ")
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: %w", name, ctx.Err())
	}
	if err != nil {
		msg := firstErrorLine(stderr.Bytes(), stdout.Bytes())
		switch {
		case strings.Contains(msg, "batman-adv module has not been loaded"):
			return nil, fmt.Errorf("%s: %w: %s", name, ErrModuleNotLoaded, msg)
		case strings.Contains(msg, "is not present or not a batman-adv interface"):
			return nil, fmt.Errorf("%s: %w: %s", name, ErrNoMeshInterface, msg)
		case msg != "":
			return nil, fmt.Errorf("%s: %w: %s", name, err, msg)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return stdout.Bytes(), nil
}

// firstErrorLine returns the first line starting with "Error" in stderr
// or stdout, or else the first non-empty line of stderr, truncated.
func firstErrorLine(stderr, stdout []byte) string {
	first := ""
	for i, out := range [][]byte{stderr, stdout} {
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(line, "Error") {
				return truncate(line)
			}
			if i == 0 && first == "" && line != "" {
				first = line
			}
		}
	}
	return truncate(first)
}

// cappedBuffer collects at most max bytes; a longer write fails, which
// stops the command.
type cappedBuffer struct {
	buf bytes.Buffer
	max int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.buf.Len()+len(p) > c.max {
		return 0, fmt.Errorf("%w: output longer than %d bytes", ErrMalformed, c.max)
	}
	return c.buf.Write(p)
}

func (c *cappedBuffer) Bytes() []byte { return c.buf.Bytes() }
