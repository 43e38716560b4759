package invoice_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/refund"
)

// TestCrossCheck_ZATCALibraries hands refundd's documents to two ZATCA
// libraries from the npm registry that refundd did not write
// (zatcacheck/check.mjs says what each checks): tax invoices, credit notes
// (of refunds, voids and chargebacks) and debit notes of random orders in SAR, KWD and JPY, sellers with Arabic
// names. It needs node and `npm ci` in zatcacheck; without them it skips,
// unless REFUNDD_ZATCA_CROSSCHECK is set (as .ci/run does), so CI never
// skips it.
func TestCrossCheck_ZATCALibraries(t *testing.T) {
	dir, err := filepath.Abs("zatcacheck")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "zatca-xml-js")); err != nil {
		missing = append(missing, "npm ci in invoice/zatcacheck")
	}
	if len(missing) > 0 {
		if os.Getenv("REFUNDD_ZATCA_CROSSCHECK") != "" {
			t.Fatalf("REFUNDD_ZATCA_CROSSCHECK is set but the cross-check cannot run: missing %s", strings.Join(missing, ", "))
		}
		t.Skipf("missing %s (.ci/run installs them)", strings.Join(missing, ", "))
	}

	type doc struct {
		Name string `json:"name"`
		XML  string `json:"xml"`
		QR   string `json:"qr"`
	}
	var docs []doc
	is := invoice.New(nil)
	prev, icv := refund.InitialInvoiceHash, int64(0)
	add := func(inv *refund.Invoice) {
		if len(docs)%3 != 2 { // most sealed as the core does; some left as older documents are
			icv++
			inv.ICV, inv.PreviousHash = icv, prev
			if err := is.Seal(inv); err != nil {
				t.Fatal(err)
			}
			prev = inv.Hash
		}
		d, err := invoice.NewDocument(inv)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc{Name: fmt.Sprintf("%s %s %s", inv.Type, inv.Serial, inv.Currency), XML: string(d.XML), QR: d.QR})
	}
	rng := rand.New(rand.NewPCG(3, 12))
	adj := rand.New(rand.NewPCG(5, 29))
	sellers := []refund.Seller{seller, {Name: "مؤسسة الواحة للتجارة", VATNumber: "300000000000003"}}
	for n := range 150 {
		cur := []string{"SAR", "KWD", "JPY"}[n%3]
		var items []refund.Item
		var sum int64
		for i := range 1 + rng.IntN(4) {
			it := line(fmt.Sprint(i), int64(1+rng.IntN(4)), int64(1+rng.IntN(90_000)), []string{"15", "5", "0"}[rng.IntN(3)], rng.IntN(5) != 0)
			items = append(items, it)
			sum += it.Amount
		}
		o := order(cur, sum+int64(rng.IntN(3))*int64(rng.IntN(5000)), items...)
		parent := sale(t, o)
		parent.Seller = sellers[n%2]
		add(parent)
		cn, err := invoice.New(nil).Refund(parent, &refund.Refund{ID: "re", Amount: 1 + rng.Int64N(parent.TotalAmount)}, parent.Seller)
		if err != nil {
			t.Fatal(err)
		}
		number(cn, parent, refund.InvoiceRefund, n)
		add(cn)
		if left := parent.TotalAmount - cn.TotalAmount; n%4 == 1 && left > 0 {
			// A void's or chargeback's note after the refund's: an amount
			// spread as an amount-only refund's, its own reason. Its own
			// source, so the documents above stay the ones they were.
			// n is 1 modulo 4 here: n/4 alternates the two reasons.
			an, err := invoice.New(nil).Credit(crediting(parent, cn), 1+adj.Int64N(left), []string{"void", "chargeback: fraud"}[n/4%2], parent.Seller)
			if err != nil {
				t.Fatal(err)
			}
			number(an, parent, refund.InvoiceRefund, n+2000)
			add(an)
		}
		if n%5 == 0 {
			dn, err := invoice.New(nil).Debit(cn, parent.Seller)
			if err != nil {
				t.Fatal(err)
			}
			number(dn, cn, refund.InvoiceDebit, n+1000)
			add(dn)
		}
	}
	in := filepath.Join(t.TempDir(), "documents.json")
	b, err := json.Marshal(docs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "check.mjs", in)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the libraries disagree with refundd: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(string(out)))

	// The check can fail: a QR whose VAT is off by one unit is caught.
	bad := docs[0]
	inv := sale(t, order("SAR", 1033, line("a", 1, 1033, "15", true)))
	inv.TaxAmount++ // the QR now says 1.36 of VAT; the XML's lines still 1.35
	d, err := invoice.NewDocument(inv)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := invoice.NewDocument(sale(t, order("SAR", 1033, line("a", 1, 1033, "15", true))))
	bad.XML, bad.QR = string(good.XML), d.QR
	b, _ = json.Marshal([]doc{bad})
	if err := os.WriteFile(in, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command("node", "check.mjs", in)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "VAT total") {
		t.Fatalf("a wrong QR passed the cross-check: %v %s", err, out)
	}
	// A QR stating another time than the XML's issue date and time (the
	// UTC instant, as refundd once wrote it) is caught.
	utc := sale(t, order("SAR", 1033, line("a", 1, 1033, "15", true)))
	utc.IssuedAt = utc.IssuedAt.Add(-3 * time.Hour) // the Saudi wall clock read as UTC
	d, err = invoice.NewDocument(utc)
	if err != nil {
		t.Fatal(err)
	}
	bad.XML, bad.QR = string(good.XML), d.QR
	b, _ = json.Marshal([]doc{bad})
	if err := os.WriteFile(in, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command("node", "check.mjs", in)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "time:") {
		t.Fatalf("a QR of another time passed the cross-check: %v %s", err, out)
	}
	// And a sealed document changed after sealing is caught by its hash.
	sealed := docs[0] // the first document is sealed
	sealed.XML = strings.Replace(sealed.XML, "<cbc:IssueTime>", "<cbc:IssueTime>0", 1)
	b, _ = json.Marshal([]doc{sealed})
	if err := os.WriteFile(in, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command("node", "check.mjs", in)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "hashes to") {
		t.Fatalf("a changed sealed document passed the cross-check: %v %s", err, out)
	}
	// A debit note whose billing reference names its credit note, not the
	// tax invoice (as refundd's once did), is caught (BR-KSA-56).
	var tax, debit *doc
	for i := range docs {
		switch {
		case tax == nil && strings.HasPrefix(docs[i].Name, string(refund.InvoiceSale)+" "):
			tax = &docs[i]
		case debit == nil && strings.HasPrefix(docs[i].Name, string(refund.InvoiceDebit)+" "):
			debit = &docs[i]
		}
	}
	if tax == nil || debit == nil {
		t.Fatal("no tax invoice or debit note among the documents")
	}
	wrong := *debit
	wrong.XML = regexp.MustCompile(`(<cac:InvoiceDocumentReference>\s*<cbc:ID>)[^<]*`).ReplaceAllString(wrong.XML, "${1}INV-202600100")
	b, _ = json.Marshal([]doc{*tax, wrong})
	if err := os.WriteFile(in, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command("node", "check.mjs", in)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "BR-KSA-56") {
		t.Fatalf("a debit note naming its credit note passed the cross-check: %v %s", err, out)
	}
}
