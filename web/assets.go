package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// assetFS holds app.css, app.js, icon.svg and, after fetch-assets.sh (make
// assets), the vendored htmx builds in assets/vendor. The pattern names the
// directory, so it compiles even when vendor/ is missing.
//
//go:embed assets
var assetFS embed.FS

// staticPrefix is the URL path the embedded files are served under. Not
// /assets/: that is the API's (stored files).
const staticPrefix = "/static/"

// Vendored files the pages load; fetch-assets.sh copies them from npm.
const (
	vendorHTMX = "vendor/htmx.min.js"
	vendorWS   = "vendor/ws.min.js"
)

// assetURLs are the versioned URLs the layout links to.
type assetURLs struct {
	CSS, App, Icon, HTMX, WS string
	// Blake3 hashes uploads in the browser (app.js uses it).
	Blake3 string
}

// asset is one embedded file with its precomputed headers.
type asset struct {
	data        []byte
	contentType string
	etag        string
	version     string
}

// assetServer serves the embedded files. URLs carry ?v=<content hash>, so a
// request with the current version may be cached forever; anything else is
// revalidated by ETag.
type assetServer struct {
	files map[string]asset
	urls  assetURLs
}

// contentTypes maps the extensions we ship; the mime package's answer
// depends on the host's /etc/mime.types.
var contentTypes = map[string]string{
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".map":  "application/json",
	".woff": "font/woff",
}

func newAssetServer() (*assetServer, error) {
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		return nil, fmt.Errorf("assets: %w", err)
	}
	s := &assetServer{files: make(map[string]asset)}
	err = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			return nil // not served: e.g. a stray .gz or README
		}
		data, err := fs.ReadFile(sub, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		v := hex.EncodeToString(sum[:6])
		s.files[name] = asset{data: data, contentType: ct, etag: `"` + v + `"`, version: v}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("assets: %w", err)
	}
	s.urls = assetURLs{
		CSS:  s.url("app.css"),
		App:  s.url("app.js"),
		Icon: s.url("icon.svg"),
		HTMX: s.url(vendorHTMX),
		WS:   s.url(vendorWS),
		// Blake3 is a plain script beside app.js.
		Blake3: s.url("blake3.js"),
	}
	return s, nil
}

// url returns the versioned URL of an asset. A missing vendor file still
// gets a URL (it will 404), so a build without `make assets` serves pages
// whose only fault is missing interactivity; TestVendorAssetsPresent
// catches that in CI.
func (s *assetServer) url(name string) string {
	u := staticPrefix + name
	if a, ok := s.files[name]; ok {
		u += "?v=" + a.version
	}
	return u
}

func (s *assetServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, staticPrefix)
	a, ok := s.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("ETag", a.etag)
	if r.URL.Query().Get("v") == a.version {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.data))
}
