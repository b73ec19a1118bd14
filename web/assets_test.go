package web

import (
	"io/fs"
	"net/http"
	"strings"
	"testing"
)

func TestVendorAssetsPresent(t *testing.T) {
	t.Parallel()
	for _, name := range []string{vendorHTMX, vendorWS} {
		b, err := fs.ReadFile(assetFS, "assets/"+name)
		if err != nil || len(b) == 0 {
			t.Errorf("embedded web/assets/%s is missing: run `make assets` (web/fetch-assets.sh) and rebuild", name)
		}
	}
}

func TestAssets(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	css := e.h.assets.urls.CSS
	if !strings.HasPrefix(css, "/static/app.css?v=") {
		t.Fatalf("CSS URL = %q, want a versioned /static/app.css", css)
	}
	tests := []struct {
		path, wantType, wantCache string
		wantStatus                int
	}{
		{css, "text/css; charset=utf-8", "public, max-age=31536000, immutable", 200},
		{"/static/app.css", "text/css; charset=utf-8", "no-cache", 200},
		{"/static/app.css?v=stale", "text/css; charset=utf-8", "no-cache", 200},
		{e.h.assets.urls.App, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", 200},
		{e.h.assets.urls.Icon, "image/svg+xml", "public, max-age=31536000, immutable", 200},
		{e.h.assets.urls.HTMX, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", 200},
		{e.h.assets.urls.WS, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", 200},
		{"/static/", "", "", 404},
		{"/static/vendor", "", "", 404},
		{"/static/nope.css", "", "", 404},
		{"/static/../web.go", "", "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := e.do(t, "GET", tt.path, nil, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("GET %s = %d, want %d", tt.path, resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus != 200 {
				return
			}
			if got := resp.Header.Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.wantCache {
				t.Errorf("Cache-Control = %q, want %q", got, tt.wantCache)
			}
			if body == "" {
				t.Error("empty body")
			}
			etag := resp.Header.Get("ETag")
			resp, _ = e.do(t, "GET", tt.path, nil, map[string]string{"If-None-Match": etag})
			if resp.StatusCode != http.StatusNotModified {
				t.Errorf("GET with If-None-Match %s = %d, want 304", etag, resp.StatusCode)
			}
		})
	}
}
