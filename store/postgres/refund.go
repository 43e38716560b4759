package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
)

// refundColumns are the columns CreateRefund writes; refundSelect adds the
// number the insert assigned and what only updates write.
const (
	refundColumns = `id, merchant_id, order_id, seq, amount, currency, status, reason, merchant_reference, capture_id,
	items, vendors, notify_url, surface, failure_code, failure_message, response_code, rrn, stan, auth_code, arn,
	attempts, next_attempt_at, request_hash, version, created_at, updated_at, created_by, succeeded_at, approval_expires_at`
	refundSelect = refundColumns + `, number, sweeps_left, processor_reference`
)

func scanRefund(s scanner) (*refund.Refund, error) {
	return scanRefundWith(s)
}

// scanRefundWith scans refundSelect's columns and then extra ones.
func scanRefundWith(s scanner, extra ...any) (*refund.Refund, error) {
	var r refund.Refund
	var items, vendors []byte
	var succeeded, approvalExpires *time.Time
	dest := append([]any{&r.ID, &r.MerchantID, &r.OrderID, &r.Seq, &r.Amount, &r.Currency, &r.Status, &r.Reason,
		&r.MerchantReference, &r.CaptureID, &items, &vendors, &r.NotifyURL, &r.Surface, &r.FailureCode,
		&r.FailureMessage, &r.ResponseCode, &r.RRN, &r.STAN, &r.AuthCode, &r.ARN,
		&r.Attempts, &r.NextAttemptAt, &r.RequestHash, &r.Version, &r.CreatedAt, &r.UpdatedAt, &r.CreatedBy, &succeeded, &approvalExpires, &r.Number, &r.SweepsLeft, &r.ProcessorReference}, extra...)
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	if succeeded != nil {
		r.SucceededAt = *succeeded
	}
	if approvalExpires != nil {
		r.ApprovalExpiresAt = *approvalExpires
	}
	if err := json.Unmarshal(items, &r.Items); err != nil {
		return nil, fmt.Errorf("refund %s items: %w", r.ID, err)
	}
	if err := json.Unmarshal(vendors, &r.Vendors); err != nil {
		return nil, fmt.Errorf("refund %s vendors: %w", r.ID, err)
	}
	if len(r.Items) == 0 {
		r.Items = nil
	}
	if len(r.Vendors) == 0 {
		r.Vendors = nil
	}
	return &r, nil
}

// qualify prefixes each of a column list's names with alias.
func qualify(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// jsonList encodes a refund's items or vendors; none is "[]".
func jsonList[T any](xs []T) (string, error) {
	if len(xs) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(xs)
	return string(b), err
}

// CreateRefund inserts r as given (Version included, usually 1) and
// assigns r.Number from the column's identity sequence. A duplicate
// non-empty (merchant, merchant_reference) returns
// EMerchantReferenceReused and leaves the transaction usable (ON CONFLICT
// DO NOTHING rather than a failed statement).
//
// After ReserveRefund, a refund without a merchant reference (nothing it
// could collide on but its id, which would fail the statement and so the
// transaction) travels with the next round trip, usually the COMMIT, and
// its number comes back with it.
func (t *tx) CreateRefund(ctx context.Context, r *refund.Refund) error {
	items, err := jsonList(r.Items)
	if err != nil {
		return fmt.Errorf("postgres: create refund: %w", err)
	}
	vendors, err := jsonList(r.Vendors)
	if err != nil {
		return fmt.Errorf("postgres: create refund: %w", err)
	}
	args := []any{r.ID, r.MerchantID, r.OrderID, r.Seq, r.Amount, r.Currency, string(r.Status), r.Reason, r.MerchantReference, r.CaptureID,
		items, vendors, r.NotifyURL, r.Surface, r.FailureCode, r.FailureMessage, r.ResponseCode, r.RRN, r.STAN, r.AuthCode, r.ARN,
		r.Attempts, r.NextAttemptAt, r.RequestHash, r.Version, r.CreatedAt, r.UpdatedAt, r.CreatedBy, nullTime(r.SucceededAt), nullTime(r.ApprovalExpiresAt)}
	const values = `$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30`
	if t.write && t.numberLater && r.MerchantReference == "" {
		// After ReserveRefund: the number comes back with the round trip
		// that carries the insert (nothing in the transaction reads it).
		t.numberLater = false
		t.q.join("refunds", held{op: "create refund", sql: `INSERT INTO refunds (` + refundColumns + `) VALUES (` + values + `) RETURNING number`,
			args: args, scan: func(row pgx.Row) error { return row.Scan(&r.Number) }})
		return nil
	}
	t.numberLater = false
	err = t.q.QueryRow(ctx, `INSERT INTO refunds (`+refundColumns+`) VALUES (`+values+`)
		ON CONFLICT (merchant_id, surface, merchant_reference) WHERE merchant_reference <> '' DO NOTHING
		RETURNING number`, args...).Scan(&r.Number)
	if errors.Is(err, pgx.ErrNoRows) {
		return refund.Errorf(refund.EMerchantReferenceReused, "merchant_reference",
			"merchant_reference %q was already used for another refund", r.MerchantReference)
	}
	if err != nil {
		return t.fail("create refund", err)
	}
	return nil
}

// GetRefund returns ERefundNotFound, also for another merchant's refund;
// merchantID "" matches any. Inside Update the row stays locked until
// commit (see forUpdate).
func (t *tx) GetRefund(ctx context.Context, merchantID, id string) (*refund.Refund, error) {
	query, args := `SELECT `+refundSelect+` FROM refunds WHERE id = $1`, []any{id}
	if merchantID != "" {
		query, args = query+` AND merchant_id = $2`, append(args, merchantID)
	}
	if !t.write {
		return t.getRefund(ctx, query, args, id)
	}
	// Inside Update, read ahead what finishing a refund asks next (see
	// ahead): its merchant's webhook endpoints, and whether it has a
	// credit note to settle (not the policy, which only a new refund
	// asks for; if it has a note, the note, its tax invoice,
	// the merchant and its invoice configuration travel with the guarded
	// update, see invoiceReads).
	note := `refund_id = $1 AND refund_id <> '' AND type = $2 AND merchant_id = (SELECT merchant_id FROM refunds WHERE id = $1)`
	b := &pgx.Batch{}
	b.Queue(query+t.forUpdate(), args...)
	queueAhead(b, `(SELECT merchant_id FROM refunds WHERE id = $1)`, []any{id}, false, note, []any{id, string(refund.InvoiceRefund)})
	br := t.q.SendBatch(ctx, b)
	defer br.Close()
	r, err := t.refundFrom(br.QueryRow(), id)
	if err != nil {
		return nil, err
	}
	f := refund.InvoiceFilter{MerchantID: r.MerchantID, RefundID: r.ID, Type: refund.InvoiceRefund, Limit: 1}
	if err := t.readAhead(br, r.MerchantID, false, f); err != nil {
		return nil, err
	}
	if err := br.Close(); err != nil {
		return nil, t.fail("get refund", err)
	}
	return r, nil
}

// GetRefundByMerchantReference returns ERefundNotFound. An empty reference
// finds nothing. Inside Update the row stays locked until commit.
func (t *tx) GetRefundByMerchantReference(ctx context.Context, merchantID, surface, ref string) (*refund.Refund, error) {
	if ref == "" {
		return nil, refund.Errorf(refund.ERefundNotFound, "", "refund not found")
	}
	return t.getRefund(ctx, `SELECT `+refundSelect+` FROM refunds WHERE merchant_id = $1 AND surface = $2 AND merchant_reference = $3`+t.forUpdate(),
		[]any{merchantID, surface, ref}, ref)
}

func (t *tx) getRefund(ctx context.Context, query string, args []any, name string) (*refund.Refund, error) {
	return t.refundFrom(t.q.QueryRow(ctx, query, args...), name)
}

// refundFrom reads the refund row; no row is ERefundNotFound.
func (t *tx) refundFrom(row pgx.Row, name string) (*refund.Refund, error) {
	r, err := scanRefund(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.ERefundNotFound, "", "refund %q not found", name)
	}
	if err != nil {
		return nil, t.fail("get refund", err)
	}
	if t.write {
		t.refundLocked = true
	}
	return r, nil
}

// ListRefunds returns refunds newest first (by id). An empty f.MerchantID
// lists every merchant's refunds; f.Limit <= 0 means 100.
func (t *tx) ListRefunds(ctx context.Context, f refund.RefundFilter) ([]*refund.Refund, error) {
	query, args := listRefundsQuery(f)
	return queryAll(ctx, t, "list refunds", query, scanRefund, args...)
}

// listRefundsQuery is ListRefunds' statement.
func listRefundsQuery(f refund.RefundFilter) (string, []any) {
	var where []string
	var p params
	if f.MerchantID != "" {
		where = append(where, "merchant_id = "+p.add(f.MerchantID))
	}
	if f.OrderID != "" {
		where = append(where, "order_id = "+p.add(f.OrderID))
	}
	switch f.Status {
	case "":
	case refund.StatusRequiresApproval:
		// Written in, so that the approvals queue walks the partial index
		// of the refunds waiting (refunds_approvals), which a generic plan
		// (the status a parameter) cannot use: the merchant's other
		// refunds may be many more than a page.
		where = append(where, "status = 'requires_approval'")
	default:
		where = append(where, "status = "+p.add(string(f.Status)))
	}
	if f.Surface != "" {
		where = append(where, "surface = "+p.add(f.Surface))
	}
	if f.Currency != "" {
		where = append(where, "currency = "+p.add(f.Currency))
	}
	if f.MinAmount > 0 {
		where = append(where, "amount >= "+p.add(f.MinAmount))
	}
	if f.MaxAmount > 0 {
		where = append(where, "amount <= "+p.add(f.MaxAmount))
	}
	if !f.CreatedAfter.IsZero() {
		where = append(where, "created_at >= "+p.add(f.CreatedAfter))
	}
	if !f.CreatedBefore.IsZero() {
		where = append(where, "created_at < "+p.add(f.CreatedBefore))
	}
	cmp, order := "<", "DESC"
	if f.OldestFirst {
		cmp, order = ">", "ASC"
	}
	if f.Cursor != "" {
		where = append(where, "id "+cmp+" "+p.add(f.Cursor))
	}
	return `SELECT ` + refundSelect + ` FROM refunds` + whereClause(where) + ` ORDER BY id ` + order + ` LIMIT ` + p.add(limit(f.Limit)), p
}

// LockOrderRefunds returns the order's refunds in statuses, oldest first.
// Inside Update it locks them as GetRefund does (FOR NO KEY UPDATE), in id
// order (the rows are locked as the sort returns them); unlike GetRefund
// it leaves refundLocked unset, so that the GetOrderForRefund that follows
// still locks the order, after them.
func (t *tx) LockOrderRefunds(ctx context.Context, merchantID, orderID string, statuses ...refund.Status) ([]*refund.Refund, error) {
	if len(statuses) == 0 {
		return nil, nil
	}
	names := make([]string, len(statuses))
	for i, st := range statuses {
		names[i] = string(st)
	}
	return queryAll(ctx, t, "lock order refunds", `SELECT `+refundSelect+` FROM refunds
		WHERE merchant_id = $1 AND order_id = $2 AND status = ANY($3) ORDER BY id`+t.forUpdate(), scanRefund, merchantID, orderID, names)
}

// ListSucceededRefunds returns a page of the merchant's refunds that
// succeeded in [f.From, f.To) and are succeeded still, in the order they
// succeeded, then by id.
func (t *tx) ListSucceededRefunds(ctx context.Context, f refund.SucceededFilter) ([]*refund.Refund, error) {
	query, p := listSucceededQuery(f)
	return queryAll(ctx, t, "list succeeded refunds", query, scanRefund, p...)
}

// listSucceededQuery is ListSucceededRefunds' statement: a keyset on
// refunds_succeeded (merchant_id, succeeded_at, id), so that each page
// starts where the last ended and a report's day costs its own refunds,
// not the merchant's history. Listed newest first by id, a generic plan
// walked the primary key backwards through every refund the merchant
// made (TestReconciliationListingUsesAnIndex).
func listSucceededQuery(f refund.SucceededFilter) (string, params) {
	var p params
	where := []string{"merchant_id = " + p.add(f.MerchantID), "succeeded_at >= " + p.add(f.From),
		"succeeded_at < " + p.add(f.To), "status = 'succeeded'"}
	if f.After != nil {
		where = append(where, "(succeeded_at, id) > ("+p.add(f.After.SucceededAt)+", "+p.add(f.After.ID)+")")
	}
	if f.ProcessorAccount != "" {
		// The literal <> '' lets a generic plan use the partial index on
		// processor_account.
		where = append(where, "order_id IN (SELECT id FROM orders WHERE processor_account = "+p.add(f.ProcessorAccount)+
			" AND processor_account <> '')")
	}
	return `SELECT ` + refundSelect + ` FROM refunds` + whereClause(where) + ` ORDER BY succeeded_at, id LIMIT ` + p.add(limit(f.Limit)), p
}

// UpdateRefund writes the mutable fields of r (status, reason, notify URL,
// failure and processor fields, attempts, next attempt, updated and
// succeeded times) if the stored version is still r.Version, then bumps
// r.Version. The rest (order, amount, shares, reference, number, request
// hash, creation) never change. Returns EConflict when another writer got
// there first and ERefundNotFound when there is no such refund.
func (t *tx) UpdateRefund(ctx context.Context, r *refund.Refund) error {
	id, version := r.ID, r.Version
	refused := func(why string) error {
		r.Version = version // the loser's copy stays as it was
		if why == "not found" {
			return refund.Errorf(refund.ERefundNotFound, "", "refund %q not found", id)
		}
		return refund.Errorf(refund.EConflict, "", "refund %q was changed concurrently (version %d is stale)", id, version)
	}
	err := t.refusing(ctx, "update refund", refused, `WITH u AS (UPDATE refunds SET status = $1, reason = $2, notify_url = $3,
		failure_code = $4, failure_message = $5, response_code = $6, rrn = $7, stan = $8, auth_code = $9, arn = $10,
		attempts = $11, next_attempt_at = $12, updated_at = $13, sweeps_left = $14, processor_reference = $17, succeeded_at = $18, version = version + 1
		WHERE id = $15 AND version = $16 RETURNING 1)
		SELECT CASE WHEN EXISTS (SELECT 1 FROM u) THEN true
			WHEN EXISTS (SELECT 1 FROM refunds WHERE id = $15) THEN refundd_refuse('conflict')
			ELSE refundd_refuse('not found') END`,
		string(r.Status), r.Reason, r.NotifyURL, r.FailureCode, r.FailureMessage, r.ResponseCode, r.RRN, r.STAN, r.AuthCode, r.ARN,
		r.Attempts, r.NextAttemptAt, r.UpdatedAt, r.SweepsLeft, r.ID, r.Version, r.ProcessorReference, nullTime(r.SucceededAt))
	if err == nil {
		// Inside Update the update is held (finishing a refund sends it
		// with the counters' batch) and r.Version moves now, so a second
		// update of r in this transaction names the version this one
		// leaves; a refusal puts it back.
		r.Version++
	}
	return err
}

// ClaimDueRefunds returns up to limit pending, processing or requires_review refunds whose
// NextAttemptAt <= now, earliest first, and moves their NextAttemptAt to
// now+lease, bumping Version, so that no other worker takes them during
// the lease. limit <= 0 claims nothing.
//
// One statement selects and leases: FOR UPDATE SKIP LOCKED makes claimers
// on several nodes pass over each other's rows (and rows a request is
// applying a result to) instead of queueing behind them, and the version
// bump fences whoever held the refund before.
func (t *tx) ClaimDueRefunds(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*refund.Refund, error) {
	if limit <= 0 {
		return nil, nil
	}
	type claimed struct {
		r   *refund.Refund
		was time.Time // NextAttemptAt before the claim: the order to return
	}
	cs, err := queryAll(ctx, t, "claim refunds", `WITH due AS (
			SELECT id, next_attempt_at FROM refunds
			WHERE (status IN ('requires_approval', 'pending', 'processing', 'requires_review') OR sweeps_left > 0) AND next_attempt_at <= $1
			ORDER BY next_attempt_at, id LIMIT $3
			FOR UPDATE SKIP LOCKED
		)
		UPDATE refunds r SET next_attempt_at = $2, version = r.version + 1
		FROM due WHERE r.id = due.id
		RETURNING `+qualify("r", refundSelect)+`, due.next_attempt_at`,
		func(s scanner) (c claimed, err error) {
			c.r, err = scanRefundWith(s, &c.was)
			return c, err
		},
		now, now.Add(lease), limit)
	if err != nil {
		return nil, err
	}
	// RETURNING has no order of its own.
	slices.SortFunc(cs, func(a, b claimed) int {
		if c := a.was.Compare(b.was); c != 0 {
			return c
		}
		return strings.Compare(a.r.ID, b.r.ID)
	})
	rs := make([]*refund.Refund, len(cs))
	for i, c := range cs {
		rs[i] = c.r
	}
	return rs, nil
}

// InsertTransition records state changes of refunds in one statement, in
// the order given, so their identity ids (ListTransitions' order) follow
// it. Up to valuesRows rows (a refund makes one or two at a time) go as
// VALUES, whose rows the server inserts in the list's order (a Values
// Scan feeding the Insert; how PostgreSQL is built rather than a
// documented promise, which the conformance suite checks). More go
// through unnest WITH ORDINALITY, ordered by it. unnest is a function
// scan, which the server runs by gathering its result in a tuplestore (a
// fresh 64 kB block from the C library each time) and then sorting it: in
// every refund, that cost about 9 % of PostgreSQL's refunds per second
// (docs/performance.md, "PostgreSQL: transitions as VALUES").
func (t *tx) InsertTransition(ctx context.Context, ts ...refund.Transition) error {
	if len(ts) == 0 {
		return nil
	}
	if len(ts) <= valuesRows {
		args := make([]any, 0, 5*len(ts))
		for _, tr := range ts {
			args = append(args, tr.RefundID, string(tr.From), string(tr.To), tr.Cause, tr.At)
		}
		return t.join(ctx, "insert transition", "refund_transitions", transitionValues[len(ts)-1], args...)
	}
	ids, from, to, cause := make([]string, len(ts)), make([]string, len(ts)), make([]string, len(ts)), make([]string, len(ts))
	at := make([]time.Time, len(ts))
	for i, tr := range ts {
		ids[i], from[i], to[i], cause[i], at[i] = tr.RefundID, string(tr.From), string(tr.To), tr.Cause, tr.At
	}
	return t.join(ctx, "insert transition", "refund_transitions", `INSERT INTO refund_transitions (refund_id, from_status, to_status, cause, at)
		SELECT r, f, t, c, a FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
			WITH ORDINALITY AS u (r, f, t, c, a, n) ORDER BY n`, ids, from, to, cause, at)
}

// valuesRows is the most transitions InsertTransition sends as VALUES: a
// text per count, so a few.
const valuesRows = 4

// transitionValues[n-1] inserts n transitions as VALUES.
var transitionValues = func() (texts [valuesRows]string) {
	for n := range texts {
		var b strings.Builder
		b.WriteString("INSERT INTO refund_transitions (refund_id, from_status, to_status, cause, at) VALUES ")
		for i := range n + 1 {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "($%d, $%d, $%d, $%d, $%d::timestamptz)", 5*i+1, 5*i+2, 5*i+3, 5*i+4, 5*i+5)
		}
		texts[n] = b.String()
	}
	return texts
}()

// ListTransitions returns a refund's transitions in the order they were
// recorded (none for an unknown refund).
func (t *tx) ListTransitions(ctx context.Context, refundID string) ([]refund.Transition, error) {
	return queryAll(ctx, t, "list transitions", `SELECT refund_id, from_status, to_status, cause, at FROM refund_transitions
		WHERE refund_id = $1 ORDER BY id`, func(s scanner) (refund.Transition, error) {
		var tr refund.Transition
		err := s.Scan(&tr.RefundID, &tr.From, &tr.To, &tr.Cause, &tr.At)
		return tr, err
	}, refundID)
}

// InsertEvent writes an outbox event.
func (t *tx) InsertEvent(ctx context.Context, e *refund.Event) error {
	return t.join(ctx, "insert event", "events", `INSERT INTO events (id, merchant_id, type, refund_id, order_id, data, request_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, e.ID, e.MerchantID, e.Type, e.RefundID, e.OrderID, e.Data, e.RequestID, e.CreatedAt)
}
