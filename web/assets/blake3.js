// BLAKE3-256 in plain JavaScript, for the dashboard's uploads: the browser
// hashes a file before sending it, so that the node can resume an
// interrupted upload and recognise a file it stores already, as it does
// for the CLI. It follows the BLAKE3 reference implementation (hash mode
// only, 32-byte output) and is checked against github.com/zeebo/blake3 by
// web/blake3js_test.go. Use: var h = OffgridBlake3.create(); h.update(bytes)
// as often as needed (a Uint8Array each time); h.hex() gives the digest.
(function (root) {
  'use strict';
  var IV = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  var PERM = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
  var CHUNK_START = 1, CHUNK_END = 2, PARENT = 4, ROOT = 8;
  var BLOCK_LEN = 64, CHUNK_LEN = 1024;

  var s = new Uint32Array(16);
  var m = new Uint32Array(16);
  var t = new Uint32Array(16);

  function g(a, b, c, d, x, y) {
    s[a] = s[a] + s[b] + x;
    s[d] = rotr(s[d] ^ s[a], 16);
    s[c] = s[c] + s[d];
    s[b] = rotr(s[b] ^ s[c], 12);
    s[a] = s[a] + s[b] + y;
    s[d] = rotr(s[d] ^ s[a], 8);
    s[c] = s[c] + s[d];
    s[b] = rotr(s[b] ^ s[c], 7);
  }

  function rotr(x, n) {
    return (x >>> n) | (x << (32 - n));
  }

  // compress runs the compression function on cv and the 16 words of
  // block and writes the first 8 output words (the next chaining value,
  // or the 32-byte root output) to out.
  function compress(cv, block, counter, blockLen, flags, out) {
    for (var i = 0; i < 8; i++) s[i] = cv[i];
    s[8] = IV[0]; s[9] = IV[1]; s[10] = IV[2]; s[11] = IV[3];
    s[12] = counter >>> 0;
    s[13] = Math.floor(counter / 4294967296) >>> 0;
    s[14] = blockLen;
    s[15] = flags;
    m.set(block);
    for (var r = 0; r < 7; r++) {
      g(0, 4, 8, 12, m[0], m[1]);
      g(1, 5, 9, 13, m[2], m[3]);
      g(2, 6, 10, 14, m[4], m[5]);
      g(3, 7, 11, 15, m[6], m[7]);
      g(0, 5, 10, 15, m[8], m[9]);
      g(1, 6, 11, 12, m[10], m[11]);
      g(2, 7, 8, 13, m[12], m[13]);
      g(3, 4, 9, 14, m[14], m[15]);
      if (r < 6) {
        for (var j = 0; j < 16; j++) t[j] = m[PERM[j]];
        m.set(t);
      }
    }
    for (var k = 0; k < 8; k++) out[k] = s[k] ^ s[k + 8];
  }

  function create() {
    var cv = new Uint32Array(IV); // the current chunk's chaining value
    var buf = new Uint8Array(BLOCK_LEN); // the block being filled
    var words = new Uint32Array(16);
    var bufLen = 0;
    var blocksDone = 0; // compressed blocks of the current chunk
    var chunk = 0; // the current chunk's index
    var stack = []; // chaining values of complete subtrees, left to right

    function loadBlock() {
      for (var i = bufLen; i < BLOCK_LEN; i++) buf[i] = 0;
      for (var w = 0; w < 16; w++) {
        var o = w * 4;
        words[w] = buf[o] | (buf[o + 1] << 8) | (buf[o + 2] << 16) | (buf[o + 3] << 24);
      }
    }

    function startFlag() {
      return blocksDone === 0 ? CHUNK_START : 0;
    }

    function parentCV(left, right) {
      var block = new Uint32Array(16);
      block.set(left, 0);
      block.set(right, 8);
      var out = new Uint32Array(8);
      compress(IV, block, 0, BLOCK_LEN, PARENT, out);
      return out;
    }

    // endChunk closes a full chunk once more input follows it, and merges
    // it into the stack as the reference's add_chunk_chaining_value does.
    function endChunk() {
      loadBlock();
      var out = new Uint32Array(8);
      compress(cv, words, chunk, bufLen, startFlag() | CHUNK_END, out);
      var total = chunk + 1;
      while (total % 2 === 0) {
        out = parentCV(stack.pop(), out);
        total /= 2;
      }
      stack.push(out);
      chunk++;
      cv = new Uint32Array(IV);
      bufLen = 0;
      blocksDone = 0;
    }

    function update(data) {
      var i = 0;
      while (i < data.length) {
        if (bufLen === BLOCK_LEN) {
          if (blocksDone * BLOCK_LEN + bufLen === CHUNK_LEN) {
            endChunk();
          } else {
            loadBlock();
            compress(cv, words, chunk, BLOCK_LEN, startFlag(), cv);
            blocksDone++;
            bufLen = 0;
          }
        }
        var n = Math.min(BLOCK_LEN - bufLen, data.length - i);
        buf.set(data.subarray(i, i + n), bufLen);
        bufLen += n;
        i += n;
      }
      return api;
    }

    function hex() {
      loadBlock();
      var out = new Uint32Array(8);
      var flags = startFlag() | CHUNK_END;
      if (stack.length === 0) {
        compress(cv, words, chunk, bufLen, flags | ROOT, out);
      } else {
        compress(cv, words, chunk, bufLen, flags, out);
        for (var i = stack.length - 1; i >= 0; i--) {
          var block = new Uint32Array(16);
          block.set(stack[i], 0);
          block.set(out, 8);
          var next = new Uint32Array(8);
          compress(IV, block, 0, BLOCK_LEN, PARENT | (i === 0 ? ROOT : 0), next);
          out = next;
        }
      }
      var h = '';
      for (var w = 0; w < 8; w++) {
        for (var b = 0; b < 4; b++) {
          var v = (out[w] >>> (8 * b)) & 0xff;
          h += (v < 16 ? '0' : '') + v.toString(16);
        }
      }
      return h;
    }

    var api = { update: update, hex: hex };
    return api;
  }

  root.OffgridBlake3 = { create: create };
})(this);
