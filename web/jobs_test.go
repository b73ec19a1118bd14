package web

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/compute/computetest"
)

// postJob sends the jobs form as htmx does: multipart, with the files
// given (a nil file is left out).
func (e *testEnv) postJob(t *testing.T, cookie string, module, input []byte, fields map[string]string) (*http.Response, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for name, data := range map[string][]byte{"module": module, "input": input} {
		if data == nil {
			continue
		}
		w, err := mw.CreateFormFile(name, name+".bin")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", e.srv.URL+"/ui/jobs", &b)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Cookie", cookie)
	req.Header.Set("HX-Request", "true")
	return e.send(t, req)
}

// A bad job form is answered with 422 and the reason in the form, and no
// job is recorded.
func TestJobFormRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	cookie := e.login(t)
	wc := computetest.Module(t, computetest.WordCount)
	tests := []struct {
		name          string
		module, input []byte
		fields        map[string]string
		want          string
	}{
		{"no module", nil, []byte("x"), map[string]string{"r": "1"}, "Choose or drop a WebAssembly module"},
		{"not wasm", []byte("hello, not a module"), nil, map[string]string{"r": "1"}, "The job was not submitted"},
		{"r zero", wc, nil, map[string]string{"r": "0"}, "r must be a whole number"},
		{"r above hosts", wc, nil, map[string]string{"r": "2"}, "only 1 hosts are known"},
		{"bad price", wc, nil, map[string]string{"r": "1", "max_price": "1.1234567"}, "max price"},
		{"bad timeout", wc, nil, map[string]string{"r": "1", "timeout": "soon"}, "timeout"},
	}
	for _, tt := range tests {
		resp, body := e.postJob(t, cookie, tt.module, tt.input, tt.fields)
		msg, _ := testIDText(body, "job-error")
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(msg, tt.want) {
			t.Errorf("%s: %d %q, want 422 saying %q", tt.name, resp.StatusCode, msg, tt.want)
		}
	}
	if js, err := e.node.Jobs(t.Context(), 10); err != nil || len(js) != 0 {
		t.Fatalf("jobs after refused forms: %d %v, want none", len(js), err)
	}
	for _, path := range []string{"/compute/j-000000000000000000000000", "/ui/jobs/j-000000000000000000000000/output"} {
		if resp, _ := e.do(t, "GET", path, nil, map[string]string{"Cookie": cookie}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, resp.StatusCode)
		}
	}
}

// A job submitted with the form is listed (polling while it runs), its
// detail shows the candidate's score and why and the matching output
// hash, and the download is the module's output.
func TestJobFormRunsJob(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	cookie := e.login(t)
	resp, body := e.postJob(t, cookie, computetest.Module(t, computetest.WordCount), []byte("one two three\nfour\n"),
		map[string]string{"r": "1", "timeout": "30"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /ui/jobs = %d: %s", resp.StatusCode, body)
	}
	rows := byTestID(body, "job-row")
	if len(rows) != 1 || rows[0].Attrs["data-state"] == "" {
		t.Fatalf("job rows after submit = %+v, want the new job", rows)
	}
	id := rows[0].Attrs["data-job-id"]
	if cards := byTestID(body, "jobs-card"); len(cards) != 1 || cards[0].Attrs["hx-swap-oob"] != "true" {
		t.Errorf("jobs card = %+v, want it swapped out of band", cards)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var detail string
	for {
		_, detail = e.do(t, "GET", "/ui/jobs/"+id, nil, map[string]string{"Cookie": cookie, "HX-Request": "true"})
		d := byTestID(detail, "job-detail")
		if len(d) == 1 && (d[0].Attrs["data-state"] == "done" || d[0].Attrs["data-state"] == "failed") {
			if d[0].Attrs["data-state"] != "done" || d[0].Attrs["hx-trigger"] != "" {
				t.Fatalf("job ended %+v, want done and no more polling:\n%s", d[0].Attrs, detail)
			}
			break
		}
		if len(d) == 1 && d[0].Attrs["hx-trigger"] != "every 2s" {
			t.Fatalf("unfinished job detail polls with %q, want every 2s", d[0].Attrs["hx-trigger"])
		}
		select {
		case <-ctx.Done():
			t.Fatalf("job %s not done in time:\n%s", id, detail)
		case <-time.After(50 * time.Millisecond):
		}
	}
	cands := byTestID(detail, "job-candidate")
	if len(cands) != 1 || !strings.Contains(detail, "reliability") {
		t.Errorf("candidates = %+v, want this node with its score and why", cands)
	}
	hash, _ := testIDText(detail, "job-output-hash")
	disp := byTestID(detail, "job-dispatch")
	if hash == "" || len(disp) != 1 || disp[0].Attrs["data-output-hash"] != hash || disp[0].Attrs["data-outcome"] != "majority" {
		t.Errorf("output hash %q, dispatches %+v: want one in the majority with the job's hash", hash, disp)
	}
	resp, out := e.do(t, "GET", "/ui/jobs/"+id+"/output", nil, map[string]string{"Cookie": cookie})
	if resp.StatusCode != http.StatusOK || out != "2 4 19\n" || !strings.Contains(resp.Header.Get("Content-Disposition"), id+".out") {
		t.Errorf("download = %d %q (%s), want 2 4 19", resp.StatusCode, out, resp.Header.Get("Content-Disposition"))
	}
	if _, list := e.do(t, "GET", "/ui/jobs", nil, map[string]string{"Cookie": cookie, "HX-Request": "true"}); len(byTestID(list, "job-download")) != 1 ||
		strings.Contains(list, "hx-trigger") {
		t.Errorf("list after the job = %s, want a download link and no polling", list)
	}
}
