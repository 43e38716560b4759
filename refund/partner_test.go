package refund_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/sqlite"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// newPartnerService is a service on a fresh SQLite file with the sandbox
// acquirer.
func newPartnerService(t *testing.T) *refund.Service {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var n atomic.Int64
	svc, err := refund.NewService(refund.Config{Store: st, Processor: sandbox.New(sandbox.Config{}),
		NewID: func(p string) string { return fmt.Sprintf("%s_%012d", p, n.Add(1)) }})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestActForMerchant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := newPartnerService(t)
	linked, merchantKey, err := svc.CreateMerchant(ctx, refund.MerchantInput{Name: "Linked", CR: "1010101010", Email: "a@linked.example"})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := svc.CreateMerchant(ctx, refund.MerchantInput{Name: "Other", CR: "2020202020"})
	if err != nil {
		t.Fatal(err)
	}
	partner, partnerKey, err := svc.CreatePartner(ctx, "Platform", []string{linked.ID})
	if err != nil {
		t.Fatal(err)
	}
	_, otherPartnerKey, err := svc.CreatePartner(ctx, "Other platform", []string{other.ID})
	if err != nil {
		t.Fatal(err)
	}
	auth := func(key string) refund.Principal {
		p, err := svc.Authenticate(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p, merchant, otherPartner := auth(partnerKey), auth(merchantKey), auth(otherPartnerKey)
	// A token names the partner and its key's prefix; one naming another
	// partner's key is refused.
	borrowed := refund.Principal{PartnerID: partner.ID, KeyPrefix: otherPartner.KeyPrefix, Scopes: p.Scopes}

	for _, tc := range []struct {
		name         string
		p            refund.Principal
		field, value string
		code         string
	}{
		{"OK", p, "cr", "1010101010", ""},
		{"OKByEmail", p, "email", "a@linked.example", ""},
		{"ErrMerchantIsNoPartner", merchant, "cr", "1010101010", refund.EForbidden},
		{"ErrUnlinked", p, "cr", "2020202020", refund.EMerchantNotFound},
		{"ErrMissing", p, "cr", "3030303030", refund.EMerchantNotFound},
		{"ErrOtherPartnersKey", borrowed, "cr", "1010101010", refund.EUnauthorized},
		{"ErrNoKey", refund.Principal{PartnerID: partner.ID, Scopes: p.Scopes}, "cr", "1010101010", refund.EUnauthorized},
		{"ErrUnknownField", p, "iban", "x", refund.EInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			act, err := svc.ActForMerchant(ctx, tc.p, tc.field, tc.value, "")
			if refund.ErrorCode(err) != tc.code && !(tc.code == "" && err == nil) {
				t.Fatalf("want %q, got %v", tc.code, err)
			}
			if tc.code != "" {
				return
			}
			if act.MerchantID != linked.ID || act.PartnerID != partner.ID {
				t.Fatalf("acting principal %+v", act)
			}
			// It may find and refund the merchant's orders, nothing more.
			if _, err := svc.CreateOrder(ctx, act, refund.OrderInput{Currency: "SAR", Amount: 100}); refund.ErrorCode(err) != refund.EForbidden {
				t.Fatalf("a partner created an order: %v", err)
			}
			o, err := svc.CreateOrder(ctx, merchant, refund.OrderInput{Reference: "ORD-" + tc.name, Currency: "SAR", Amount: 100})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.FindOrder(ctx, act, o.Reference); err != nil {
				t.Fatal(err)
			}
			if r, err := svc.CreateRefund(ctx, act, refund.RefundInput{OrderID: o.ID}); err != nil || r.Amount != 100 || r.Number <= 0 {
				t.Fatalf("refund %+v, %v", r, err)
			}
		})
	}

	// Missing and unlinked read the same, given the same value.
	_, missing := svc.ActForMerchant(ctx, p, "cr", "4040404040", "")
	if _, _, err := svc.CreateMerchant(ctx, refund.MerchantInput{Name: "Late", CR: "4040404040"}); err != nil {
		t.Fatal(err)
	}
	_, unlinked := svc.ActForMerchant(ctx, p, "cr", "4040404040", "")
	if missing == nil || missing.Error() != unlinked.Error() {
		t.Fatalf("missing %v and unlinked %v differ", missing, unlinked)
	}

	// Revoking the partner's key stops it at once.
	if err := svc.RevokeKey(ctx, p.KeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ActForMerchant(ctx, p, "cr", "1010101010", ""); refund.ErrorCode(err) != refund.EUnauthorized {
		t.Fatalf("revoked key: %v", err)
	}
}

// TestActForMerchant_SharedValue: two merchants linked to the partner
// share a cr (one owner's shops). The order the request names decides
// which one the partner acts for: refundd's order id, or a reference only
// one of them holds; a reference both hold, or none, is refused, and an
// order neither holds is not found.
func TestActForMerchant_SharedValue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := newPartnerService(t)
	var ms []*refund.Merchant
	var orders []*refund.Order
	for i, name := range []string{"Shop one", "Shop two"} {
		m, key, err := svc.CreateMerchant(ctx, refund.MerchantInput{Name: name, CR: "6060606060"})
		if err != nil {
			t.Fatal(err)
		}
		mp, err := svc.Authenticate(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range []string{"ORD-BOTH", fmt.Sprintf("ORD-ONLY-%d", i)} {
			o, err := svc.CreateOrder(ctx, mp, refund.OrderInput{Reference: ref, Currency: "SAR", Amount: 100})
			if err != nil {
				t.Fatal(err)
			}
			orders = append(orders, o)
		}
		ms = append(ms, m)
	}
	_, key, err := svc.CreatePartner(ctx, "Platform", []string{ms[0].ID, ms[1].ID})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Authenticate(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, order string
		want        *refund.Merchant
		code        string
	}{
		{"OrderIDOfTheSecond", orders[3].ID, ms[1], ""},
		{"OrderIDOfTheFirst", orders[0].ID, ms[0], ""},
		{"ReferenceOnlyTheFirstHas", "ORD-ONLY-0", ms[0], ""},
		{"ReferenceOnlyTheSecondHas", "ORD-ONLY-1", ms[1], ""},
		{"ErrReferenceBothHave", "ORD-BOTH", nil, refund.EInvalidRequest},
		{"ErrNoOrder", "", nil, refund.EInvalidRequest},
		{"ErrOrderNeitherHas", "ORD-NONE", nil, refund.EOrderNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			act, err := svc.ActForMerchant(ctx, p, "cr", "6060606060", tc.order)
			if tc.code != "" {
				if refund.ErrorCode(err) != tc.code {
					t.Fatalf("want %s, got %v", tc.code, err)
				}
				return
			}
			if err != nil || act.MerchantID != tc.want.ID {
				t.Fatalf("acting for %q, %v; want %s", act.MerchantID, err, tc.want.ID)
			}
		})
	}
}

// TestCreateRefund_VendorExceedsMessage: a vendor share over its limit is
// named, with amounts in the currency rather than minor units.
func TestCreateRefund_VendorExceedsMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := newPartnerService(t)
	_, key, err := svc.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Authenticate(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "KWD", Amount: 75500, Vendors: []refund.VendorInput{
		{ID: "vendor-a", Amount: 50000}, {ID: "vendor-b", Amount: 25500}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID,
		Vendors: []refund.RefundVendor{{VendorID: "vendor-a", Amount: 1000}, {VendorID: "vendor-b", Amount: 25501}}})
	want := `refund of 25.501 KWD from vendor "vendor-b" exceeds its refundable 25.500 KWD`
	if refund.ErrorCode(err) != refund.EAmountExceedsRefundable || refund.ErrorParam(err) != "vendors[vendor-b]" ||
		!strings.Contains(refund.ErrorMessage(err), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}
