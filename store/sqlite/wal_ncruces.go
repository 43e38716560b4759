//go:build !modernc

package sqlite

import (
	"net/url"

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

func (v walVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, flags, err := v.VFSFilename.OpenFilename(name, flags)
	if err != nil || flags&vfs.OPEN_WAL == 0 {
		return f, flags, err
	}
	return &walFile{File: f}, flags, nil
}

// walBufferMax bounds what a walFile holds: a transaction larger than
// this (a migration's backfill) is written in pieces of about this size.
const walBufferMax = 4 << 20

// walFile gathers the frames SQLite appends to the WAL and writes them to
// the OS in one call, at the next Sync, instead of two calls per frame
// (its header, then its page). A commit writes about 25 frames, so this
// saves about 50 system calls per commit, which in this VM cost as much as
// the commit's fdatasync (docs/performance.md).
//
// It is safe because nothing can read a frame before it is written:
//   - this connection: every ReadAt, Size and Truncate writes the buffer
//     out first;
//   - every other connection: it reads only frames of committed
//     transactions, which SQLite marks committed in the WAL index after
//     syncing the WAL, and Sync writes the buffer out first. That holds
//     because the writer runs with synchronous=FULL (dsn, checked by
//     TestPragmas): with NORMAL a commit would not sync, and another
//     connection could find a committed frame still here.
//
// A write error surfaces at the Sync, Read or Size that writes the buffer
// out, still inside the transaction that wrote it, so that transaction
// fails as it would have at the write. Durability is unchanged: a frame
// was never durable before the sync that follows it.
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
// fails: its frames belong to a transaction that now fails and rolls back,
// and SQLite writes a later one's frames again from its own state.
func (f *walFile) flush() error {
	if len(f.buf) == 0 {
		return nil
	}
	_, err := f.File.WriteAt(f.buf, f.off)
	f.buf = f.buf[:0]
	return err
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

func (f *walFile) Close() error {
	err := f.flush()
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	return err
}

// SizeHint passes SQLite's preallocation hint on, so the os VFS acts on it
// as it would without this wrapper.
func (f *walFile) SizeHint(size int64) error {
	if h, ok := f.File.(vfs.FileSizeHint); ok {
		return h.SizeHint(size)
	}
	return nil
}
