//go:build !modernc

package sqlite

import (
	"bytes"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/vfs"
)

// tempFile opens an anonymous temporary file through the os VFS.
func tempFile(t *testing.T) vfs.File {
	t.Helper()
	f, _, err := vfs.Find("os").(vfs.VFSFilename).OpenFilename(nil,
		vfs.OPEN_READWRITE|vfs.OPEN_CREATE|vfs.OPEN_EXCLUSIVE|vfs.OPEN_DELETEONCLOSE|vfs.OPEN_TEMP_JOURNAL)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// countingFile counts the writes that reach the file beneath.
type countingFile struct {
	vfs.File
	writes int
}

func (c *countingFile) WriteAt(p []byte, off int64) (int, error) {
	c.writes++
	return c.File.WriteAt(p, off)
}

// TestWALFileGathersACommit: a commit's frames, each a header then a page,
// reach the OS as one write at the Sync.
func TestWALFileGathersACommit(t *testing.T) {
	inner := &countingFile{File: tempFile(t)}
	f := &walFile{File: inner}
	defer f.Close()
	const frames, page = 25, 4096
	off := int64(32)
	for i := range frames {
		hdr := bytes.Repeat([]byte{byte(i)}, 24)
		pg := bytes.Repeat([]byte{byte(i + 1)}, page)
		if _, err := f.WriteAt(hdr, off); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(pg, off+24); err != nil {
			t.Fatal(err)
		}
		off += 24 + page
	}
	if inner.writes != 0 {
		t.Fatalf("%d writes reached the file before the sync", inner.writes)
	}
	if err := f.Sync(vfs.SYNC_NORMAL); err != nil {
		t.Fatal(err)
	}
	if inner.writes != 1 {
		t.Fatalf("a commit of %d frames took %d writes, want 1", frames, inner.writes)
	}
	if size, err := inner.File.Size(); err != nil || size != off {
		t.Fatalf("size after the sync = %d, %v; want %d", size, err, off)
	}
}

// TestWALFileReadsLikeTheFile applies the same random writes, reads,
// truncations and syncs to a walFile and to a plain file: every read and
// size must agree, and so must the bytes on disk after each sync.
func TestWALFileReadsLikeTheFile(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(seed, 7))
			inner := tempFile(t)
			f := &walFile{File: inner}
			plain := tempFile(t)
			defer f.Close()
			defer plain.Close()
			end := int64(0) // appends go here, as SQLite's do
			for step := range 300 {
				switch op := rnd.IntN(10); {
				case op < 5: // append, or now and then rewrite earlier bytes
					off := end
					if rnd.IntN(4) == 0 && end > 0 {
						off = rnd.Int64N(end)
					}
					p := make([]byte, 1+rnd.IntN(5000))
					for i := range p {
						p[i] = byte(rnd.Uint32())
					}
					n1, err1 := f.WriteAt(p, off)
					n2, err2 := plain.WriteAt(p, off)
					if n1 != n2 || err1 != nil || err2 != nil {
						t.Fatalf("step %d: write = %d, %v; plain %d, %v", step, n1, err1, n2, err2)
					}
					end = max(end, off+int64(len(p)))
				case op < 7:
					off, n := rnd.Int64N(end+100), 1+rnd.IntN(8000)
					p1, p2 := make([]byte, n), make([]byte, n)
					n1, err1 := f.ReadAt(p1, off)
					n2, err2 := plain.ReadAt(p2, off)
					if n1 != n2 || (err1 == nil) != (err2 == nil) || !bytes.Equal(p1, p2) {
						t.Fatalf("step %d: read at %d = %d, %v; plain %d, %v (same bytes: %t)", step, off, n1, err1, n2, err2, bytes.Equal(p1, p2))
					}
				case op < 8:
					s1, err1 := f.Size()
					s2, err2 := plain.Size()
					if s1 != s2 || err1 != nil || err2 != nil {
						t.Fatalf("step %d: size = %d, %v; plain %d, %v", step, s1, err1, s2, err2)
					}
				case op < 9:
					size := rnd.Int64N(end + 1)
					if err := f.Truncate(size); err != nil {
						t.Fatal(err)
					}
					if err := plain.Truncate(size); err != nil {
						t.Fatal(err)
					}
					end = size
				default:
					if err := f.Sync(vfs.SYNC_NORMAL); err != nil {
						t.Fatal(err)
					}
					if len(f.buf) != 0 {
						t.Fatalf("step %d: %d bytes still held after a sync", step, len(f.buf))
					}
					onDisk, want := make([]byte, end), make([]byte, end)
					inner.ReadAt(onDisk, 0)
					plain.ReadAt(want, 0)
					if !bytes.Equal(onDisk, want) {
						t.Fatalf("step %d: the file after a sync differs from the plain one", step)
					}
				}
			}
		})
	}
}

// TestWALFileBoundsItsBuffer: a transaction larger than walBufferMax is
// written in pieces, so a backfill cannot hold its whole WAL in memory.
func TestWALFileBoundsItsBuffer(t *testing.T) {
	inner := &countingFile{File: tempFile(t)}
	f := &walFile{File: inner}
	defer f.Close()
	page := make([]byte, 4096)
	for i := range 3 * walBufferMax / len(page) {
		if _, err := f.WriteAt(page, int64(i*len(page))); err != nil {
			t.Fatal(err)
		}
		if len(f.buf) > walBufferMax {
			t.Fatalf("holds %d bytes, more than %d", len(f.buf), walBufferMax)
		}
	}
	if inner.writes < 2 {
		t.Fatalf("%d writes for three times the bound before any sync, want at least 2", inner.writes)
	}
}

// TestWriterOpensTheWALThroughTheBuffer: the writer's connection, and
// only it, runs on the gathering VFS, so the tests above speak for the
// store's commits. Each connection is asked for its VFS by SQLite itself.
func TestWriterOpensTheWALThroughTheBuffer(t *testing.T) {
	s := mustOpen(t)
	ctx := t.Context()
	reader, err := s.reader.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	for _, h := range []struct {
		name string
		conn *sql.Conn
		want string
	}{
		{"writer", s.wstmts.conn, walVFSName},
		{"reader", reader, "os"},
	} {
		var got any
		err := h.conn.Raw(func(dc any) error {
			var err error
			got, err = dc.(driver.Conn).Raw().FileControl("main", sqlite3.FCNTL_VFSNAME)
			return err
		})
		if err != nil || got != h.want {
			t.Errorf("%s runs on VFS %v (%v), want %s", h.name, got, err, h.want)
		}
	}
}
