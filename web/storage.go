package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/problem"
	"github.com/offgrid-net/offgrid/storage"
)

// Storage page limits.
const (
	// maxAssetName bounds an uploaded file's name, in characters.
	maxAssetName = 255
	// maxShardParam bounds k, n and r as typed by the user; the node checks
	// the real limits (and k < n) itself.
	maxShardParam = 1024
	// assetsPerPage is how many files one page of the list shows, newest
	// first.
	assetsPerPage = 20
	// maxAssetQuery bounds the list's search text.
	maxAssetQuery = 100
	// maxAssetID bounds the {id} of a download URL before the node sees it.
	maxAssetID = 128
	// assetsThrottle is the least time between two refreshes of the assets
	// card on one live feed connection.
	assetsThrottle = 500 * time.Millisecond
)

// Upload query parameters, shared by the script, the parser and the tests.
const (
	paramName = "name"
	paramMode = "mode"
	paramK    = "k"
	paramN    = "n"
	paramR    = "r"
	// paramShared lets a stripe's shards share hosts when fewer than n are
	// live ("1" from the page's checkbox).
	paramShared = "allow_shared_hosts"
	// paramSize is the file's size in bytes, for the probe before an
	// upload (the upload itself has its Content-Length): the shard size,
	// and so the node's limit on it, follows from it.
	paramSize = "size"
)

// storageView is the data of the storage page.
type storageView struct {
	Assets assetsView
	Feed   feedHistory
}

// assetsView is the data of the assets card.
type assetsView struct {
	// Assets are this page's files.
	Assets []node.Asset
	// Total is the number of assets the node has; Matched those the
	// search finds.
	Total, Matched int
	Query          assetQuery
	// Pages is the number of pages of matches (at least 1).
	Pages int
	Now   time.Time
	Err   string
	// Notice says what the last action on the list did (a delete); Failed
	// marks it as an error.
	Notice string
	Failed bool
	// HostedShards and HostedBytes are the shards this node keeps for the
	// mesh (its own files' included) and the bytes their blobs take on
	// disk; HostedErr is set when they could not be read.
	HostedShards int
	HostedBytes  int64
	HostedErr    bool
}

// assetQuery is the list's search and page: the text a file's name or ID
// contains (case-insensitive), and the page from 1.
type assetQuery struct {
	Q    string
	Page int
}

// assetQueryOf reads ?q= and ?page=; bad or missing values mean no search
// and the first page (a page past the end shows the last).
func assetQueryOf(v url.Values) assetQuery {
	q := assetQuery{Q: strings.TrimSpace(v.Get("q")), Page: 1}
	if len(q.Q) > maxAssetQuery {
		q.Q = q.Q[:maxAssetQuery]
	}
	if p, err := strconv.Atoi(v.Get("page")); err == nil && p > 1 {
		q.Page = p
	}
	return q
}

// values is the query as URL parameters, without defaults.
func (q assetQuery) values() url.Values {
	v := url.Values{}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	return v
}

// withPage is the query on another page.
func (q assetQuery) withPage(p int) assetQuery {
	q.Page = p
	return q
}

// url is path with the query.
func (q assetQuery) url(path string) string {
	if enc := q.values().Encode(); enc != "" {
		return path + "?" + enc
	}
	return path
}

// putResultView is the answer to an upload: the stored asset, or an error.
type putResultView struct {
	Asset node.Asset
	// Took is how long the node needed, for people.
	Took string
	// Err is a user-facing message; when set, Asset is empty.
	Err string
	// File is the name the upload was sent with, for error messages.
	File string
}

// storage serves the storage page: the upload card, the storage activity
// feed and the asset list.
func (h *Handler) storage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
	defer cancel()
	q := assetQueryOf(r.URL.Query())
	feed := h.feedHistoryFor(viewStorage)
	feed.Query = q.values()
	v := storageView{Assets: h.assetsView(ctx, q), Feed: feed}
	v.Assets.Notice = h.deletedNotice(ctx, r.URL.Query())
	h.renderPage(w, r, http.StatusOK, "Storage", navStorage, storageBody(v))
}

// assetList serves the assets card.
func (h *Handler) assetList(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
	defer cancel()
	h.renderPart(w, r, http.StatusOK, "Stored files", assetsCard(h.assetsView(ctx, assetQueryOf(r.URL.Query())), false))
}

// assetsView reads the files and keeps the page of those q finds.
func (h *Handler) assetsView(ctx context.Context, q assetQuery) assetsView {
	as, err := h.node.Assets(ctx)
	if err != nil {
		h.log.Warn("Read assets for dashboard", "err", err)
		return assetsView{Err: "The list of stored files could not be read.", Query: q, Pages: 1, Now: h.now()}
	}
	v := assetsView{Total: len(as), Query: q, Now: h.now()}
	found := as
	if q.Q != "" {
		needle := strings.ToLower(q.Q)
		found = nil
		for _, a := range as {
			if strings.Contains(strings.ToLower(a.Name), needle) || strings.Contains(a.ID, needle) {
				found = append(found, a)
			}
		}
	}
	v.HostedShards, v.HostedBytes, err = h.node.HostedShards(ctx)
	if err != nil {
		h.log.Warn("Read hosted shards for dashboard", "err", err)
		v.HostedErr = true
	}
	v.Matched = len(found)
	v.Pages = max(1, (len(found)+assetsPerPage-1)/assetsPerPage)
	v.Query.Page = min(q.Page, v.Pages)
	first := (v.Query.Page - 1) * assetsPerPage
	v.Assets = found[first:min(first+assetsPerPage, len(found))]
	return v
}

// deleteAsset deletes a stored file (a Delete button, after the browser's
// confirmation). From the list it answers with the list, saying what
// happened. From the file's page (?from=file) a success sends the browser
// to the storage page, which says what the delete did, and a failure is an
// alert on the file's page. Failures have status 200 so that htmx swaps
// them in.
func (h *Handler) deleteAsset(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	rep, notice, failed := h.deleteOne(r.Context(), id)
	if r.URL.Query().Get("from") == "file" {
		if failed {
			h.render(w, r, http.StatusOK, fileDeleteError(notice))
			return
		}
		w.Header().Set("HX-Redirect", deletedURL(id, rep))
		w.WriteHeader(http.StatusOK)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
	defer cancel()
	v := h.assetsView(ctx, assetQueryOf(r.URL.Query()))
	v.Notice, v.Failed = notice, failed
	h.renderPart(w, r, http.StatusOK, "Stored files", assetsCard(v, false))
}

// deleteOne deletes a stored file and says what happened, for the list
// and the file's page alike.
func (h *Handler) deleteOne(ctx context.Context, id string) (rep node.DeleteReport, notice string, failed bool) {
	if !validAssetID(id) {
		return rep, "There is no stored file with that ID.", true
	}
	rep, err := h.node.DeleteAsset(ctx, id)
	if err != nil {
		c := problem.Classify(err)
		notice = userMessage(c)
		if c.Status == http.StatusNotFound {
			notice = "There is no stored file with that ID; it may have been deleted already."
		}
		if c.Public {
			h.log.Info("Delete from dashboard refused", "id", id, "status", c.Status, "err", err)
		} else {
			h.log.Error("Delete file from dashboard", "id", id, "err", err)
		}
		return rep, notice, true
	}
	h.log.Info("File deleted from dashboard", "id", id, "dropped", rep.Dropped, "pending", rep.Pending)
	return rep, deletedText(id, rep), false
}

// deletedURL is the storage page after a delete from a file's page: the
// query carries what the delete did, for deletedNotice.
func deletedURL(id string, rep node.DeleteReport) string {
	q := url.Values{}
	q.Set("deleted", id)
	q.Set("dropped", strconv.Itoa(rep.Dropped))
	q.Set("pending", strconv.Itoa(rep.Pending))
	return "/storage?" + q.Encode()
}

// deletedNotice is the storage page's notice after a delete from a file's
// page, from deletedURL's query. A link anyone can type carries it, so it
// is shown only for a well-formed ID this node has no file under, with
// counts that are numbers.
func (h *Handler) deletedNotice(ctx context.Context, q url.Values) string {
	id := q.Get("deleted")
	if id == "" || !validAssetID(id) {
		return ""
	}
	dropped, err1 := strconv.Atoi(q.Get("dropped"))
	pending, err2 := strconv.Atoi(q.Get("pending"))
	if err1 != nil || err2 != nil || dropped < 0 || pending < 0 {
		return ""
	}
	if _, _, err := h.node.AssetDetail(ctx, id); !errors.Is(err, node.ErrNotFound) {
		return ""
	}
	return deletedText(id, node.DeleteReport{Dropped: dropped, Pending: pending})
}

// maxImportForm bounds an import request: one manifest and the multipart
// framing around it.
const maxImportForm = storage.MaxShareJSON + 64<<10

// importAsset imports a share manifest sent from the import card. The
// answer is a fragment for the card (status 200, so htmx shows it); a
// success also asks the assets card to refresh (put-done).
func (h *Handler) importAsset(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxImportForm)
	manifest, msg := readManifest(r)
	var a node.Asset
	if msg == "" {
		var err error
		if a, err = h.node.ImportAsset(r.Context(), manifest); err != nil {
			c := problem.Classify(err)
			msg = userMessage(c)
			if c.Public {
				h.log.Info("Import from dashboard refused", "status", c.Status, "err", err)
			} else {
				h.log.Error("Import shared file from dashboard", "err", err)
			}
		}
	}
	if msg == "" {
		h.log.Info("Shared file imported from dashboard", "id", a.ID, "name", a.Name)
		w.Header().Set("HX-Trigger", "put-done")
	}
	h.render(w, r, http.StatusOK, importResult(a, msg))
}

// readManifest returns the manifest file of an import form, or a message
// saying what is wrong with the request.
func readManifest(r *http.Request) ([]byte, string) {
	if err := r.ParseMultipartForm(maxImportForm); err != nil {
		return nil, "Send the manifest as a file of a multipart form (at most 1 MiB)."
	}
	defer r.MultipartForm.RemoveAll()
	f, _, err := r.FormFile("manifest")
	if err != nil {
		return nil, "Choose a share manifest file."
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, storage.MaxShareJSON+1))
	if err != nil || len(b) > storage.MaxShareJSON {
		return nil, "That file is not a share manifest: it is larger than 1 MiB."
	}
	return b, ""
}

// deletedText says what a delete did.
func deletedText(id string, rep node.DeleteReport) string {
	t := fmt.Sprintf("Deleted %s: its hosts dropped %d %s", short(id, 10), rep.Dropped, plural(rep.Dropped, "shard", "shards"))
	if rep.Pending > 0 {
		t += fmt.Sprintf("; %d more on hosts that did not answer will be asked again", rep.Pending)
	}
	return t + "."
}

// deleteConfirm is the question the browser asks before a delete.
func deleteConfirm(a node.Asset) string {
	return fmt.Sprintf("Delete %s (%s)? Every host drops its shards; this cannot be undone.", orDash(a.Name), short(a.ID, 10))
}

// putAsset stores the request body as a file across the mesh. The body is
// the raw file (the page sends it with XMLHttpRequest), streamed straight
// into the node: nothing here holds more than a read buffer of it. The
// answer is always a fragment for the page's script to show: the result,
// or the reason it failed.
func (h *Handler) putAsset(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !isOctetStream(ct) {
		// Also keeps out cross-site "simple" form posts, which cannot set
		// this type without a preflight.
		h.putFailed(w, r, http.StatusUnsupportedMediaType, "Send the file's bytes as the body, with Content-Type: application/octet-stream.")
		return
	}
	opts, msg := parsePutOptions(r.URL.Query())
	if msg != "" {
		h.putFailed(w, r, http.StatusBadRequest, msg)
		return
	}
	opts.Size = r.ContentLength // -1 when unknown (chunked)
	// app.js hashes the file first, so an upload resumes and a file
	// stored already is not stored twice; the node checks the hash.
	opts.ContentHash = r.Header.Get("Offgrid-Content-Hash")
	start := time.Now()
	a, err := h.node.PutAsset(r.Context(), r.Body, opts)
	if err != nil {
		if r.Context().Err() != nil || errors.Is(err, io.ErrUnexpectedEOF) {
			// The browser went away (or cancelled) mid-upload; it will not
			// read this answer.
			h.log.Info("Upload from dashboard interrupted", "name", opts.Name, "err", err)
			h.putFailed(w, r, http.StatusBadRequest, "The upload was interrupted before the whole file arrived.")
			return
		}
		c := problem.Classify(err)
		if c.Public {
			h.log.Info("Store file from dashboard refused", "name", opts.Name, "size", opts.Size, "status", c.Status, "err", err)
		} else {
			h.log.Error("Store file from dashboard", "name", opts.Name, "size", opts.Size, "err", err)
		}
		h.putFailed(w, r, c.Status, userMessage(c))
		return
	}
	took := time.Since(start)
	if a.AlreadyStored {
		h.log.Info("File from dashboard stored already", "id", a.ID, "name", opts.Name)
		h.render(w, r, http.StatusOK, putResult(putResultView{Asset: a, Took: coarseShort(took)}))
		return
	}
	h.log.Info("File stored from dashboard", "id", a.ID, "name", a.Name, "size", a.Size, "mode", a.Mode,
		"k", a.K, "n", a.N, "state", string(a.State), "took", took.Round(time.Millisecond).String())
	h.render(w, r, http.StatusCreated, putResult(putResultView{Asset: a, Took: coarseShort(took)}))
}

// storedAsset answers what an upload with these parameters, the
// Offgrid-Content-Hash header and the file's size (paramSize) would get:
// 200 with putAsset's "already stored" result, 204 when it would upload,
// or the error fragment it would refuse the upload with (too few live
// hosts, say). app.js asks before it sends a file, so neither a stored
// file nor a refused one is sent at all.
// (putAsset answers such an upload before its body arrives, and the
// connection then closes under a browser still sending, which it may
// report as a failed upload.)
func (h *Handler) storedAsset(w http.ResponseWriter, r *http.Request) {
	opts, msg := parsePutOptions(r.URL.Query())
	if msg != "" {
		h.putFailed(w, r, http.StatusBadRequest, msg)
		return
	}
	opts.ContentHash = r.Header.Get("Offgrid-Content-Hash")
	opts.Size = -1
	if v := r.URL.Query().Get(paramSize); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			h.putFailed(w, r, http.StatusBadRequest, "size must be the file's size in bytes.")
			return
		}
		opts.Size = n
	}
	a, err := h.node.StoredAsset(r.Context(), opts)
	switch {
	case errors.Is(err, node.ErrNotFound):
		w.WriteHeader(http.StatusNoContent)
	case err != nil:
		c := problem.Classify(err)
		h.putFailed(w, r, c.Status, userMessage(c))
	default:
		h.render(w, r, http.StatusOK, putResult(putResultView{Asset: a}))
	}
}

// putFailed answers an upload with an error fragment. If the body was not
// read to the end, net/http closes the connection after this answer.
func (h *Handler) putFailed(w http.ResponseWriter, r *http.Request, status int, msg string) {
	file := strings.ToValidUTF8(r.URL.Query().Get(paramName), "\uFFFD")
	h.render(w, r, status, putResult(putResultView{Err: msg, File: short(file, 80)}))
}

// isOctetStream reports whether a Content-Type header names raw bytes.
func isOctetStream(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/octet-stream"
}

// parsePutOptions reads the upload's query parameters. It returns a
// user-facing message for the first bad one.
func parsePutOptions(q url.Values) (node.PutOptions, string) {
	var opts node.PutOptions
	name := q.Get(paramName)
	switch {
	case strings.TrimSpace(name) == "":
		return opts, "The file needs a name."
	case !utf8.ValidString(name):
		return opts, "The file name is not valid UTF-8."
	case utf8.RuneCountInString(name) > maxAssetName:
		return opts, fmt.Sprintf("The file name is longer than %d characters.", maxAssetName)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return opts, "The file name must not contain control characters such as line breaks."
	}
	opts.Name = name
	switch m := q.Get(paramMode); m {
	case "", "ec":
		opts.Mode = "ec"
	case "rep":
		opts.Mode = "rep"
	default:
		return opts, `Mode must be "ec" (erasure coded) or "rep" (replicated).`
	}
	num := func(key string) (int, string) {
		s := strings.TrimSpace(q.Get(key))
		if s == "" {
			return 0, ""
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > maxShardParam {
			return 0, fmt.Sprintf("%s must be a whole number from 1 to %d, or empty for the default.", key, maxShardParam)
		}
		return v, ""
	}
	var msg string
	if opts.K, msg = num(paramK); msg != "" {
		return opts, msg
	}
	if opts.N, msg = num(paramN); msg != "" {
		return opts, msg
	}
	if opts.R, msg = num(paramR); msg != "" {
		return opts, msg
	}
	switch q.Get(paramShared) {
	case "", "0", "false":
	case "1", "true", "on":
		opts.AllowSharedHosts = true
	default:
		return opts, "allow_shared_hosts must be 1 or 0."
	}
	if opts.Mode == "ec" && opts.R != 0 {
		return opts, "r (replicas) applies to rep mode only; for ec set k and n."
	}
	if opts.Mode == "rep" && (opts.K != 0 || opts.N != 0) {
		return opts, "k and n apply to ec mode only; for rep set r."
	}
	return opts, ""
}

// userMessage is what the page says about a failed node call: the node's
// reason for a refusal (e.g. "stripe 0 has 11 of the 12 shards it needs."),
// not capitalised as it may start with a name like k; a generic sentence
// for an internal error, whose text stays in the log.
func userMessage(c problem.Class) string {
	if !c.Public {
		return "The node could not do that; its log has the details."
	}
	return sentence(c.Reason)
}

// sentence ends s with a period.
func sentence(s string) string {
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// downloadAsset streams a stored file back as an attachment. OpenAsset
// fetches the first stripe before any byte is written, so an asset that
// can't be read gets a proper error page. A failure after that aborts the
// response, so the browser reports a failed download instead of saving a
// truncated file.
func (h *Handler) downloadAsset(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if !validAssetID(id) {
		h.downloadFailed(w, r, http.StatusNotFound, "There is no stored file with that ID.")
		return
	}
	rc, a, err := h.node.OpenAsset(r.Context(), id)
	if err != nil {
		c := problem.Classify(err)
		msg := userMessage(c)
		if c.Status == http.StatusNotFound {
			msg = "There is no stored file with that ID."
		}
		if c.Public {
			h.log.Info("Download refused", "id", id, "status", c.Status, "err", err)
		} else {
			h.log.Error("Open stored file for download", "id", id, "err", err)
		}
		h.downloadFailed(w, r, c.Status, msg)
		return
	}
	defer rc.Close()
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Disposition", contentDisposition(a.Name, a.ID))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	if a.Size >= 0 {
		hd.Set("Content-Length", strconv.FormatInt(a.Size, 10))
	}
	w.WriteHeader(http.StatusOK)
	n, err := io.Copy(w, rc)
	if err == nil && a.Size >= 0 && n != a.Size {
		err = fmt.Errorf("stream ended after %d of %d bytes", n, a.Size)
	}
	if err != nil {
		if r.Context().Err() != nil {
			h.log.Info("Download cancelled by the client", "id", a.ID, "sent", n, "size", a.Size)
		} else {
			h.log.Error("Download failed mid-way; aborting the response", "id", a.ID, "sent", n, "size", a.Size, "err", err)
		}
		// Abort the connection: with Content-Length unmet the client sees
		// a failed download, not a complete-looking short file.
		panic(http.ErrAbortHandler)
	}
}

// downloadFailed shows a full page saying why a download did not start
// (the browser navigated to the download link).
func (h *Handler) downloadFailed(w http.ResponseWriter, r *http.Request, status int, msg string) {
	p := h.pageMeta("Download failed", true)
	p.Nav = navStorage
	h.render(w, r, status, layout(p, downloadError(status, msg)))
}

// validAssetID accepts the characters asset IDs are made of, and not dots
// alone ("." and ".." are never asset IDs).
func validAssetID(id string) bool {
	if id == "" || len(id) > maxAssetID || strings.Trim(id, ".") == "" {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

// contentDisposition returns an attachment header value (RFC 6266) for a
// file called name: an ASCII fallback in filename, and the exact UTF-8
// name in filename* (RFC 8187). Control characters, quotes, backslashes
// and path separators never reach either. An empty name falls back to the
// asset ID.
func contentDisposition(name, id string) string {
	name = strings.ToValidUTF8(name, "_")
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), r == '/', r == '\\':
			return '_'
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == ".." {
		name = "offgrid-" + id
	}
	var ascii, ext strings.Builder
	for _, r := range name {
		if r < 0x20 || r > 0x7e || r == '"' || r == '%' {
			ascii.WriteByte('_')
		} else {
			ascii.WriteRune(r)
		}
	}
	for _, b := range []byte(name) {
		if isAttrChar(b) {
			ext.WriteByte(b)
		} else {
			fmt.Fprintf(&ext, "%%%02X", b)
		}
	}
	return `attachment; filename="` + ascii.String() + `"; filename*=UTF-8''` + ext.String()
}

// isAttrChar reports whether b may appear unencoded in an RFC 8187
// ext-value.
func isAttrChar(b byte) bool {
	switch {
	case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", b) >= 0
}

// assetModeLabel shows how an asset is stored, e.g. "ec 12/20".
func assetModeLabel(a node.Asset) string {
	return fmt.Sprintf("%s %d/%d", orDash(a.Mode), a.K, a.N)
}

// assetModeTitle explains the mode label.
func assetModeTitle(a node.Asset) string {
	var s string
	if a.Mode == "rep" {
		s = fmt.Sprintf("%d replicas: any one restores the file", a.N)
	} else {
		s = fmt.Sprintf("erasure coded: any %d of the %d shards of a stripe restore it", a.K, a.N)
	}
	if a.Adaptive {
		s += "; chosen from the live hosts"
	}
	return s
}

// assetShards shows the fewest live shards of any stripe against n, and
// the failed audits of the file's hosts, if any.
func assetShards(a node.Asset) string {
	s := fmt.Sprintf("%d/%d", a.MinLive(), a.N)
	if a.AuditsFailed > 0 {
		s += fmt.Sprintf(", %d audits failed", a.AuditsFailed)
	}
	return s
}

// survivesText says how many host losses a file survives, e.g. "survives
// 8 host losses".
func survivesText(a node.Asset) string {
	return fmt.Sprintf("survives %d %s", a.Survives, plural(a.Survives, "host loss", "host losses"))
}

// survivesTitle explains the survives figure.
func survivesTitle(a node.Asset) string {
	if a.Survives == 0 {
		return "Counted from where the shards are: losing one host (the wrong one) could leave a stripe short of the shards it needs"
	}
	return fmt.Sprintf("Counted from where the shards are: every stripe keeps the %d shards it needs whichever %d %s lost",
		a.K, a.Survives, plural(a.Survives, "host is", "hosts are"))
}

// assetText is the live feed's line for an asset's new state.
func assetText(a node.Asset) string {
	name := a.Name
	if name == "" {
		name = "File " + short(a.ID, 12)
	}
	live := a.MinLive()
	switch a.State {
	case node.AssetStored:
		if live >= a.N {
			return fmt.Sprintf("%s stored: %d/%d shards on every stripe; %s.", name, live, a.N, survivesText(a))
		}
		return fmt.Sprintf("%s stored: at least %d/%d shards on every stripe; %s.", name, live, a.N, survivesText(a))
	case node.AssetPending:
		if live == 0 {
			return fmt.Sprintf("%s uploading: %d of %d stripes written so far.", name, writtenStripes(a), max(a.Stripes, len(a.StripeShards)))
		}
		return fmt.Sprintf("%s uploading: at least %d/%d shards on every stripe so far.", name, live, a.N)
	case node.AssetDegraded:
		return fmt.Sprintf("%s degraded: a stripe is down to %d/%d shards; %s; repair rebuilds it unless its hosts come back first.", name, live, a.N, survivesText(a))
	case node.AssetLost:
		return fmt.Sprintf("%s lost: a stripe has only %d/%d shards, fewer than the %d it needs.", name, live, a.N, a.K)
	default:
		return fmt.Sprintf("%s is %s: at least %d/%d shards on every stripe.", name, orDash(string(a.State)), live, a.N)
	}
}

// writtenStripes counts the stripes with at least k live shards.
func writtenStripes(a node.Asset) int {
	n := 0
	for _, s := range a.StripeShards {
		if s >= a.K && s > 0 {
			n++
		}
	}
	return n
}

// corruptText is the live feed's line for a corrupt shard.
func corruptText(e node.ShardCorrupt) string {
	host := e.Host
	if strings.HasPrefix(host, "did:key:") {
		host = shortNodeID(identity.NodeID(host))
	}
	return fmt.Sprintf("Corrupt shard %d of stripe %d (file %s) from host %s ignored; another host's copy is used.",
		e.Index, e.Stripe, short(e.AssetID, 12), orDash(host))
}

// plural picks the word for n things.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// downloadURL is the download link of an asset.
func downloadURL(id string) string {
	return "/ui/assets/" + url.PathEscape(id) + "/download"
}

// coarseShort formats a short duration for people ("850 ms", "4.2 s",
// "3m 5s").
func coarseShort(d time.Duration) string {
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	default:
		return coarse(d)
	}
}
