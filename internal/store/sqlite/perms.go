package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// createPrivate creates the database file, if it does not exist yet, with
// mode 0600: webhook bodies and endpoint secrets are in it. SQLite creates
// the -wal and -shm files beside it with the main file's mode, so they are
// 0600 too. An existing file is left as the operator made it.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil
	case err != nil:
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	return f.Close()
}

// CheckDirectory returns an error saying so when the directory of the
// database at path can be read or searched by users other than its owner
// and group: they could read a copy of the database, or its WAL, made by
// any tool that does not create files 0600 (a backup, a sqlite3 shell).
func CheckDirectory(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("sqlite: the database directory %s: %w", dir, err)
	}
	if perm := st.Mode().Perm(); perm&0o007 != 0 {
		return fmt.Errorf("the database directory %s is open to other users (mode %04o); chmod o-rwx it", dir, perm)
	}
	return nil
}
