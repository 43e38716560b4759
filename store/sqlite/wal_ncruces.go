//go:build !modernc

package sqlite

import (
	"net/url"

	"github.com/ncruces/go-sqlite3"
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

// walBufferMax bounds what a walFile holds: a transaction larger than
// this (a migration's backfill) is written in pieces of about this size.
const walBufferMax = 4 << 20

// walFile gathers the frames SQLite appends to the WAL and writes them to
// the OS in one call, at the commit's sync, instead of two calls per frame
// (its header, then its page). A commit writes about 25 frames, so this
// saves about 50 system calls per commit, which in this VM cost as much as
// the commit's fdatasync (docs/performance.md).
//
// It is safe only while every frame SQLite writes belongs to a commit
// that ends in a sync, with the WAL's write lock held throughout:
//   - synchronous=FULL: every commit syncs the WAL before SQLite marks its
//     frames committed in the WAL index (sqlite3WalFrames), and Sync writes
//     the buffer out first, so no other connection or process can find a
//     committed frame still here. (With NORMAL a commit would not sync.)
//   - cache_spill=OFF: SQLite never writes a transaction's pages to the
//     WAL before its commit. A spilled frame of a transaction that then
//     rolled back would stay here after the lock was released, and be
//     written later over frames another writer had committed since.
//   - powersafe overwrite (OpenFilename): no padding written after the
//     sync.
//
// The writer's data source name sets the first two and Open refuses a
// writer without them (checkWriter); TestPragmas checks them too. Within
// the commit, a read of the WAL (checksums rewritten after a frame was
// overwritten in place), its size or a truncation writes the buffer out
// first, so SQLite reads what it wrote. A failed write out is reported as
// SQLITE_IOERR_WRITE whatever the OS said, so SQLite fails the commit and
// rolls the whole transaction back, as it would have at the write itself;
// the buffer is emptied either way.
type walFile struct {
	vfs.File
	buf []byte
	off int64 // the file offset of buf[0]
}

func (f *walFile) WriteAt(p []byte, off int64) (int, error) {
	if len(f.buf) > 0 && (off != f.off+int64(len(f.buf)) || len(f.buf)+len(p) > walBufferMax) {
		if err := f.flush(); err != nil {
			return 0, err
		}
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

// Close drops what the buffer holds, which it never holds between
// commits: written now, it could land on frames committed since.
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
