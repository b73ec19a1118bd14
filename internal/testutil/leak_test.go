package testutil

import (
	"strings"
	"testing"
)

func TestCheckGoroutinesPassesWhenGoroutinesEnd(t *testing.T) {
	CheckGoroutines(t)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-done
	}()
	t.Cleanup(func() { close(done); <-stopped })
}

func TestNewGoroutinesReportsOnlyNewOnes(t *testing.T) {
	before := goroutines()
	block := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-block
	}()
	defer func() { close(block); <-stopped }()
	extra := newGoroutines(before, goroutines())
	if len(extra) != 1 || !strings.Contains(extra[0], "TestNewGoroutinesReportsOnlyNewOnes") {
		t.Errorf("newGoroutines() = %q, want the one goroutine this test started", extra)
	}
}
