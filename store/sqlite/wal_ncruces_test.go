//go:build !modernc

package sqlite

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"

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

// TestWALFileGathersACommit: inside a commit window, a commit's frames,
// each a header then a page, reach the OS as one write at the Sync.
func TestWALFileGathersACommit(t *testing.T) {
	inner := &countingFile{File: tempFile(t)}
	f := &walFile{File: inner, gather: true}
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
			f := &walFile{File: inner, gather: true}
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
	f := &walFile{File: inner, gather: true}
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
// only it, runs on the gathering VFS with its WAL in a walFile, so the
// tests above speak for the store's commits. Each connection is asked by
// SQLite itself.
func TestWriterOpensTheWALThroughTheBuffer(t *testing.T) {
	s := mustOpen(t)
	ctx := t.Context()
	// An Update opens the writer's WAL; a View a reader's.
	if err := s.Update(ctx, func(tx refund.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	reader, err := s.reader.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if _, err := reader.ExecContext(ctx, "SELECT count(*) FROM schema_migrations"); err != nil {
		t.Fatal(err)
	}
	for _, h := range []struct {
		name    string
		conn    *sql.Conn
		vfs     string
		wrapped bool
	}{
		{"writer", s.wstmts.conn, walVFSName, true},
		{"reader", reader, "os", false},
	} {
		var name, wal any
		err := h.conn.Raw(func(dc any) error {
			c := dc.(driver.Conn).Raw()
			var err error
			if name, err = c.FileControl("main", sqlite3.FCNTL_VFSNAME); err != nil {
				return err
			}
			wal, err = c.FileControl("main", sqlite3.FCNTL_JOURNAL_POINTER)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := wal.(*walFile); name != h.vfs || ok != h.wrapped {
			t.Errorf("%s runs on VFS %v with its WAL a %T; want %s, walFile %t", h.name, name, wal, h.vfs, h.wrapped)
		}
	}
}

// TestStoreCommitsInOneWrite: an Update's commit, through the store's
// committer, hands its frames to the OS in one write (two when the WAL
// starts over and its header is synced first), where it wrote two per
// frame before.
func TestStoreCommitsInOneWrite(t *testing.T) {
	ctx := t.Context()
	s := mustOpen(t)
	m := &refund.Merchant{ID: "mer_writes", Name: "M", CreatedAt: time.Unix(1e9, 0)}
	if err := s.Update(ctx, func(tx refund.Tx) error { return tx.CreateMerchant(ctx, m) }); err != nil {
		t.Fatal(err)
	}
	wal := func() *walFile {
		f, err := walOf(s.wstmts.conn)
		if f == nil {
			t.Fatalf("the writer has no walFile (%v)", err)
		}
		return f
	}
	for i := range 5 {
		before := wal().writes
		sizeBefore, _ := wal().File.Size()
		if err := s.Update(ctx, func(tx refund.Tx) error {
			return tx.InsertEvent(ctx, &refund.Event{ID: fmt.Sprintf("evt_%d", i), MerchantID: m.ID, Type: "t",
				Data: bytes.Repeat([]byte{1}, 5000), CreatedAt: m.CreatedAt})
		}); err != nil {
			t.Fatal(err)
		}
		sizeAfter, _ := wal().File.Size()
		if writes := wal().writes - before; writes < 1 || writes > 2 {
			t.Errorf("commit %d: %d writes to the WAL (it grew from %d to %d bytes), want 1 or 2", i, writes, sizeBefore, sizeAfter)
		}
	}
}

// armedFile fails writes while its test arms it, as a full disk would.
type armedFile struct {
	vfs.File
	armed *atomic.Bool
}

func (f armedFile) WriteAt(p []byte, off int64) (int, error) {
	if f.armed.Load() {
		// What the os VFS returns for ENOSPC.
		return 0, vfs.SystemError(errors.New("no space left on device"), sqlite3.FULL)
	}
	return f.File.WriteAt(p, off)
}

// armedVFS opens WALs as walFiles over armedFiles.
type armedVFS struct {
	vfs.VFSFilename
	armed *atomic.Bool
}

func (v armedVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, flags, err := v.VFSFilename.OpenFilename(name, flags)
	if err != nil || flags&vfs.OPEN_WAL == 0 {
		return f, flags, err
	}
	return &walFile{File: armedFile{f, v.armed}}, flags, nil
}

// TestWALFileFailsTheCommit: when writing the gathered frames out at the
// commit's sync fails (here with the disk's own SQLITE_FULL), the commit
// fails and SQLite rolls the whole transaction back: nothing of it is
// left, the connection is out of the transaction, and the database is
// whole. (An I/O error in a COMMIT's write out ends its transaction
// whatever its code; the code walFile reports matters only for a write
// out inside a statement, which the commit window rules out.)
func TestWALFileFailsTheCommit(t *testing.T) {
	ctx := t.Context()
	armed := new(atomic.Bool)
	vfs.Register("refundd-wal-armed", armedVFS{vfs.Find("os").(vfs.VFSFilename), armed})
	defer vfs.Unregister("refundd-wal-armed")
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)"} {
		q.Add("_pragma", p)
	}
	q.Set("vfs", "refundd-wal-armed")
	db, err := sql.Open(driverName, source(filepath.Join(t.TempDir(), "armed.db"), q))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exec := func(q string) error { _, err := conn.ExecContext(ctx, q); return err }
	for _, q := range []string{`CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)`, `INSERT INTO t VALUES (0, zeroblob(100))`, `BEGIN`,
		`INSERT INTO t SELECT value, zeroblob(3000) FROM generate_series(1, 50)`} {
		if err := exec(q); err != nil {
			if strings.Contains(err.Error(), "generate_series") {
				t.Skip("no generate_series in this build")
			}
			t.Fatalf("%s: %v", q, err)
		}
	}
	armed.Store(true)
	err = commitWindow(conn, func() error { return exec(`COMMIT`) })
	armed.Store(false)
	if err == nil {
		t.Fatal("COMMIT succeeded although its frames could not be written")
	}
	var inTx bool
	conn.Raw(func(dc any) error { inTx = !dc.(driver.Conn).Raw().GetAutocommit(); return nil })
	if inTx {
		exec(`ROLLBACK`)
		t.Fatalf("after the failed COMMIT (%v) the transaction is still open, as after a failed statement", err)
	}
	var n int
	var ic string
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("after the failed commit: %d rows (%v), want the 1 committed before", n, err)
	}
	if err := conn.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ic); err != nil || ic != "ok" {
		t.Fatalf("integrity %q, %v", ic, err)
	}
	// The next commit works and is whole.
	if err := exec(`INSERT INTO t VALUES (1, zeroblob(10))`); err != nil {
		t.Fatal(err)
	}
}

// TestWriterNeverLeavesFramesBehind: an Update larger than the writer's
// page cache spills pages to the WAL and then fails, so its transaction
// rolls back; another writer (another process, as the CLI is) commits;
// then the store writes and reads again. Had the spilled frames been held
// (gathered outside the commit window), they would now be written over
// the frames the other writer committed: the database would be corrupt.
func TestWriterNeverLeavesFramesBehind(t *testing.T) {
	ctx := t.Context()
	s := mustOpen(t)
	// Far smaller than the Update below, on the committer's connection
	// (idle between Updates).
	if _, err := s.wstmts.conn.ExecContext(ctx, `PRAGMA cache_size = 20`); err != nil {
		t.Fatal(err)
	}
	m := &refund.Merchant{ID: "mer_frames", Name: "M", CreatedAt: time.Unix(1e9, 0)}
	if err := s.Update(ctx, func(tx refund.Tx) error { return tx.CreateMerchant(ctx, m) }); err != nil {
		t.Fatal(err)
	}
	// All in the database file: the rollback reloads page 1 from there, so
	// nothing reads the WAL (which would write a held buffer out) before
	// the write lock is released.
	if _, err := s.wstmts.conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	event := func(id string, fill byte) *refund.Event {
		return &refund.Event{ID: id, MerchantID: m.ID, Type: "test.frames", Data: bytes.Repeat([]byte{fill}, 3000), CreatedAt: m.CreatedAt}
	}
	refused := errors.New("refused after writing")
	walWrites := func() int {
		if f, _ := walOf(s.wstmts.conn); f != nil {
			return f.writes
		}
		return 0
	}
	before := walWrites()
	err := s.Update(ctx, func(tx refund.Tx) error {
		for i := range 400 {
			if err := tx.InsertEvent(ctx, event(fmt.Sprintf("evt_junk_%d", i), 0xEE)); err != nil {
				return err
			}
		}
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("the large Update: %v, want its own error", err)
	}
	// It committed nothing, so every WAL write it made was a spill: the
	// scenario needs some.
	if walWrites() == before {
		t.Fatal("the large Update spilled nothing to the WAL: the test no longer tests the spill")
	}

	other, err := sql.Open(driverName, dsn(s.path, roleMigrator))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otx, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := bytes.Repeat([]byte{0x11}, 3000)
	for i := range 400 {
		if _, err := otx.ExecContext(ctx, `INSERT INTO events (id, merchant_id, type, data, created_at) VALUES (?, ?, 'test.frames', ?, 0)`,
			fmt.Sprintf("evt_good_%d", i), m.ID, good); err != nil {
			t.Fatal(err)
		}
	}
	if err := otx.Commit(); err != nil {
		t.Fatal(err)
	}
	// The store writes and reads again.
	if err := s.Update(ctx, func(tx refund.Tx) error { return tx.InsertEvent(ctx, event("evt_last", 0x22)) }); err != nil {
		t.Fatal(err)
	}
	check := func(db *sql.DB, who string) {
		t.Helper()
		var n, bad int
		var ic string
		err := db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE id LIKE 'evt_good_%' AND data <> ?) FROM events WHERE type = 'test.frames'`, good).Scan(&n, &bad)
		if err == nil {
			err = db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ic)
		}
		if err != nil || n != 401 || bad != 0 || ic != "ok" {
			t.Errorf("%s: %d events, %d damaged, integrity %q, %v; want 401, none damaged, ok", who, n, bad, ic, err)
		}
	}
	check(s.reader, "the store's reader")
	check(other, "the other writer")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	other.Close()
	again, err := sql.Open(driverName, dsn(s.path, roleReader))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	check(again, "reopened")
}

// TestWriterChecks: Open's check refuses a writer that would not sync its
// WAL at every commit, and a database file without powersafe overwrite
// gets no walFile (SQLite would pad a commit after its sync).
func TestWriterChecks(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "checks.db")
	for _, tc := range []struct {
		pragma string
		ok     bool
	}{{"synchronous(FULL)", true}, {"synchronous(EXTRA)", true}, {"synchronous(NORMAL)", false}, {"synchronous(OFF)", false}} {
		db, err := sql.Open(driverName, source(path, url.Values{"_pragma": {"journal_mode(WAL)", tc.pragma}}))
		if err != nil {
			t.Fatal(err)
		}
		if err := checkWriter(ctx, db); (err == nil) != tc.ok {
			t.Errorf("%s: checkWriter = %v, want accepted %t", tc.pragma, err, tc.ok)
		}
		db.Close()
	}
	for _, tc := range []struct {
		psow    string
		wrapped bool
	}{{"1", true}, {"0", false}} {
		db, err := sql.Open(driverName, source(path, url.Values{"_pragma": {"journal_mode(WAL)"}, "vfs": {walVFSName}, "psow": {tc.psow}}))
		if err != nil {
			t.Fatal(err)
		}
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS t (x)`); err != nil {
			t.Fatal(err)
		}
		wal, err := walOf(conn)
		if err != nil || (wal != nil) != tc.wrapped {
			t.Errorf("psow=%s: the WAL is a walFile: %t (%v), want %t", tc.psow, wal != nil, err, tc.wrapped)
		}
		conn.Close()
		db.Close()
	}
}

// On this driver the committer can tell what a batch's callers changed, so
// batches run bare (runBatch); were it to lose that, every batch would
// quietly pay for a savepoint per caller.
func TestWriterStateIsKnown(t *testing.T) {
	s := mustOpen(t)
	if _, open, ok := writerState(s.wstmts.conn); !ok || open {
		t.Fatalf("writerState: ok %v, open %v outside a transaction", ok, open)
	}
}
