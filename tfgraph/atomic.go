package tfgraph

// Atomic file writes: every file the project writes for others to read
// (checkpoint state, SavedModel files, configs, .npy outputs) goes through
// WriteAtomic, and the checkpoint files TensorFlow writes under a temporary
// prefix are moved into place with moveSynced, so readers see the old
// content or the new, never a partial file.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// filePerm is the mode of files written by WriteAtomic.
const filePerm = 0o644

// WriteFileAtomic writes data to path through a temporary file and a rename
// (see WriteAtomic), creating path's directory first if needed.
func WriteFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteAtomic streams a file to path: write gets a buffered writer on a
// temporary file in path's directory, which is then synced to disk, given
// mode 0644 and renamed to path, so readers see the old content or the new,
// never a partial file. On any error, write's included, the temporary file
// is removed and path is left as it was. path's directory must exist.
func WriteAtomic(path string, write func(w io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	w := bufio.NewWriter(f)
	if err := write(w); err != nil {
		return fail(err)
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Chmod(filePerm); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := moveSynced(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// moveSynced flushes the finished file tmp to disk and renames it to path
// (in the same file system), replacing any file there.
func moveSynced(tmp, path string) error {
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// syncDir flushes a directory's entries (new and renamed files) to disk
// where the file system supports it.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	_ = d.Sync() // not every file system supports fsync on directories
	return nil
}
