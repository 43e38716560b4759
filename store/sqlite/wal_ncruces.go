//go:build !modernc

package sqlite

import (
	"database/sql"
	"net/url"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/vfs"
)

// walVFSName is the VFS the writer's connections open the database with:
// the os VFS, except that their WAL file is a walFile.
const walVFSName = "refundd-wal"

func init() {
	vfs.Register(walVFSName, walVFS{vfs.Find("os").(vfs.VFSFilename)})
}

// writerParams adds to the writer's data source name what this driver
// needs beyond the pragmas: the VFS that gathers WAL writes.
func writerParams(q url.Values) { q.Set("vfs", walVFSName) }

type walVFS struct{ vfs.VFSFilename }

// OpenFilename wraps a WAL in a walFile, unless its database file lacks
// powersafe overwrite: then SQLite pads a commit's last frame to a sector
// and writes the padding after the sync, where a walFile would hold it.
func (v walVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, flags, err := v.VFSFilename.OpenFilename(name, flags)
	if err != nil || flags&vfs.OPEN_WAL == 0 {
		return f, flags, err
	}
	if db := name.DatabaseFile(); db == nil || db.DeviceCharacteristics()&vfs.IOCAP_POWERSAFE_OVERWRITE == 0 {
		return f, flags, nil
	}
	return &walFile{File: f}, flags, nil
}

// walBufferMax bounds what a walFile holds: a commit larger than this is
// written in pieces of about this size.
const walBufferMax = 4 << 20

// walFile gathers the frames a commit appends to the WAL and writes them
// to the OS in one call, at the commit's sync, instead of two calls per
// frame (its header, then its page). A commit writes about 25 frames, so
// this saves about 50 system calls per commit, which in this VM cost as
// much as the commit's fdatasync (docs/performance.md).
//
// It gathers only inside a window the committer opens just before its
// COMMIT and closes when the COMMIT returns (commitWindow), with the
// write lock held throughout. Every other write goes straight to the OS,
// as it would without this file: a page SQLite spills to the WAL before
// the commit (a transaction larger than the page cache) may belong to a
// transaction that rolls back, and held past the lock's release it could
// later be written over frames another writer had committed (a review
// reproduced that with an earlier version, which gathered every write).
// Inside the window:
//   - synchronous=FULL (dsn; Open refuses a writer without it): SQLite
//     syncs the WAL before it marks the commit's frames committed in the
//     WAL index (sqlite3WalFrames), and Sync writes the buffer out first,
//     so no other connection or process can find a committed frame still
//     here. With NORMAL a commit would not sync.
//   - a read of the WAL (checksums rewritten after a spilled frame was
//     overwritten in place), its size or a truncation writes the buffer
//     out first, so SQLite reads what it wrote.
//   - powersafe overwrite (OpenFilename): no padding written after the
//     sync.
//
// A failed write out is reported as SQLITE_IOERR_WRITE, whatever the OS
// said; it fails the COMMIT, which rolls the whole transaction back, and
// the buffer is emptied either way.
type walFile struct {
	vfs.File
	gather bool   // inside a commit window
	buf    []byte // what the window has gathered
	off    int64  // the file offset of buf[0]
	writes int    // handed to the OS (tests count them)
}

// commitWindow runs commit (the committer's COMMIT) with conn's WAL
// gathering its writes. conn must be inside a write transaction, so its
// WAL is open and its write lock held until commit returns. After a
// failed commit the caller must roll back, not commit again: what the
// window held is dropped (runBatch does so).
func commitWindow(conn *sql.Conn, commit func() error) error {
	f, err := walOf(conn)
	if err != nil || f == nil {
		// No walFile (no powersafe overwrite): commit as SQLite would.
		return commit()
	}
	f.gather = true
	defer func() { f.gather = false }()
	err = commit()
	if len(f.buf) > 0 {
		// Unreachable while the writer syncs at every commit (checkWriter
		// at Open; no statement of the store changes synchronous): the
		// commit's sync wrote it all. Were it reached after a commit that
		// succeeded, its frames are already marked committed, and writing
		// them at once is the least harm; a failed commit's must not be.
		if err == nil {
			err = f.flush()
		}
		f.buf = f.buf[:0]
	}
	return err
}

// walOf returns conn's WAL file if it is a walFile (nil if not, or if
// the WAL is not open).
func walOf(conn *sql.Conn) (*walFile, error) {
	var f *walFile
	err := conn.Raw(func(dc any) error {
		wal, err := dc.(driver.Conn).Raw().FileControl("main", sqlite3.FCNTL_JOURNAL_POINTER)
		f, _ = wal.(*walFile)
		return err
	})
	return f, err
}

func (f *walFile) WriteAt(p []byte, off int64) (int, error) {
	if len(f.buf) > 0 && (!f.gather || off != f.off+int64(len(f.buf)) || len(f.buf)+len(p) > walBufferMax) {
		if err := f.flush(); err != nil {
			return 0, err
		}
	}
	if !f.gather {
		f.writes++
		return f.File.WriteAt(p, off)
	}
	if len(f.buf) == 0 {
		f.off = off
	}
	// p is SQLite's memory, reused after this call returns: copy it.
	f.buf = append(f.buf, p...)
	return len(p), nil
}

// flush writes the buffer out. The buffer is emptied even when the write
// fails: its frames belong to a commit that now fails and rolls back, and
// SQLite writes a later one's frames again from its own state.
func (f *walFile) flush() error {
	if len(f.buf) == 0 {
		return nil
	}
	f.writes++
	_, err := f.File.WriteAt(f.buf, f.off)
	f.buf = f.buf[:0]
	if err != nil {
		// An I/O error, whatever the OS said: on SQLITE_FULL inside a
		// statement SQLite may end only the statement and let the
		// transaction go on. Writes out happen within a commit, where
		// either ends the transaction; this keeps it so anywhere.
		return vfs.SystemError(err, sqlite3.IOERR_WRITE)
	}
	return nil
}

func (f *walFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.flush(); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *walFile) Size() (int64, error) {
	if err := f.flush(); err != nil {
		return 0, err
	}
	return f.File.Size()
}

func (f *walFile) Truncate(size int64) error {
	if err := f.flush(); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *walFile) Sync(flags vfs.SyncFlag) error {
	if err := f.flush(); err != nil {
		return err
	}
	return f.File.Sync(flags)
}

// Close drops what the buffer holds, which it never holds outside a
// commit window: written now, it could land on frames committed since.
func (f *walFile) Close() error {
	f.buf = nil
	return f.File.Close()
}

// SizeHint passes SQLite's preallocation hint on, so the os VFS acts on it
// as it would without this wrapper.
func (f *walFile) SizeHint(size int64) error {
	if h, ok := f.File.(vfs.FileSizeHint); ok {
		return h.SizeHint(size)
	}
	return nil
}
