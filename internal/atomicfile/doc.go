// Package atomicfile replaces a file so that a reader, or the machine after
// a crash or power cut, sees either the old file whole or the new one whole,
// never a mix or a truncated file.
//
// The sequence: create a temporary file in the target's directory (a rename
// is atomic only within one file system), set the caller's permissions,
// write, fsync the file (so its data is on disk before its name is), close,
// rename it over the target, then fsync the directory (so the rename itself
// survives a power cut). Until the rename the target is untouched; a failed
// write, a failed sync or Discard removes the temporary file, so nothing is
// left behind but a file killed mid-write (named ".NAME-*.tmp" beside it).
//
// A large file is handed to the disk while it is written: every 8 MiB the
// kernel is asked to start writing the pages just written (Linux
// sync_file_range, without waiting). That changes nothing about safety, the
// fsync before the rename still decides, but a download's disk writes then
// overlap the download instead of all coming at the end.
//
// Permissions are set with chmod on the temporary file, so they are exactly
// the caller's, whatever the umask. Replacing a file gives the new file the
// caller's permissions, not the old file's.
package atomicfile
