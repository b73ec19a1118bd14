package jobs

import (
	"fmt"

	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// SplitBody decodes a job request's body: the module's moduleSize bytes,
// then the input. Both must be within their limits; the module must at
// least carry the WebAssembly magic number.
func SplitBody(b []byte, moduleSize, maxModule, maxInput int64) (module, input []byte, err error) {
	switch {
	case moduleSize < 4 || moduleSize > maxModule:
		return nil, nil, nodeerr.Invalidf("module_size must be between 4 and %d", maxModule)
	case moduleSize > int64(len(b)):
		return nil, nil, nodeerr.Invalidf("module_size %d but the body has %d bytes", moduleSize, len(b))
	case int64(len(b))-moduleSize > maxInput:
		return nil, nil, fmt.Errorf("%w: input of %d bytes, at most %d", nodeerr.ErrTooLarge, int64(len(b))-moduleSize, maxInput)
	case string(b[:4]) != "\x00asm":
		return nil, nil, nodeerr.Invalidf("the module has no WebAssembly header")
	}
	return b[:moduleSize:moduleSize], b[moduleSize:], nil
}
