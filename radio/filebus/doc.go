// Package filebus is the radio link of last resort: a file that all nodes
// share (on one machine, or on a network file system), used by the seed
// setup and by tests.
//
// Each node appends its frames to the file, one line per frame in the line
// encoding of package radio (base64url without padding, then "\n"; at most
// radio.MaxFrame bytes with the newline), with a single write on a file
// opened with O_APPEND, so that lines from different nodes do not
// interleave. Each node tails the file: every poll interval it reads what
// was appended since the last poll (at most MaxReadPerPoll bytes, so a
// large backlog is read over several polls), and delivers each complete
// line it can decode. Lines that are not valid line-encoded frames, or that
// are longer than radio.MaxFrame, are skipped. A link starts reading at the
// end of the file as it is when Run starts, so it sees only new lines. If
// the file shrinks (truncated) or is replaced (rotated, a different inode
// at the path), the link reads it again from the start; lines appended to
// a rotated file after the last poll are lost, and a truncation is noticed
// only if the file is still shorter than what was read at the next poll.
// Nothing removes
// old lines: whoever runs the nodes truncates or rotates the file.
package filebus
