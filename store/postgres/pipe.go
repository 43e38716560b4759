package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pipe runs a transaction's statements, holding back the writes whose
// result nothing waits for (a transition, an event, an audit entry, a
// transaction row, the idempotency key's update) and sending them in one
// pipelined batch with the next statement that does need an answer, or at
// the end of the Update: one round trip for all of them instead of one
// each; those that read nothing of each other's share one statement
// (join). The transaction's BEGIN and savepoints are held back the same way,
// and its COMMIT goes with the last held writes. Within a transaction the
// order of statements is unchanged, so what a later read sees is what it
// would have seen.
//
// A held-back write that fails fails the statement it travelled with
// (PostgreSQL skips the rest of the batch and the transaction is aborted
// up to its savepoint), so fn still sees the error before it returns, or
// Update does when it sends the rest.
//
// So a held write's check must fail in the server, not on the client: a
// statement that would answer "no row matched" is written to raise
// instead (refundd_refuse, migration 0017), so that a refusal travelling
// with the COMMIT stops the COMMIT. The pipe turns the raised reason into
// the statement's own error (refused) and remembers it: every later
// statement, and the COMMIT, answer it without being sent, even if fn
// swallowed it the first time.
type pipe struct {
	c       conn
	pending []held
	err     error // the first failure of a held statement; nothing more is sent
	// refused: that failure was the server's, which skipped the rest of
	// its batch (a COMMIT in it did not run).
	refused bool
}

// conn is what a pipe sends statements on: a pooled connection.
type conn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// held is one statement waiting for the next round trip.
type held struct {
	op   string
	sql  string
	args []any
	scan func(pgx.Row) error // a statement that returns a row: reads it
	// refused turns the reason a statement raised through refundd_refuse
	// into its error.
	refused func(why string) error
	// tables, when not nil, are the tables a joined write changes: the
	// next joined write may fold into it (see join). parts are its
	// statements, numbered as they take args.
	tables []string
	parts  []string
}

// later holds a statement back until the next round trip.
func (p *pipe) later(op string, sql string, args ...any) {
	p.pending = append(p.pending, held{op: op, sql: sql, args: args})
}

// hold holds h back until the next round trip.
func (p *pipe) hold(h held) {
	p.pending = append(p.pending, h)
}

// join holds a write back like later, folded into the write held just
// before it when that one was joined too and changes none of table: one
// statement, a data-modifying WITH, that the server plans, runs and
// answers once, instead of one each. A refund's row, transition, event,
// audit entry and link to its Idempotency-Key so cost one statement.
//
// h may read the row its statement returns (h.scan; h.refused must be
// nil). One part of a statement may: it is the statement's own, written
// after the others' WITH.
//
// The parts of one statement share its snapshot and none sees another's
// rows, so only writes that read nothing the others write may join:
// inserts, and updates of rows this transaction wrote before (foreign
// keys are checked when the statement ends, after every part). A table is
// written once per statement, so its identity columns still number rows
// in the order they were written.
//
// Each joined shape is a statement text of its own, which pgx prepares on
// a connection the first time it sends it there (one round trip more,
// once): a refund makes a few such shapes.
func (p *pipe) join(table string, h held) {
	if h.refused != nil || maxParam(h.sql) != len(h.args) {
		// A refusal could not be told from its neighbours', and a part
		// numbered otherwise than its arguments would take another's.
		panic(fmt.Sprintf("postgres: %s cannot join: refused %v, %d parameters for %d arguments",
			h.op, h.refused != nil, maxParam(h.sql), len(h.args)))
	}
	if strings.HasPrefix(h.sql, "WITH") {
		p.pending = append(p.pending, h) // a WITH is written at the top only
		return
	}
	if n := len(p.pending); n > 0 {
		last := &p.pending[n-1]
		if last.tables != nil && !slices.Contains(last.tables, table) && (h.scan == nil || last.scan == nil) {
			last.op += ", " + h.op
			last.tables = append(last.tables, table)
			part := numberedFrom(h.sql, len(last.args))
			last.args = append(last.args, h.args...)
			at := len(last.parts) // the part whose row is read stays last
			if last.scan != nil {
				at--
			}
			last.parts = slices.Insert(last.parts, at, part)
			if h.scan != nil {
				last.scan = h.scan
			}
			last.sql = withParts(last.parts, last.scan != nil)
			return
		}
	}
	h.tables, h.parts = []string{table}, []string{h.sql}
	p.pending = append(p.pending, h)
}

// withParts is one statement of parts: each in a WITH, and the last as
// the statement itself when its row is read.
func withParts(parts []string, returns bool) string {
	var b strings.Builder
	b.WriteString("WITH ")
	last := len(parts)
	if returns {
		last--
	}
	for i, part := range parts[:last] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "j%d AS (%s)", i, part)
	}
	if returns {
		b.WriteString(" " + parts[last])
	} else {
		b.WriteString(" SELECT")
	}
	return b.String()
}

// numbered caches numberedFrom: a refund's statements come in a few
// shapes.
var numbered sync.Map // numberedKey -> string

type numberedKey struct {
	sql string
	off int
}

// numberedFrom renumbers sql's parameters $1, $2... as $off+1, $off+2...
// It knows the store's own statements: parameters, and '...' literals
// that are left as they are; not comments, quoted identifiers or
// dollar-quoted bodies, which no joined statement has.
func numberedFrom(sql string, off int) string {
	if off == 0 {
		return sql
	}
	key := numberedKey{sql, off}
	if s, ok := numbered.Load(key); ok {
		return s.(string)
	}
	var b strings.Builder
	sqlParams(sql, func(lit string, n int) {
		if n == 0 {
			b.WriteString(lit)
		} else {
			b.WriteString("$" + strconv.Itoa(n+off))
		}
	})
	numbered.Store(key, b.String())
	return b.String()
}

// maxParam is the highest parameter sql names ($n), worked out once per
// text: join asks it for every write.
func maxParam(sql string) int {
	if n, ok := highest.Load(sql); ok {
		return n.(int)
	}
	high := 0
	sqlParams(sql, func(_ string, n int) { high = max(high, n) })
	highest.Store(sql, high)
	return high
}

var highest sync.Map // statement text -> its highest parameter

// sqlParams splits sql into text and parameters, in order: each piece of
// text with n 0, each parameter $n with its n.
func sqlParams(sql string, each func(text string, n int)) {
	quoted, from := false, 0
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; {
		case c == '\'':
			quoted = !quoted
		case c == '$' && !quoted && i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9':
			j := i + 1
			for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			n, _ := strconv.Atoi(sql[i+1 : j])
			each(sql[from:i], 0)
			each("", n)
			from, i = j, j-1
		}
	}
	each(sql[from:], 0)
}

// send starts one batch: the held statements, then sql (when not ""),
// then next's statements (when not nil) with their callbacks.
func (p *pipe) send(ctx context.Context, sql string, args []any, next *pgx.Batch) pgx.BatchResults {
	b := &pgx.Batch{}
	for _, h := range p.pending {
		b.Queue(h.sql, h.args...)
	}
	if sql != "" {
		b.Queue(sql, args...)
	}
	if next != nil {
		b.QueuedQueries = append(b.QueuedQueries, next.QueuedQueries...)
	}
	return p.c.SendBatch(ctx, b)
}

// drain reads the held statements' results off br. The error names the
// statement that failed and wraps the driver's (its SQLSTATE stays
// visible), or is the statement's refusal.
func (p *pipe) drain(br pgx.BatchResults) error {
	pending := p.pending
	p.pending = nil
	for _, h := range pending {
		var err error
		if h.scan != nil {
			err = h.scan(br.QueryRow())
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				p.refused = true
				if pe.Code == refusal && h.refused != nil {
					err = h.refused(pe.Message)
				}
			}
			p.err = fmt.Errorf("%s: %w", h.op, err)
			return p.err
		}
	}
	return nil
}

// poison fails the rest of the transaction with err, as a held write's
// failure does: nothing more is sent, and Update returns err even if fn
// carries on (the Update, or its savepoint in a batch, rolls back).
func (p *pipe) poison(err error) {
	if p.err == nil {
		p.err = err
	}
}

// refusal is the SQLSTATE refundd_refuse raises.
const refusal = "RD001"

// flush sends the held statements and then, in the same round trip, sql
// when it is not "" (RELEASE SAVEPOINT, COMMIT), and returns sql's tag.
func (p *pipe) flush(ctx context.Context, sql string) (pgconn.CommandTag, error) {
	if p.err != nil {
		return pgconn.CommandTag{}, p.err
	}
	if len(p.pending) == 0 {
		if sql == "" {
			return pgconn.CommandTag{}, nil
		}
		return p.c.Exec(ctx, sql)
	}
	br := p.send(ctx, sql, nil, nil)
	err := p.drain(br)
	var tag pgconn.CommandTag
	if err == nil && sql != "" {
		tag, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// holds reports whether a statement named op is still held back.
func (p *pipe) holds(op string) bool {
	for _, h := range p.pending {
		if h.op == op {
			return true
		}
	}
	return false
}

// drop forgets the held statements from the one named op on.
func (p *pipe) drop(op string) {
	for i, h := range p.pending {
		if h.op == op {
			p.pending = p.pending[:i]
			return
		}
	}
}

func (p *pipe) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if p.err != nil {
		return pgconn.CommandTag{}, p.err
	}
	if len(p.pending) == 0 {
		return p.c.Exec(ctx, sql, args...)
	}
	br := p.send(ctx, sql, args, nil)
	if err := p.drain(br); err != nil {
		br.Close()
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (p *pipe) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if p.err != nil {
		return errRow{p.err}
	}
	if len(p.pending) == 0 {
		return p.c.QueryRow(ctx, sql, args...)
	}
	br := p.send(ctx, sql, args, nil)
	if err := p.drain(br); err != nil {
		br.Close()
		return errRow{err}
	}
	return &batchRow{row: br.QueryRow(), br: br}
}

func (p *pipe) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if p.err != nil {
		return nil, p.err
	}
	if len(p.pending) == 0 {
		return p.c.Query(ctx, sql, args...)
	}
	br := p.send(ctx, sql, args, nil)
	if err := p.drain(br); err != nil {
		br.Close()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// SendBatch sends the held statements ahead of b's, in one round trip; the
// caller reads b's results as if b had gone alone.
func (p *pipe) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if p.err != nil {
		return pgx.FailedBatchResults(b, p.err)
	}
	if len(p.pending) == 0 {
		return p.c.SendBatch(ctx, b)
	}
	br := p.send(ctx, "", nil, b)
	if err := p.drain(br); err != nil {
		br.Close()
		return pgx.FailedBatchResults(b, err)
	}
	return br
}

// batchRow is the last statement of a batch: scanning it ends the batch.
type batchRow struct {
	row pgx.Row
	br  pgx.BatchResults
}

func (r *batchRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// batchRows is the last statement of a batch: closing it ends the batch.
type batchRows struct {
	pgx.Rows
	br       pgx.BatchResults
	closeErr error
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if err := r.br.Close(); err != nil && r.closeErr == nil {
		r.closeErr = err
	}
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.closeErr
}
