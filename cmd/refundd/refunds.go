package main

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/client"
	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// remoteFlags are the flags of commands that talk to a running refundd
// through the Go client.
type remoteFlags struct {
	url, key string
}

func (f *remoteFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", env("REFUNDD_URL", ""), "base URL of a running refundd (env REFUNDD_URL)")
	fs.StringVar(&f.url, "target", env("REFUNDD_URL", ""), "same as --url")
	fs.StringVar(&f.key, "key", env("REFUNDD_KEY", ""), "merchant API key (env REFUNDD_KEY)")
}

func (f *remoteFlags) client(cmd string) (*client.Client, error) {
	if f.url == "" || f.key == "" {
		return nil, usageError(cmd + " needs --url URL and --key KEY")
	}
	c, err := client.New(f.url, f.key)
	if err != nil {
		return nil, usageError(err.Error())
	}
	return c, nil
}

// parseInterleaved parses flags given before or after the positional
// arguments ("import FILE.csv --out result.csv").
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseArgs(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
}

// Columns of an import file. The order is named by order_reference (the
// merchant's reference, or else a refundd order id) or by order_id.
const (
	colOrderRef = "order_reference"
	colOrderID  = "order_id"
	colAmount   = "amount"
	colReason   = "reason"
	colMerchRef = "merchant_reference"
)

// importRow is one data row of an import file.
type importRow struct {
	line int // line number in the file (the header is line 1)
	// nth counts the rows before this one with the same order and amount:
	// the derived reference uses it, not the line number, so that deleting
	// or reordering other rows before a rerun cannot turn one refund into
	// two.
	nth         int
	order       string
	amount      string
	reason      string
	merchantRef string
	problem     *client.Error // a fault found before any request
}

// importResult is one line of the result file.
type importResult struct {
	row         importRow
	amount      string // normalised when it parsed, else as written
	status      string // the refund's status, or "error" when there is no refund
	refundID    string
	code, msg   string
	merchantRef string
}

const statusError = "error"

func runRefundsImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("refunds import", stderr)
	var rf remoteFlags
	rf.register(fs)
	out := fs.String("out", "", "write the result CSV to this file (default: stdout)")
	concurrency := fs.Int("concurrency", 4, "refunds sent at the same time (1-32)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("refunds import takes one FILE.csv")
	}
	if *concurrency < 1 || *concurrency > 32 {
		return usageError("--concurrency must be from 1 to 32")
	}
	c, err := rf.client("refunds import")
	if err != nil {
		return err
	}
	orderCol, rows, err := readImportFile(pos[0])
	if err != nil {
		return err
	}
	// The key is checked first, so a wrong URL or key is one clear error
	// rather than one per row (errorText names the server or the key).
	if err := checkImportKey(ctx, c); err != nil {
		return fmt.Errorf("refunds import: %w", err)
	}

	w, commit, err := createOutput(*out, stdout)
	if err != nil {
		return err
	}
	defer commit(false)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"row", orderCol, "amount", "status", "refund_id", "error_code", "error_message", "merchant_reference"})

	im := &importer{c: c, byID: orderCol == colOrderID, orders: map[string]*orderEntry{}}
	prog := newProgress(stderr, "refunds import", len(rows))
	counts := map[string]int{}
	for res := range im.run(ctx, rows, *concurrency) {
		_ = cw.Write([]string{strconv.Itoa(res.row.line), res.row.order, res.amount, res.status, res.refundID, res.code, res.msg, res.merchantRef})
		cw.Flush() // each row is on disk as soon as it is known
		counts[res.status]++
		prog.add(res.status == statusError)
	}
	prog.done()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("refunds import: writing results: %w", err)
	}
	if err := commit(true); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "refunds import: %d rows: %s\n", len(rows), summary(counts))
	// A refund that failed (declined) or was canceled refunded nothing
	// either: a script must not take the run for a success.
	nErr := counts[statusError]
	nFail := counts[string(client.StatusFailed)] + counts[string(client.StatusCanceled)] + counts[string(client.StatusReversed)]
	if nErr+nFail > 0 {
		var why []string
		if nErr > 0 {
			why = append(why, fmt.Sprintf("%d got no refund (see error_code in the result); rerunning the file is safe", nErr))
		}
		if nFail > 0 {
			// The reference answers the same refund on a rerun. A new
			// file, not this one edited: a derived reference counts the
			// rows above it of the same order and amount, and editing
			// one of them would renumber the rows below.
			why = append(why, fmt.Sprintf("%d made a refund that failed or was canceled (see status and error_code), which a rerun only answers again: "+
				"to try such rows again, import them from a new file, each with a new merchant_reference", nFail))
		}
		return fmt.Errorf("refunds import: %d of %d rows were not refunded: %s", nErr+nFail, len(rows), strings.Join(why, "; "))
	}
	return ctx.Err()
}

// checkImportKey asks the server whether the key may do what an import
// does, find orders (orders:read) and refund them (refunds:write), and
// names every scope it lacks at once: told of one, an operator would fix
// it and be refused for the next. Nothing is created: the refund asked
// for names no order, which a key holding refunds:write is refused as an
// invalid request, and one without it as forbidden, the scope being
// checked first (refund.Service.CreateRefund).
func checkImportKey(ctx context.Context, c *client.Client) error {
	var missing []string
	lacks := func(err error, scope string) error {
		var e *client.Error
		switch {
		case err == nil:
			return nil
		case errors.As(err, &e) && e.Code == refund.EForbidden && strings.Contains(e.Message, scope):
			missing = append(missing, scope)
			return nil
		}
		return err
	}
	if _, err := c.ListOrders(ctx, client.ListOrdersParams{Limit: 1}); lacks(err, refund.ScopeOrdersRead) != nil {
		return err
	}
	_, err := c.CreateRefund(ctx, client.CreateRefundParams{})
	if client.ErrorCode(err) != refund.EInvalidRequest {
		if err == nil {
			return errors.New("the server refunded a request that names no order")
		}
		if err := lacks(err, refund.ScopeRefundsWrite); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the key lacks %s; an import needs a key with %s and %s (refundd key create --scope %s --scope %s, or a key made without --scope)",
			strings.Join(missing, " and "), refund.ScopeOrdersRead, refund.ScopeRefundsWrite, refund.ScopeOrdersRead, refund.ScopeRefundsWrite)
	}
	return nil
}

// summary lists status counts, the usual statuses in a fixed order and
// any other after them (a status this list does not know yet still
// counts), then the rows not refunded.
func summary(counts map[string]int) string {
	order := []string{"succeeded", "processing", "pending", "requires_approval", "requires_review", "failed", "canceled", "reversed"}
	var others []string
	for s := range counts {
		if s != statusError && !slices.Contains(order, s) {
			others = append(others, s)
		}
	}
	slices.Sort(others)
	var parts []string
	for _, s := range append(order, others...) {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	if counts[statusError] > 0 {
		parts = append(parts, fmt.Sprintf("%d not refunded", counts[statusError]))
	}
	if len(parts) == 0 {
		return "nothing to do"
	}
	return strings.Join(parts, ", ")
}

// readImportFile reads the whole file: a bad header is an error before
// anything is sent; a bad row becomes that row's error.
func readImportFile(path string) (orderCol string, rows []importRow, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	r := csv.NewReader(api.WithoutBOM(f))
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return "", nil, fmt.Errorf("%s: empty file; want a header row: %s,%s,%s,%s", path, colOrderRef, colAmount, colReason, colMerchRef)
	}
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		switch h {
		case colOrderRef, colOrderID, colAmount, colReason, colMerchRef:
		default:
			return "", nil, fmt.Errorf("%s: unknown column %q; want %s (or %s), %s, %s, %s", path, h, colOrderRef, colOrderID, colAmount, colReason, colMerchRef)
		}
		if _, dup := col[h]; dup {
			return "", nil, fmt.Errorf("%s: column %q appears twice", path, h)
		}
		col[h] = i
	}
	_, hasRef := col[colOrderRef]
	_, hasID := col[colOrderID]
	_, hasAmount := col[colAmount]
	switch {
	case hasRef == hasID:
		return "", nil, fmt.Errorf("%s: the header needs exactly one of %s and %s", path, colOrderRef, colOrderID)
	case !hasAmount:
		return "", nil, fmt.Errorf("%s: the header needs an %s column", path, colAmount)
	}
	orderCol = colOrderRef
	if hasID {
		orderCol = colOrderID
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	seenRef := map[string]int{}
	seenContent := map[string]int{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return orderCol, rows, nil
		}
		if err != nil && !errors.Is(err, csv.ErrFieldCount) {
			return "", nil, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		row := importRow{line: line, order: field(rec, orderCol), amount: field(rec, colAmount),
			reason: field(rec, colReason), merchantRef: field(rec, colMerchRef)}
		content := row.order + "\x00" + amountKey(row.amount)
		row.nth = seenContent[content]
		seenContent[content]++
		switch {
		case err != nil:
			row.problem = &client.Error{Code: refund.EInvalidRequest, Message: fmt.Sprintf("row has %d fields, the header %d", len(rec), len(header))}
		case row.order == "":
			row.problem = &client.Error{Code: refund.EInvalidRequest, Param: orderCol, Message: orderCol + " is empty"}
		case row.amount == "":
			// A missing amount would refund the whole remainder; in a bulk
			// file that is far more likely a mistake than the intent.
			row.problem = &client.Error{Code: refund.EInvalidAmount, Param: colAmount, Message: "amount is empty; give the amount to refund"}
		case row.merchantRef != "" && seenRef[row.merchantRef] != 0:
			row.problem = &client.Error{Code: refund.EMerchantReferenceReused, Param: colMerchRef,
				Message: fmt.Sprintf("merchant_reference %q is also on row %d", row.merchantRef, seenRef[row.merchantRef])}
		}
		if row.merchantRef != "" && seenRef[row.merchantRef] == 0 {
			seenRef[row.merchantRef] = line
		}
		rows = append(rows, row)
	}
}

// amountKey writes a decimal amount one way ("01.50" and "1.5" are
// "1.5"), so that rows asking for the same amount are counted together
// (importRow.nth) however each is written: counted apart, each would be
// the first of its kind, all would derive one reference, and all but one
// would answer the first's refund instead of making their own. Text that
// is no plain decimal is kept as it is; its row fails anyway.
func amountKey(s string) string {
	whole, frac, dot := strings.Cut(s, ".")
	digits := func(d string) bool {
		return d != "" && strings.Trim(d, "0123456789") == ""
	}
	if !digits(whole) || dot && !digits(frac) {
		return s
	}
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	if frac = strings.TrimRight(frac, "0"); frac == "" {
		return whole
	}
	return whole + "." + frac
}

// importer sends the rows of one file.
type importer struct {
	c      *client.Client
	byID   bool // the order column holds refundd order ids
	mu     sync.Mutex
	orders map[string]*orderEntry
}

// orderEntry is one order lookup, shared by every row naming that order.
type orderEntry struct {
	once  sync.Once
	order *client.Order
	err   error
}

// run refunds rows with n workers and yields the results in file order,
// each as soon as it and every row before it are done.
func (im *importer) run(ctx context.Context, rows []importRow, n int) func(func(importResult) bool) {
	return func(yield func(importResult) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		next := make(chan int)
		type done struct {
			i   int
			res importResult
		}
		results := make(chan done)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				// A row once started is always reported: its refund may
				// exist even if the import is being interrupted.
				for i := range next {
					results <- done{i, im.one(ctx, rows[i])}
				}
			})
		}
		go func() {
			defer close(next)
			for i := range rows {
				select {
				case next <- i:
				case <-ctx.Done():
					return
				}
			}
		}()
		go func() { wg.Wait(); close(results) }()
		waiting := map[int]importResult{}
		want := 0
		for d := range results {
			waiting[d.i] = d.res
			for r, ok := waiting[want]; ok; r, ok = waiting[want] {
				delete(waiting, want)
				want++
				if !yield(r) {
					cancel()
					go func() {
						for range results { // let the workers finish and exit
						}
					}()
					return
				}
			}
		}
		// Canceled (Ctrl-C): every row not sent still gets a result line.
		for ; want < len(rows); want++ {
			r, ok := waiting[want]
			if !ok {
				r = importResult{row: rows[want], amount: rows[want].amount, status: statusError, code: "canceled", msg: "not sent: the import was interrupted"}
			}
			if !yield(r) {
				return
			}
		}
	}
}

// one refunds one row.
func (im *importer) one(ctx context.Context, row importRow) importResult {
	res := importResult{row: row, amount: row.amount, status: statusError}
	fail := func(err error) importResult {
		if e, ok := errors.AsType[*client.Error](err); ok {
			res.code, res.msg = e.Code, e.Message
			if e.Code == "" {
				res.code = "http_" + strconv.Itoa(e.StatusCode)
			}
		} else if ctx.Err() != nil {
			res.code, res.msg = "canceled", "interrupted while sending; rerun the file to see whether this refund was made"
		} else {
			res.code, res.msg = "request_failed", err.Error()
		}
		return res
	}
	if row.problem != nil {
		return fail(row.problem)
	}
	o, err := im.order(ctx, row.order)
	if err != nil {
		return fail(err)
	}
	cur, err := money.LookupCurrency(o.Currency)
	if err != nil {
		return fail(&client.Error{Code: refund.EUnsupportedCurrency, Message: err.Error()})
	}
	minor, err := money.ParseDecimal(row.amount, cur)
	if err != nil {
		return fail(&client.Error{Code: refund.EInvalidAmount, Param: colAmount, Message: err.Error()})
	}
	res.amount = money.Format(minor, cur)
	if minor == 0 {
		return fail(&client.Error{Code: refund.EInvalidAmount, Param: colAmount, Message: "amount must be more than zero"})
	}
	res.merchantRef = row.merchantRef
	if res.merchantRef == "" {
		res.merchantRef = derivedReference(row.order, minor, cur.Code, row.nth)
	}
	// The merchant reference doubles as the idempotency key: a rerun of
	// the file, or a retry, answers the refund already made.
	r, err := im.c.CreateRefund(ctx, client.CreateRefundParams{OrderID: o.ID, Amount: &minor, Reason: row.reason,
		MerchantReference: res.merchantRef, IdempotencyKey: res.merchantRef})
	if code := client.ErrorCode(err); code == refund.EIdempotencyKeyReused || code == refund.EMerchantReferenceReused {
		// The reference was used with another request: most often this
		// row's own refund, made by an earlier run before the reason was
		// edited (the reason is part of the request, not of the
		// reference). Reported as not refunded, it would be refunded
		// again by hand.
		if made, lerr := im.madeUnder(ctx, o.ID, res.merchantRef); lerr == nil && made != nil && made.Amount == minor {
			res.status, res.refundID, res.code = string(made.Status), made.ID, made.FailureCode
			res.msg = fmt.Sprintf("made by an earlier run under this merchant_reference, with reason %q", made.Reason)
			if made.FailureMessage != "" {
				res.msg = made.FailureMessage + " (" + res.msg + ")"
			}
			return res
		} else if made != nil {
			err = &client.Error{Code: code, Param: colMerchRef, Message: fmt.Sprintf("merchant_reference %q is refund %s of %s, not of %s",
				res.merchantRef, made.ID, money.Format(made.Amount, cur), res.amount)}
		}
	}
	if err != nil {
		return fail(err)
	}
	res.status, res.refundID, res.code, res.msg = string(r.Status), r.ID, r.FailureCode, r.FailureMessage
	return res
}

// madeUnder finds the order's refund made on the native API under a
// merchant reference (nil when there is none).
func (im *importer) madeUnder(ctx context.Context, orderID, ref string) (*client.Refund, error) {
	for r, err := range im.c.AllRefunds(ctx, client.ListRefundsParams{OrderID: orderID, Limit: refund.MaxPageSize}) {
		if err != nil {
			return nil, err
		}
		if r.MerchantReference == ref && (r.Surface == "native" || r.Surface == "") {
			return r, nil
		}
	}
	return nil, nil
}

// derivedReference names a row without a merchant_reference. The same row
// of the same file always gets the same one, so rerunning the file answers
// the refunds already made instead of making them again. The reason is
// left out on purpose: editing it must not turn a rerun into new refunds.
func derivedReference(order string, minor int64, currency string, nth int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%s\x00%d", order, minor, currency, nth))
	return "imp-" + hex.EncodeToString(h[:12])
}

// order resolves an order column value once per run: by id for an
// order_id column; for order_reference, by the merchant's reference and
// then, failing that, as a refundd order id.
func (im *importer) order(ctx context.Context, name string) (*client.Order, error) {
	im.mu.Lock()
	e, ok := im.orders[name]
	if !ok {
		e = &orderEntry{}
		im.orders[name] = e
	}
	im.mu.Unlock()
	e.once.Do(func() {
		if !im.byID {
			page, err := im.c.ListOrders(ctx, client.ListOrdersParams{Reference: name, Limit: 1})
			if err != nil {
				e.err = err
				return
			}
			if len(page.Data) == 1 {
				e.order = &page.Data[0]
				return
			}
		}
		e.order, e.err = im.c.GetOrder(ctx, name)
		if client.ErrorCode(e.err) == refund.EOrderNotFound {
			e.err = &client.Error{StatusCode: 404, Code: refund.EOrderNotFound, Message: fmt.Sprintf("no order %q", name)}
		}
	})
	return e.order, e.err
}

// progress reports rows done on stderr: a bar redrawn in place on a
// terminal, otherwise a plain line every progressEvery rows, so logs stay
// readable.
type progress struct {
	w          io.Writer
	label      string
	tty        bool
	total, n   int
	errs       int
	lastPct    int
	everyLines int
}

const progressEvery = 100

func newProgress(w io.Writer, label string, total int) *progress {
	return &progress{w: w, label: label, tty: isTerminal(w), total: total, lastPct: -1, everyLines: progressEvery}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *progress) add(failed bool) {
	p.n++
	if failed {
		p.errs++
	}
	if p.tty {
		pct := 100
		if p.total > 0 {
			pct = p.n * 100 / p.total
		}
		if pct == p.lastPct && p.n != p.total {
			return // redraw only when something visible changes
		}
		p.lastPct = pct
		const width = 30
		bar := strings.Repeat("#", pct*width/100) + strings.Repeat(".", width-pct*width/100)
		fmt.Fprintf(p.w, "\r%s [%s] %3d%% %d/%d rows, %d errors", p.label, bar, pct, p.n, p.total, p.errs)
		return
	}
	if p.n%p.everyLines == 0 || p.n == p.total {
		fmt.Fprintf(p.w, "%s: %d/%d rows, %d errors\n", p.label, p.n, p.total, p.errs)
	}
}

func (p *progress) done() {
	if p.tty && p.n > 0 {
		fmt.Fprintln(p.w)
	}
}

// createOutput opens path for writing, or returns stdout when path is
// empty. A file is written beside its final name and renamed only by
// commit(true), so a run that fails never leaves a truncated file that
// looks complete.
func createOutput(path string, stdout io.Writer) (io.Writer, func(ok bool) error, error) {
	if path == "" {
		return stdout, func(bool) error { return nil }, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, nil, err
	}
	finished := false
	return tmp, func(ok bool) error {
		if finished {
			return nil
		}
		finished = true
		if !ok {
			tmp.Close()
			return os.Remove(tmp.Name())
		}
		if err := tmp.Close(); err != nil {
			os.Remove(tmp.Name())
			return err
		}
		return os.Rename(tmp.Name(), path)
	}, nil
}

func runRefundsExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("refunds export", stderr)
	var rf remoteFlags
	rf.register(fs)
	from := fs.String("from", "", "first day (YYYY-MM-DD, UTC) or instant (RFC 3339) of refund creation")
	to := fs.String("to", "", "last day (YYYY-MM-DD, UTC, included) or instant (RFC 3339, excluded)")
	out := fs.String("out", "", "write the CSV to this file (default: stdout)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("refunds export takes no arguments; did you mean --out " + pos[0] + "?")
	}
	c, err := rf.client("refunds export")
	if err != nil {
		return err
	}
	var params client.ListRefundsParams
	if params.CreatedAfter, err = parseDay("--from", *from, false); err != nil {
		return err
	}
	if params.CreatedBefore, err = parseDay("--to", *to, true); err != nil {
		return err
	}
	if !params.CreatedAfter.IsZero() && !params.CreatedBefore.IsZero() && !params.CreatedAfter.Before(params.CreatedBefore) {
		return usageError("--from must be before --to")
	}
	params.Limit = refund.MaxPageSize

	w, commit, err := createOutput(*out, stdout)
	if err != nil {
		return err
	}
	defer commit(false)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"refund_id", "order_id", "order_reference", "merchant_reference", "status", "amount", "amount_minor",
		"currency", "arn", "rrn", "created_at", "updated_at"})
	refs := &orderRefs{c: c, refs: map[string]string{}}
	totals := map[string]*currencyTotals{}
	n := 0
	for r, err := range c.AllRefunds(ctx, params) {
		if err != nil {
			return fmt.Errorf("refunds export: %w", err)
		}
		cur, err := money.LookupCurrency(r.Currency)
		if err != nil {
			return fmt.Errorf("refunds export: refund %s: %w", r.ID, err)
		}
		orderRef, err := refs.get(ctx, r.OrderID)
		if err != nil {
			return fmt.Errorf("refunds export: order %s: %w", r.OrderID, err)
		}
		_ = cw.Write([]string{cell(r.ID), cell(r.OrderID), cell(orderRef), cell(r.MerchantReference), cell(string(r.Status)), money.Format(r.Amount, cur),
			strconv.FormatInt(r.Amount, 10), cell(r.Currency), cell(r.ARN), cell(r.RRN), stamp(r.CreatedAt), stamp(r.UpdatedAt)})
		t := totals[r.Currency]
		if t == nil {
			t = &currencyTotals{cur: cur}
			totals[r.Currency] = t
		}
		t.add(r)
		n++
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("refunds export: %w", err)
	}
	if err := commit(true); err != nil {
		return err
	}
	if refs.forbidden {
		// Said, or the empty column reads as orders without references.
		fmt.Fprintln(stderr, "refunds export: the key may not read orders (orders:read), so order_reference is empty on every row")
	}
	printTotals(stderr, n, totals)
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// cell is text from outside (a processor's ARN or report, an order's
// reference) as a CSV cell: one that starts with =, +, -, @, a tab or a
// carriage return would run as a formula in the spreadsheet an operator
// opens the file in (CSV injection), so it goes behind a single quote, as
// OWASP advises. Amounts and ids refundd writes never start so.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// parseDay reads --from/--to: a calendar day in UTC or an RFC 3339
// instant. A day given as --to includes that whole day.
func parseDay(flagName, s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, usageError(fmt.Sprintf("%s %q: want YYYY-MM-DD or an RFC 3339 time", flagName, s))
	}
	return t, nil
}

// orderRefs looks up each order's reference once. A key without
// orders:read exports without references rather than failing.
type orderRefs struct {
	c         *client.Client
	refs      map[string]string
	forbidden bool
}

func (o *orderRefs) get(ctx context.Context, orderID string) (string, error) {
	if ref, ok := o.refs[orderID]; ok || o.forbidden {
		return ref, nil
	}
	ord, err := o.c.GetOrder(ctx, orderID)
	switch client.ErrorCode(err) {
	case "":
		if err != nil {
			return "", err
		}
		o.refs[orderID] = ord.Reference
		return ord.Reference, nil
	case refund.EForbidden:
		o.forbidden = true
		return "", nil
	case refund.EOrderNotFound:
		o.refs[orderID] = ""
		return "", nil
	}
	return "", err
}

// currencyTotals sums one currency's refunds by outcome, in minor units.
type currencyTotals struct {
	cur                                  money.Currency
	count                                int
	all, succeeded, inFlight, unrefunded int64
}

func (t *currencyTotals) add(r *client.Refund) {
	// Capped, never wrapped: refunds of the largest orders add up past an
	// int64.
	t.count++
	t.all = money.AddCapped(t.all, r.Amount)
	switch r.Status {
	case client.StatusSucceeded:
		t.succeeded = money.AddCapped(t.succeeded, r.Amount)
	case client.StatusFailed, client.StatusCanceled, client.StatusReversed:
		t.unrefunded = money.AddCapped(t.unrefunded, r.Amount) // no money left the merchant
	default:
		// pending, processing, requires_approval, requires_review, or a
		// status this command does not know yet: the amount is reserved
		// and may be paid (under review: may have been), so it is never
		// shown as not refunded.
		t.inFlight = money.AddCapped(t.inFlight, r.Amount)
	}
}

func printTotals(w io.Writer, n int, totals map[string]*currencyTotals) {
	fmt.Fprintf(w, "refunds export: %d refunds\n", n)
	if n == 0 {
		return
	}
	codes := make([]string, 0, len(totals))
	for c := range totals {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "currency\trefunds\ttotal\tsucceeded\tin flight\tnot refunded\t")
	for _, code := range codes {
		t := totals[code]
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", code, t.count, money.Format(t.all, t.cur), money.Format(t.succeeded, t.cur),
			money.Format(t.inFlight, t.cur), money.Format(t.unrefunded, t.cur))
	}
	tw.Flush()
}
