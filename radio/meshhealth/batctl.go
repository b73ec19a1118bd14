package meshhealth

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Rows of batctl 2023.0's text tables (neighbors.c, originators.c). Names
// are \S+ because batctl prints /etc/bat-hosts names instead of MACs.
var (
	// BATMAN IV neighbour: "   %10s\t  %02x:..:%02x %4i.%03is"; the
	// interface name is empty when batctl cannot resolve its index.
	reNeighIV = regexp.MustCompile(`^\s*(?:(\S+)\s+)?(\S+)\s+(\d{1,10})\.(\d{3})s\s*$`)
	// BATMAN V neighbour: "%02x:..:%02x %4i.%03is (%9u.%1u) [%10s]"
	reNeighV = regexp.MustCompile(`^\s*(\S+)\s+(\d{1,10})\.(\d{3})s\s+\(\s*(\d{1,10})\.(\d)\)\s+\[\s*(\S+)\]\s*$`)
	// Originator, both algorithms:
	// " %c %02x:..:%02x %4i.%03is   (%3i) %02x:..:%02x [%10s]"        (IV)
	// " %c %02x:..:%02x %4i.%03is (%9u.%1u) %02x:..:%02x [%10s]"      (V)
	// Old batman-adv versions append ": potential nexthops ...".
	reOrig = regexp.MustCompile(`^\s*(\*\s+)?([^\s*]\S*)\s+(\d{1,10})\.(\d{3})s\s+\(\s*(\d{1,10})(?:\.(\d))?\)\s+(\S+)\s+\[\s*(\S+)\](?::.*)?\s*$`)
)

// originator is one row of the originators table; best marks the next hop
// that batman-adv routes through.
type originator struct {
	route Route
	best  bool
}

// ParseBatctlNeighbors parses the text of `batctl meshif bat0 neighbors`
// (`batctl n`) from batctl 2023.0, BATMAN IV or BATMAN V. The header lines
// are optional. With BATMAN IV the table has no link quality, so Metric is
// zero; Batctl.Read fills it in from the originators table.
func ParseBatctlNeighbors(text []byte) ([]Neighbor, error) {
	ns, _, err := parseNeighborsText(text)
	return ns, err
}

// parseNeighborsText also reports whether the rows carried BATMAN V
// throughputs.
func parseNeighborsText(text []byte) ([]Neighbor, bool, error) {
	var out []Neighbor
	throughput := false
	err := eachTableRow(text, "IF", func(line string) error {
		if m := reNeighIV.FindStringSubmatch(line); m != nil {
			ls, err := lastSeen(m[3], m[4])
			if err != nil {
				return err
			}
			out = append(out, Neighbor{Iface: m[1], Address: m[2], LastSeen: ls})
			return nil
		}
		if m := reNeighV.FindStringSubmatch(line); m != nil {
			ls, err := lastSeen(m[2], m[3])
			if err != nil {
				return err
			}
			mbit, err := decimal(m[4], m[5])
			if err != nil {
				return err
			}
			throughput = true
			out = append(out, Neighbor{Address: m[1], Iface: m[6], Metric: mbit, LastSeen: ls})
			return nil
		}
		return fmt.Errorf("neighbour row %q", truncate(line))
	})
	if err != nil {
		return nil, false, fmt.Errorf("parse batctl neighbors: %w", err)
	}
	return out, throughput, nil
}

// ParseBatctlOriginators parses the text of `batctl meshif bat0
// originators` (`batctl o`) from batctl 2023.0 and returns the best route
// ("*") to each originator. Metric is the TQ (BATMAN IV) or the throughput
// in Mbit/s (BATMAN V).
func ParseBatctlOriginators(text []byte) ([]Route, error) {
	origs, err := parseOriginatorsText(text)
	if err != nil {
		return nil, err
	}
	return bestRoutes(origs), nil
}

func parseOriginatorsText(text []byte) ([]originator, error) {
	var out []originator
	err := eachTableRow(text, "Originator", func(line string) error {
		m := reOrig.FindStringSubmatch(line)
		if m == nil {
			return fmt.Errorf("originator row %q", truncate(line))
		}
		if _, err := lastSeen(m[3], m[4]); err != nil {
			return err
		}
		var metric float64
		if m[6] != "" { // BATMAN V: throughput in Mbit/s
			v, err := decimal(m[5], m[6])
			if err != nil {
				return err
			}
			metric = v
		} else {
			tq, err := strconv.Atoi(m[5])
			if err != nil || tq > 255 {
				return fmt.Errorf("originator TQ %q", m[5])
			}
			metric = float64(tq)
		}
		out = append(out, originator{
			route: Route{Destination: m[2], Via: m[7], Iface: m[8], Metric: metric},
			best:  m[1] != "",
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("parse batctl originators: %w", err)
	}
	return out, nil
}

// eachTableRow calls row for each data line of a batctl table. Leading
// "[B.A.T.M.A.N. adv ...]" lines and the column header line (its first
// word is header) are skipped; blank lines are ignored. Errors wrap
// ErrMalformed.
func eachTableRow(text []byte, header string, row func(string) error) error {
	if len(text) > maxInputBytes {
		return fmt.Errorf("%w: %d bytes of output, at most %d", ErrMalformed, len(text), maxInputBytes)
	}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), maxInputBytes)
	rows, lineNo := 0, 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			continue
		case rows == 0 && strings.HasPrefix(trimmed, "[B.A.T.M.A.N."):
			continue
		case rows == 0 && firstWord(trimmed) == header:
			continue
		}
		rows++
		if rows > maxEntries {
			return fmt.Errorf("%w: more than %d rows", ErrMalformed, maxEntries)
		}
		if err := row(line); err != nil {
			return fmt.Errorf("%w: line %d: %w", ErrMalformed, lineNo, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// batctlEntry is one object of batctl's netlink JSON (neighbors_json,
// originators_json). Field names are batman-adv's netlink attribute names
// as batctl 2023.0 prints them; "best" is only present when true.
type batctlEntry struct {
	HardIfindex   *uint32 `json:"hard_ifindex"`
	HardIfname    string  `json:"hard_ifname"`
	OrigAddress   string  `json:"orig_address"`
	NeighAddress  string  `json:"neigh_address"`
	LastSeenMsecs *uint32 `json:"last_seen_msecs"`
	TQ            *uint8  `json:"tq"`
	Throughput    *uint32 `json:"throughput"` // kbit/s
	Best          bool    `json:"best"`
}

func decodeBatctlJSON(data []byte) ([]batctlEntry, error) {
	if len(data) > maxInputBytes {
		return nil, fmt.Errorf("%w: %d bytes of JSON, at most %d", ErrMalformed, len(data), maxInputBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("%w: JSON is not an array", ErrMalformed)
	}
	var out []batctlEntry
	for dec.More() {
		if len(out) == maxEntries {
			return nil, fmt.Errorf("%w: more than %d entries", ErrMalformed, maxEntries)
		}
		var e batctlEntry
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrMalformed, len(out), err)
		}
		out = append(out, e)
	}
	if _, err := dec.Token(); err != nil { // the closing ]
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("%w: data after the JSON array", ErrMalformed)
	}
	return out, nil
}

// ParseBatctlNeighborsJSON parses the output of batctl 2023.0's `batctl
// meshif bat0 neighbors_json`: an array of objects with "neigh_address",
// "hard_ifname" (or only "hard_ifindex" before batman-adv 2021.2),
// "last_seen_msecs" and, with BATMAN V, "throughput" in kbit/s (reported as
// Mbit/s in Metric). Unknown fields are ignored; missing mandatory fields
// are an error.
func ParseBatctlNeighborsJSON(data []byte) ([]Neighbor, error) {
	ns, _, err := parseNeighborsJSON(data)
	return ns, err
}

func parseNeighborsJSON(data []byte) ([]Neighbor, bool, error) {
	es, err := decodeBatctlJSON(data)
	if err != nil {
		return nil, false, fmt.Errorf("parse batctl neighbors_json: %w", err)
	}
	out := make([]Neighbor, 0, len(es))
	throughput := false
	for i, e := range es {
		if e.NeighAddress == "" || e.LastSeenMsecs == nil || e.HardIfname == "" && e.HardIfindex == nil {
			return nil, false, fmt.Errorf("parse batctl neighbors_json: %w: entry %d lacks neigh_address, hard_ifname/hard_ifindex or last_seen_msecs", ErrMalformed, i)
		}
		n := Neighbor{
			Address:  e.NeighAddress,
			Iface:    e.HardIfname,
			LastSeen: time.Duration(*e.LastSeenMsecs) * time.Millisecond,
		}
		if e.Throughput != nil {
			throughput = true
			n.Metric = float64(*e.Throughput) / 1000
		}
		out = append(out, n)
	}
	return out, throughput, nil
}

// ParseBatctlOriginatorsJSON parses the output of batctl 2023.0's `batctl
// meshif bat0 originators_json`: an array of objects with "orig_address",
// "neigh_address" (the next hop), "hard_ifname"/"hard_ifindex",
// "last_seen_msecs", "tq" (BATMAN IV) or "throughput" (BATMAN V, kbit/s)
// and "best": true on the entry in use. It returns the best route to each
// originator.
func ParseBatctlOriginatorsJSON(data []byte) ([]Route, error) {
	origs, err := parseOriginatorsJSON(data)
	if err != nil {
		return nil, err
	}
	return bestRoutes(origs), nil
}

func parseOriginatorsJSON(data []byte) ([]originator, error) {
	es, err := decodeBatctlJSON(data)
	if err != nil {
		return nil, fmt.Errorf("parse batctl originators_json: %w", err)
	}
	out := make([]originator, 0, len(es))
	for i, e := range es {
		if e.OrigAddress == "" || e.NeighAddress == "" || e.LastSeenMsecs == nil ||
			e.HardIfname == "" && e.HardIfindex == nil || e.TQ == nil && e.Throughput == nil {
			return nil, fmt.Errorf("parse batctl originators_json: %w: entry %d lacks orig_address, neigh_address, hard_ifname/hard_ifindex, last_seen_msecs or tq/throughput", ErrMalformed, i)
		}
		r := Route{Destination: e.OrigAddress, Via: e.NeighAddress, Iface: e.HardIfname}
		if e.TQ != nil {
			r.Metric = float64(*e.TQ)
		} else {
			r.Metric = float64(*e.Throughput) / 1000
		}
		out = append(out, originator{route: r, best: e.Best})
	}
	return out, nil
}

func bestRoutes(origs []originator) []Route {
	var out []Route
	for _, o := range origs {
		if o.best {
			out = append(out, o.route)
		}
	}
	return out
}

// fillTQ sets the Metric of BATMAN IV neighbours to the TQ of the
// originator entry that reaches the neighbour directly (originator and
// next hop are the neighbour, on the same interface).
func fillTQ(ns []Neighbor, origs []originator) {
	for i := range ns {
		for _, o := range origs {
			r := o.route
			if r.Destination == ns[i].Address && r.Via == ns[i].Address &&
				(r.Iface == ns[i].Iface || r.Iface == "" || ns[i].Iface == "") && r.Metric > ns[i].Metric {
				ns[i].Metric = r.Metric
			}
		}
	}
}

func lastSeen(secs, msecs string) (time.Duration, error) {
	s, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("last-seen %q", secs)
	}
	ms, err := strconv.ParseInt(msecs, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("last-seen %q", msecs)
	}
	return time.Duration(s)*time.Second + time.Duration(ms)*time.Millisecond, nil
}

// decimal parses "%u.%1u" as printed by batctl.
func decimal(whole, frac string) (float64, error) {
	v, err := strconv.ParseFloat(whole+"."+frac, 64)
	if err != nil {
		return 0, fmt.Errorf("number %q.%q", whole, frac)
	}
	return v, nil
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
