package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile writes data to path with permissions perm, atomically (see the
// package comment).
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Discard()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// A File is the pending replacement of a file: a temporary file beside it
// that Commit puts in its place. Callers that stream into the file (copy a
// download into it, checking its hash on the way) write to it, then Commit
// if all went well. Always defer Discard: it removes the temporary file
// unless Commit succeeded. A File is not safe for concurrent use.
type File struct {
	tmp  *os.File
	path string
	done bool
	// written counts the bytes written; flushed how many of them were
	// handed to the disk early (writeBehind).
	written, flushed int64
}

// writeBehind is how many written bytes a File lets pile up before it asks
// the kernel to start writing them to disk (without waiting for it): the
// disk then works while the caller still produces data, and Commit's fsync
// finds little left to do, instead of all of a large file at once.
const writeBehind = 8 << 20

// Create starts replacing path: it creates the temporary file in path's
// directory with permissions perm. The directory must exist.
func Create(path string, perm fs.FileMode) (*File, error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+name+"-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create temporary file for %s: %w", name, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("set permissions of %s: %w", name, err)
	}
	return &File{tmp: tmp, path: path}, nil
}

// Write writes p to the temporary file.
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, errors.New("write to a committed or discarded file")
	}
	n, err := f.tmp.Write(p)
	f.written += int64(n)
	if err != nil {
		return n, fmt.Errorf("write %s: %w", filepath.Base(f.path), err)
	}
	if f.written-f.flushed >= writeBehind {
		startWriteback(f.tmp, f.flushed, f.written-f.flushed)
		f.flushed = f.written
	}
	return n, nil
}

// Commit syncs and closes the temporary file, renames it to the target and
// syncs the directory. On error the target is unchanged (unless only the
// directory sync failed: then the rename happened but may not survive a
// power cut) and the temporary file is removed.
func (f *File) Commit() error {
	if f.done {
		return errors.New("commit of a committed or discarded file")
	}
	f.done = true
	name := filepath.Base(f.path)
	err := f.tmp.Sync()
	if err != nil {
		err = fmt.Errorf("sync %s: %w", name, err)
	}
	if cerr := f.tmp.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close %s: %w", name, cerr)
	}
	if err == nil {
		if rerr := os.Rename(f.tmp.Name(), f.path); rerr != nil {
			err = fmt.Errorf("rename %s into place: %w", name, rerr)
		}
	}
	if err != nil {
		os.Remove(f.tmp.Name())
		return err
	}
	return syncDir(filepath.Dir(f.path))
}

// Discard abandons the replacement: it closes and removes the temporary
// file, leaving the target as it was. After Commit it does nothing, so it
// can be deferred right after Create.
func (f *File) Discard() {
	if f.done {
		return
	}
	f.done = true
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}

// syncDir fsyncs the directory dir, making the creation, rename or removal
// of its entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
