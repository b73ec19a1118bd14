package main

import (
	"io"

	"golang.org/x/sync/errgroup"
)

// Download copy sizes: chunks of downloadChunk bytes, at most
// downloadDepth of them read but not yet written.
const (
	downloadChunk = 1 << 20
	downloadDepth = 4
)

// copyHashing copies src to dst and hashes it into h on the way, in a
// pipeline of three goroutines (read, hash, write) over a few large
// chunks: hashing and writing the file (a copy into the page cache) each
// take about as long as the transfer itself, so they overlap with it and
// each other instead of adding up. It returns the bytes read and the
// first error; reading stops at a write error.
func copyHashing(dst, h io.Writer, src io.Reader) (int64, error) {
	free := make(chan []byte, downloadDepth)
	for range downloadDepth {
		free <- make([]byte, downloadChunk)
	}
	toHash := make(chan []byte, downloadDepth)
	toWrite := make(chan []byte, downloadDepth)
	// stop ends the pipeline early when a stage fails.
	stop := make(chan struct{})
	var read int64
	var g errgroup.Group
	g.Go(func() error {
		defer close(toHash)
		for {
			select {
			case <-stop:
				return nil
			default:
			}
			var buf []byte
			select {
			case buf = <-free:
			case <-stop:
				return nil
			}
			n, err := fill(src, buf)
			read += int64(n)
			if n > 0 {
				toHash <- buf[:n]
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	})
	g.Go(func() error {
		defer close(toWrite)
		for buf := range toHash {
			h.Write(buf)
			toWrite <- buf
		}
		return nil
	})
	g.Go(func() error {
		var werr error
		for buf := range toWrite {
			if werr == nil {
				if _, werr = dst.Write(buf); werr != nil {
					close(stop)
				}
			}
			free <- buf[:cap(buf)]
		}
		return werr
	})
	err := g.Wait()
	return read, err
}

// fill reads from src until buf is full, src ends (io.EOF, with n possibly
// above zero) or it fails.
func fill(src io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := src.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
