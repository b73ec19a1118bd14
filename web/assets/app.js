// Offgrid-Net dashboard: marks the live feed badge when the socket drops.
// The server sets it back to "live" (an out-of-band swap) once it has
// subscribed again, so "live" always means no event is being missed.
(function () {
  'use strict';
  function mark(state, label) {
    var badge = document.getElementById('feed-status');
    if (badge) {
      badge.setAttribute('data-state', state);
      badge.textContent = label;
    }
  }
  // A reconnecting socket replays the events after the ones the page was
  // rendered with, some of which it already added: each entry is added
  // once (entries are named by the event's sequence number).
  document.addEventListener('htmx:oobBeforeSwap', function (e) {
    var d = e.detail;
    if (!d || !d.target || d.target.id !== 'feed-list' || !d.fragment) return;
    var items = d.fragment.querySelectorAll('li[id]');
    for (var i = 0; i < items.length; i++) {
      if (document.getElementById(items[i].id)) items[i].remove();
    }
  });
  document.addEventListener('htmx:wsClose', function () { mark('offline', 'reconnecting'); });
  document.addEventListener('htmx:wsError', function () { mark('offline', 'reconnecting'); });
})();

// Storage page: drop a file (or choose one) and it is hashed with BLAKE3
// (blake3.js) and sent as the raw request body with XMLHttpRequest, which
// streams it from disk and reports upload progress, with the hash in
// Offgrid-Content-Hash: as with the CLI, an interrupted upload resumes and
// a file stored already is not stored again. The answer is an HTML
// fragment, shown above the list.
(function () {
  'use strict';
  var MB = 1000 * 1000;

  function init() {
    var zone = document.getElementById('dropzone');
    var input = document.getElementById('file-input');
    var mode = document.getElementById('put-mode');
    if (!zone || !input || !mode) return;
    var box = document.getElementById('put-progress');
    var bar = document.getElementById('put-bar');
    var text = document.getElementById('put-progress-text');
    var nameEl = document.getElementById('put-name');
    var cancel = document.getElementById('put-cancel');
    var results = document.getElementById('put-results');
    var queue = [];
    var current = null;

    // Only the inputs of the chosen mode are shown (k, n for ec; r for rep).
    function showModeFields() {
      var fields = document.querySelectorAll('#put-form [data-mode]');
      for (var i = 0; i < fields.length; i++) {
        fields[i].hidden = fields[i].getAttribute('data-mode') !== mode.value;
      }
    }
    mode.addEventListener('change', showModeFields);
    showModeFields();

    // Drag highlighting. dragenter/dragleave fire for every child, so count.
    var depth = 0;
    function hasFiles(e) {
      var types = e.dataTransfer && e.dataTransfer.types;
      return !!types && Array.prototype.indexOf.call(types, 'Files') >= 0;
    }
    zone.addEventListener('dragenter', function (e) {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth++;
      zone.classList.add('dragover');
    });
    zone.addEventListener('dragover', function (e) {
      if (!hasFiles(e)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
      zone.classList.add('dragover');
    });
    zone.addEventListener('dragleave', function () {
      depth = Math.max(0, depth - 1);
      if (depth === 0) zone.classList.remove('dragover');
    });
    zone.addEventListener('drop', function (e) {
      e.preventDefault();
      depth = 0;
      zone.classList.remove('dragover');
      if (e.dataTransfer) add(e.dataTransfer.files);
    });
    // A file dropped next to the zone must not replace the page.
    ['dragover', 'drop'].forEach(function (type) {
      document.addEventListener(type, function (e) {
        if (hasFiles(e) && !zone.contains(e.target)) e.preventDefault();
      });
    });
    input.addEventListener('change', function () {
      add(input.files);
      input.value = '';
    });
    cancel.addEventListener('click', function () {
      if (current) current.abort();
    });

    function add(files) {
      if (!files) return;
      for (var i = 0; i < files.length; i++) queue.push(files[i]);
      next();
    }

    // params returns the upload's query, or throws a message for bad input.
    function params(file) {
      var q = new URLSearchParams();
      q.set('name', file.name);
      q.set('mode', mode.value);
      var keys = mode.value === 'rep' ? ['r'] : ['k', 'n'];
      keys.forEach(function (k) {
        var el = document.getElementById('put-' + k);
        var v = el ? el.value.trim() : '';
        if (v === '') return;
        if (!/^[0-9]+$/.test(v) || Number(v) < 1) throw k + ' must be a whole number, or empty for the default.';
        q.set(k, v);
      });
      var shared = document.getElementById('put-shared');
      if (shared && shared.checked) q.set('allow_shared_hosts', '1');
      return q;
    }

    function fmtMB(n) {
      return (n / MB).toFixed(n < 10 * MB ? 1 : 0) + ' MB';
    }

    var lastText = '';
    function progress(loaded, total, t0) {
      var pct = total > 0 ? Math.min(100, Math.floor(loaded * 100 / total)) : 100;
      var secs = (performance.now() - t0) / 1000;
      var rate = secs > 0.05 ? (loaded / MB / secs).toFixed(1) + ' MB/s' : '';
      bar.value = pct;
      box.setAttribute('data-percent', String(pct));
      lastText = pct + ' % · ' + fmtMB(loaded) + ' of ' + fmtMB(total) + (rate ? ' · ' + rate : '');
      text.textContent = lastText;
    }

    function show(html) {
      var holder = document.createElement('div');
      holder.innerHTML = html;
      while (holder.lastChild) results.insertBefore(holder.lastChild, results.firstChild);
      while (results.children.length > 5) results.removeChild(results.lastChild);
      if (window.htmx) window.htmx.process(results);
    }

    function showError(name, msg) {
      var div = document.createElement('div');
      div.className = 'alert error put-result';
      div.setAttribute('role', 'alert');
      div.setAttribute('data-testid', 'put-error');
      var strong = document.createElement('strong');
      strong.className = 'break';
      strong.textContent = name;
      div.appendChild(strong);
      div.appendChild(document.createTextNode(': ' + msg));
      results.insertBefore(div, results.firstChild);
    }

    // HASH_SLICE bounds the memory hashing takes: the file is read in
    // slices of this many bytes.
    var HASH_SLICE = 4 * 1024 * 1024;

    // hashFile feeds the file to BLAKE3 slice by slice and calls done with
    // the hex digest, or with '' when this browser cannot read it so (the
    // upload then goes without a hash, as before). The returned object's
    // abort stops it.
    function hashFile(file, t0, done) {
      var job = { aborted: false, abort: function () { job.aborted = true; } };
      if (!window.OffgridBlake3 || !file.slice || !window.Blob || !Blob.prototype.arrayBuffer) {
        done('');
        return job;
      }
      var h = window.OffgridBlake3.create();
      var off = 0;
      function step() {
        if (job.aborted) return;
        if (off >= file.size) {
          done(h.hex());
          return;
        }
        var end = Math.min(file.size, off + HASH_SLICE);
        file.slice(off, end).arrayBuffer().then(function (buf) {
          if (job.aborted) return;
          h.update(new Uint8Array(buf));
          off = end;
          progress(off, file.size, t0);
          text.textContent = 'hashing · ' + lastText;
          step();
        }, function () {
          if (!job.aborted) done('');
        });
      }
      step();
      return job;
    }

    function next() {
      if (current || queue.length === 0) return;
      var file = queue.shift();
      var q;
      try {
        q = params(file);
      } catch (msg) {
        showError(file.name, String(msg));
        queue.length = 0;
        return;
      }
      nameEl.textContent = file.name;
      box.hidden = false;
      box.setAttribute('data-state', 'hashing');
      cancel.hidden = false;
      progress(0, file.size, performance.now());
      // The content hash first: with it the node resumes an interrupted
      // upload, and a file it stores already is not sent at all.
      var job = hashFile(file, performance.now(), function (hash) {
        if (hash) {
          ask(file, q, hash);
        } else {
          send(file, q, hash);
        }
      });
      current = {
        abort: function () {
          job.abort();
          showError(file.name, 'upload cancelled.');
          done('cancelled');
        }
      };
    }

    // ask asks the node whether it stores this content with these
    // parameters already: 200 is its "already stored" answer and an error
    // fragment (4xx, or 5xx such as "no live hosts") says what the upload
    // would be refused with (neither needs the file sent); on 204 or
    // anything else the file is sent, and that answer says the rest.
    function ask(file, q, hash) {
      var xhr = new XMLHttpRequest();
      current = xhr;
      box.setAttribute('data-state', 'asking');
      var pq = new URLSearchParams(q);
      pq.set('size', String(file.size));
      xhr.open('GET', '/ui/assets/stored?' + pq.toString());
      xhr.setRequestHeader('Offgrid-Content-Hash', hash);
      xhr.onload = function () {
        if (xhr.status === 401) {
          window.location.assign('/login');
          return;
        }
        var ct = xhr.getResponseHeader('Content-Type') || '';
        if ((xhr.status === 200 || xhr.status >= 400) && ct.indexOf('text/html') === 0) {
          show(xhr.responseText);
          done(xhr.status === 200 ? 'done' : 'failed');
          return;
        }
        send(file, q, hash);
      };
      xhr.onerror = function () { send(file, q, hash); };
      xhr.onabort = function () {
        showError(file.name, 'upload cancelled.');
        done('cancelled');
      };
      xhr.send();
    }

    function send(file, q, hash) {
      var xhr = new XMLHttpRequest();
      current = xhr;
      var t0 = performance.now();
      box.setAttribute('data-state', 'sending');
      progress(0, file.size, t0);
      xhr.open('POST', '/ui/assets?' + q.toString());
      xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      if (hash) xhr.setRequestHeader('Offgrid-Content-Hash', hash);
      xhr.upload.onprogress = function (e) {
        progress(e.loaded, e.lengthComputable ? e.total : file.size, t0);
      };
      xhr.upload.onload = function () {
        progress(file.size, file.size, t0);
        box.setAttribute('data-state', 'finishing');
        text.textContent = lastText + ' · the node is storing the last stripe…';
      };
      xhr.onload = function () {
        var ct = xhr.getResponseHeader('Content-Type') || '';
        if (xhr.status === 401) {
          window.location.assign('/login');
          return;
        }
        if (ct.indexOf('text/html') === 0) {
          show(xhr.responseText);
        } else {
          showError(file.name, 'the node answered ' + xhr.status + ' ' + xhr.statusText + '.');
        }
        done(xhr.status >= 200 && xhr.status < 300 ? 'done' : 'failed');
      };
      xhr.onerror = function () {
        showError(file.name, 'the connection to the node failed before it answered. The node may have refused the upload; check its log, then try again.');
        done('failed');
      };
      xhr.onabort = function () {
        showError(file.name, 'upload cancelled.');
        done('cancelled');
      };
      xhr.send(file);
    }

    function done(state) {
      current = null;
      text.textContent = lastText;
      box.setAttribute('data-state', state);
      box.hidden = state !== 'done';
      cancel.hidden = true;
      document.body.dispatchEvent(new CustomEvent('put-done', { bubbles: true }));
      next();
    }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();

// Peers page: "last seen" times keep counting between refreshes. Each
// <time data-t="unix ms"> is measured against its card's data-now (the
// node's clock when the card was rendered) plus the time since the browser
// got the card, so a browser with a wrong clock still shows the right age.
(function () {
  'use strict';
  var seen = new WeakMap();

  function coarse(ms) {
    var s = Math.round(ms / 1000);
    var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    if (m > 0) return m + 'm ' + (s % 60) + 's';
    return s + 's';
  }

  function tick() {
    var cards = document.querySelectorAll('[data-now]');
    var now = Date.now();
    for (var i = 0; i < cards.length; i++) {
      var card = cards[i];
      if (!seen.has(card)) seen.set(card, now);
      var nodeNow = Number(card.getAttribute('data-now')) + (now - seen.get(card));
      var times = card.querySelectorAll('time[data-t]');
      for (var j = 0; j < times.length; j++) {
        var age = nodeNow - Number(times[j].getAttribute('data-t'));
        var text = age < 5000 ? 'just now' : coarse(age) + ' ago';
        if (times[j].textContent !== text) times[j].textContent = text;
      }
    }
  }

  document.addEventListener('htmx:oobAfterSwap', tick);
  document.addEventListener('htmx:afterSettle', tick);
  setInterval(tick, 1000);
})();

// Ledger page: check a receipt's inclusion proof in the browser. The
// button carries the leaf data (the receipt's canonical bytes and raw
// signature), its index, the tree size, the audit path and the block's
// root; this recomputes RFC 6962 hashes with SubtleCrypto SHA-256 and
// walks the path as RFC 9162 section 2.1.3.2 says, trusting nothing but
// the root.
(function () {
  'use strict';

  function fromHex(s) {
    var out = new Uint8Array(s.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
    return out;
  }

  function toHex(b) {
    var s = '';
    for (var i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
    return s;
  }

  function sha256(prefix, parts) {
    var n = 1;
    for (var i = 0; i < parts.length; i++) n += parts[i].length;
    var buf = new Uint8Array(n);
    buf[0] = prefix;
    var off = 1;
    for (var j = 0; j < parts.length; j++) { buf.set(parts[j], off); off += parts[j].length; }
    return crypto.subtle.digest('SHA-256', buf).then(function (d) { return new Uint8Array(d); });
  }

  async function verify(leafData, index, size, proof, root) {
    if (index < 0 || index >= size) return false;
    var fn = index, sn = size - 1;
    var r = await sha256(0, [leafData]);
    for (var i = 0; i < proof.length; i++) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = await sha256(1, [proof[i], r]);
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await sha256(1, [r, proof[i]]);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && toHex(r) === root;
  }

  document.addEventListener('click', function (ev) {
    var btn = ev.target.closest('[data-proof-check]');
    if (!btn) return;
    var out = btn.parentElement.querySelector('.proof-result');
    var path = btn.getAttribute('data-proof').split(' ').filter(Boolean).map(fromHex);
    verify(fromHex(btn.getAttribute('data-leaf')), Number(btn.getAttribute('data-index')),
      Number(btn.getAttribute('data-size')), path, btn.getAttribute('data-root')).then(function (ok) {
      out.textContent = ok ? '✓ included in the root' : '✗ the proof does not lead to the root';
      out.className = 'proof-result ' + (ok ? 'ok' : 'bad');
      out.setAttribute('data-ok', ok ? 'true' : 'false');
    }, function (err) {
      out.textContent = '✗ ' + err;
      out.setAttribute('data-ok', 'false');
    });
  });
})();

// Jobs page: a file dropped on one of the form's drop zones goes into the
// zone's file input (the form then sends it like a chosen one), and the
// zone shows the file's name.
(function () {
  'use strict';
  function hasFiles(e) {
    var types = e.dataTransfer && e.dataTransfer.types;
    return !!types && Array.prototype.indexOf.call(types, 'Files') >= 0;
  }
  function showName(zone, input) {
    var label = zone.querySelector('.dz-hint');
    if (label && input.files && input.files.length > 0) {
      label.textContent = input.files[0].name + ' (' + input.files[0].size + ' bytes)';
      zone.classList.add('chosen');
    }
  }
  // Delegated on the document: htmx replaces the form after each submit.
  document.addEventListener('dragover', function (e) {
    var zone = e.target.closest && e.target.closest('.job-drop');
    if (!zone || !hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    zone.classList.add('dragover');
  });
  document.addEventListener('dragleave', function (e) {
    var zone = e.target.closest && e.target.closest('.job-drop');
    if (zone && !zone.contains(e.relatedTarget)) zone.classList.remove('dragover');
  });
  document.addEventListener('drop', function (e) {
    var zone = e.target.closest && e.target.closest('.job-drop');
    if (!zone) {
      // A file dropped next to the zones must not replace the page.
      if (hasFiles(e) && document.querySelector('.job-drop')) e.preventDefault();
      return;
    }
    e.preventDefault();
    zone.classList.remove('dragover');
    var input = zone.querySelector('input[type=file]');
    if (!input || !e.dataTransfer || e.dataTransfer.files.length === 0) return;
    var dt = new DataTransfer();
    dt.items.add(e.dataTransfer.files[0]);
    input.files = dt.files;
    showName(zone, input);
  });
  document.addEventListener('change', function (e) {
    var input = e.target;
    var zone = input.closest && input.closest('.job-drop');
    if (zone) showName(zone, input);
  });
})();
