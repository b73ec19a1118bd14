//go:build !unix

package storage

import "errors"

// freeBytes is unknown where the platform offers no statfs.
func freeBytes(string) (int64, error) {
	return 0, errors.New("free space is not known on this platform")
}
