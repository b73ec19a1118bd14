// Package web serves the node operator's dashboard: server-rendered templ
// pages and htmx fragments, a websocket live feed of node events, and the
// embedded static assets (app.css plus the vendored htmx and htmx-ext-ws
// builds copied into assets/vendor by fetch-assets.sh).
//
// Routes (mounted by server at "/", next to the API):
//
//	GET  /              dashboard (needs a session; redirects to /login):
//	                    overview (?range=1h|24h|7d), status, prices,
//	                    live feed, receipts, peers
//	GET  /storage       storage page: upload, stored files (?q= search by
//	                    name or ID, ?page=N, 20 a page), storage activity
//	GET  /storage/{id}  a stored file's page: hosts and their shards, each
//	                    stripe's shards live or dead (?page=N, 32 stripes
//	                    a page), audits, download, share, delete
//	GET  /network/peers peers page: the peer table ("N up of M"; via,
//	                    one state, last seen) and peer activity
//	GET  /network/peers/{id}
//	                    a peer's page (id: its node ID, or its endpoint
//	                    before first contact): identity, state, mesh
//	                    metrics, shards each side holds for the other
//	GET  /network/mesh  mesh page: routing health, neighbours and routes,
//	                    mesh activity
//	GET  /ledger        ledger page: blocks (author, height, parents,
//	                    receipts) and, for ?block=NAME (default the
//	                    newest), its receipts, each with a Check button
//	                    that verifies its RFC 6962 inclusion proof in the
//	                    browser (SubtleCrypto SHA-256, app.js)
//	GET  /compute       jobs page (/jobs is the API's): the submit form
//	                    (module and input by drag-and-drop or chooser, r,
//	                    max price, timeout) and the newest 50 jobs
//	GET  /compute/{id}  a job's page: candidates' scores and why,
//	                    dispatches and outcomes, output hash, download
//	GET  /login         login form
//	POST /login         check the admin token, start a session
//	POST /logout        end the session
//	POST /ui/toggle     switch the node on or off; returns the status card
//	POST /ui/prices     change prices and on-call settings; returns the form
//	GET  /ui/receipts   recent receipts card
//	GET  /ui/peers      peers card
//	GET  /ui/ws         websocket live feed (htmx ws extension);
//	                    ?view=storage, ?view=peers or ?view=mesh for
//	                    those pages' feeds; ?after=SEQ first replays the
//	                    kept events after SEQ; the storage page's q and
//	                    page keep its list's refreshes on its slice
//	GET  /ui/assets     stored files card
//	POST /ui/assets     store the raw body as a file (?name=&mode=ec|rep
//	                    &k=&n=&r=, Content-Type application/octet-stream);
//	                    returns a result or error fragment
//	GET  /ui/assets/stored
//	                    the same query (and &size=, the file's bytes) and
//	                    Offgrid-Content-Hash: 200 with POST's "already
//	                    stored" result, the error fragment POST would
//	                    refuse it with, or 204 when the file would be
//	                    uploaded (app.js asks first)
//	GET  /ui/assets/{id}/download
//	                    the file's plaintext as an attachment
//	DELETE /ui/assets/{id}
//	                    delete a file; returns the stored files card, or
//	                    with ?from=file (its page) HX-Redirect to
//	                    /storage?deleted=ID&dropped=N&pending=M, whose
//	                    notice is shown only for a well-formed ID the node
//	                    has no file under (anyone can type the link)
//	POST /ui/assets/{id}/share
//	                    form to=NODE_ID (a peer): the signed share manifest
//	                    as the attachment NAME.share.json; the peer's
//	                    X25519 key comes from its GET /pubkeys (at most
//	                    64 KiB read, node ID checked); a refusal shows the
//	                    file page with the reason
//	GET  /ui/jobs       the jobs list card; it carries hx-trigger
//	                    "every 2s" only while a listed job is unfinished,
//	                    so polling stops by itself
//	POST /ui/jobs       multipart form (module, input, r, max_price,
//	                    timeout; at most 2×16 MiB + 16 KiB read); 422
//	                    with the reason in the form, nothing recorded, or
//	                    the form and the list (out of band)
//	GET  /ui/jobs/{id}  a job's detail card (polls like the list)
//	GET  /ui/jobs/{id}/output
//	                    a done job's verified output as ID.out
//	GET  /ui/network/peers
//	                    the peers page's table card
//	GET  /ui/network/mesh
//	                    the mesh card
//	GET  /static/...    embedded static files (not /assets/: the API's)
//
// Every route under /ui and / needs a session created by logging in with
// the node's admin token. Sessions live in memory only, so a restart logs
// everyone out.
//
// Logins back off per client address (loginlimit.go): the address is the
// connection's IP (an IPv6 address by its /64), never a proxy header such
// as X-Forwarded-For, which any client can forge. After 5 wrong tokens in
// a row an address waits 1 s, and each further wrong token doubles the
// wait up to 15 minutes. While it waits, POST /login answers 429 with
// Retry-After and the form saying why, without reading the token, so even
// the right token waits: the answer must not tell a guesser whether a
// guess was right. A login forgets the address's count, and so does a day
// without failures. The table holds at most MaxLoginAddresses (4096)
// addresses; when it is full the address whose last failure is the oldest
// goes. The token itself is compared in constant time by the node. Wrong
// tokens are counted in offgrid_dashboard_login_failures_total, logged and
// shown on the live feed (a "login" event); attempts refused unread are
// counted in offgrid_dashboard_login_throttled_total and logged at debug
// level only, so a script hammering the form cannot flood the feed or the
// log. A request made by htmx (HX-Request: true) gets only the
// fragment it asked for; any other request gets a full page.
//
// A page's feed card is rendered with the node's kept events (the bus's
// last 100, node.EventHistorySize) of the page's kinds, and its websocket
// URL names the newest event's sequence number: the socket subscribes and
// reads the kept events after it under one lock, sends those, then
// "live", so nothing between the page load and the socket is lost or
// shown twice. A reconnecting socket replays events the page may already
// show; app.js drops entries whose id (feed-SEQ) is already on the page.
//
// One state per peer (peerStatusOf): up and taking work, up but switched
// off, down, or not heard yet. A peer that is down shows "down" whatever
// it last said about taking work, so the page never reads "down" and
// "active" together.
//
// The overview's charts are inline SVG drawn by templ from the node's
// recorded history (node.History): at most 120 points a chart (samples
// folded into buckets: traffic summed, levels at their highest), lines
// broken where the node recorded nothing for over 5 minutes. The style-src
// CSP forbids style attributes, so sizes are SVG attributes, not CSS.
//
// The live feed writes one HTML fragment per node event. Each fragment's
// top-level elements carry hx-swap-oob, so the browser's ws extension
// prepends an entry to the feed list and refreshes the parts of the page the
// event changed (status card, receipts table; on the storage page, the
// stored files card; on the peers page, the peer table; on the mesh page,
// the mesh card; those three at most twice a second).
package web
