package server_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// The protocol of a metrics file is reported as the operator wrote it,
// with the file as its source.
func TestMeshFileProtoAsWritten(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"batman-adv", "babel", "none", "file"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := `{"proto":"` + proto + `","neighbors":[],"routes":[],"health":{"interfaces_up":1,"mesh_ok":true}}`
			if err := os.WriteFile(filepath.Join(dir, "mesh.json"), []byte(file), 0o600); err != nil {
				t.Fatal(err)
			}
			tn := servertest.Start(t, servertest.Options{Dir: dir})
			// The poller reads once as the node starts, in the background.
			deadline := time.Now().Add(10 * time.Second)
			for {
				r := call(t, tn, "GET", "/mesh", nil, true)
				var m gen.Mesh
				decodeJSON(t, r, &m)
				if m.Source == gen.File {
					if m.Proto != proto || !m.Health.MeshOk || m.Health.InterfacesUp != 1 {
						t.Fatalf("GET /mesh = %+v, want proto %q from the file", m, proto)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("GET /mesh = %+v; the node never read mesh.json", m)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
