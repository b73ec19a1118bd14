package node

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/offgrid-net/offgrid/internal/atomicfile"
)

// AdminTokenFile is the name of the admin token file in the data directory.
const AdminTokenFile = "admin-token"

// LoadOrCreateAdminToken returns the node's admin token. A given token (from
// a flag or the environment) wins and is saved; otherwise the saved token is
// used; otherwise a random one is made from rand and saved with mode 0600.
// created reports that a new random token was made.
func LoadOrCreateAdminToken(dir, given string, rand io.Reader) (token string, created bool, err error) {
	path := filepath.Join(dir, AdminTokenFile)
	if given != "" {
		if len(given) < 16 {
			return "", false, errors.New("admin token must be at least 16 characters")
		}
		return given, false, writeSecret(path, given)
	}
	b, err := os.ReadFile(path)
	if err == nil {
		if t := strings.TrimSpace(string(b)); len(t) >= 16 {
			return t, false, nil
		}
		return "", false, fmt.Errorf("admin token in %s is shorter than 16 characters", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("read admin token: %w", err)
	}
	raw := make([]byte, 24)
	if _, err := io.ReadFull(rand, raw); err != nil {
		return "", false, fmt.Errorf("make admin token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(raw)
	return token, true, writeSecret(path, token)
}

// writeSecret saves the token with mode 0600, atomically: a node killed
// while saving keeps the old token or the new one, never an empty file it
// would refuse to start with.
func writeSecret(path, secret string) error {
	if err := atomicfile.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("save admin token: %w", err)
	}
	return nil
}
