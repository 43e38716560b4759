package refund

import (
	"context"
	"strings"
	"sync"
	"time"
)

// DefaultTimeZone is a merchant's zone until an operator sets another:
// Saudi time, like invoices.
const DefaultTimeZone = "Asia/Riyadh"

// zones caches loaded locations by name: time.LoadLocation reads and
// parses the zone file on every call.
var zones sync.Map // string -> *time.Location

// LoadZone returns the IANA time zone name, or EInvalidRequest when the
// name is not one. "Local" (whatever the machine is set to) and "" are
// refused: a merchant's day must not depend on the node that serves it.
// The binary embeds the zone database (time/tzdata), so every zone loads
// on a machine without one.
func LoadZone(name string) (*time.Location, error) {
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	bad := Errorf(EInvalidRequest, "time_zone", "%q is not an IANA time zone name such as Asia/Riyadh", name)
	if name == "" || name == "Local" || len(name) > 64 || strings.ContainsAny(name, " \\") {
		return nil, bad
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, bad
	}
	zones.Store(name, loc)
	return loc, nil
}

// Location returns the merchant's time zone. A name that no longer loads
// (a zone database without it) falls back to the default zone, and that
// to Saudi time as a fixed offset, so a page always renders.
func (m *Merchant) Location() *time.Location {
	name := m.TimeZone
	if name == "" {
		name = DefaultTimeZone
	}
	if loc, err := LoadZone(name); err == nil {
		return loc
	}
	if loc, err := LoadZone(DefaultTimeZone); err == nil {
		return loc
	}
	return InvoiceZone
}

// SetMerchantTimeZone sets the zone the console shows a merchant's dates
// in and counts its days in (an operator's command: refundd merchant
// set-time-zone). Returns EInvalidRequest for a name that is not a zone,
// EMerchantNotFound.
func (s *Service) SetMerchantTimeZone(ctx context.Context, merchantID, zone string) (*Merchant, error) {
	if _, err := LoadZone(zone); err != nil {
		return nil, err
	}
	var m *Merchant
	err := s.write(ctx, func(tx Tx) (err error) {
		if m, err = tx.GetMerchant(ctx, merchantID); err != nil {
			return err
		}
		if err := tx.SetMerchantTimeZone(ctx, merchantID, zone); err != nil {
			return err
		}
		before := m.TimeZone
		m.TimeZone = zone
		return s.audit(ctx, tx, Principal{MerchantID: merchantID}, "merchant.time_zone", "merchant", merchantID, before, zone, "", s.now())
	})
	return m, err
}
