package refund

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/refundd/refundd/money"
)

// SummaryBucket counts a merchant's refunds of one local day, status,
// currency and failure code.
type SummaryBucket struct {
	Day         time.Time // the local day's start, in UTC
	Status      Status
	Currency    string
	FailureCode string
	Count       int64
	Amount      int64
}

// RefundSummary is what the store reads for the console's overview, in one
// consistent view.
type RefundSummary struct {
	Buckets    []SummaryBucket  // refunds created since the asked time
	Open       map[Status]int64 // refunds not final, however old
	OldestOpen time.Time        // creation of the oldest pending, processing or review refund (zero: none)
	OldestID   string
}

// SummaryTx is the overview part of a transaction.
type SummaryTx interface {
	// RefundSummary groups the merchant's refunds created at or after
	// since by local day (UTC shifted by offset), status, currency and
	// failure code, and counts its open refunds.
	RefundSummary(ctx context.Context, merchantID string, since time.Time, offset time.Duration) (*RefundSummary, error)
}

// Figures are refunds counted and summed per currency.
type Figures struct {
	Count    int64
	ByStatus map[Status]int64
	// Amounts by currency, then status: minor units.
	Amounts map[string]map[Status]int64
}

func (f *Figures) add(b SummaryBucket) {
	f.Count += b.Count
	f.ByStatus[b.Status] += b.Count
	if f.Amounts[b.Currency] == nil {
		f.Amounts[b.Currency] = map[Status]int64{}
	}
	f.Amounts[b.Currency][b.Status] = money.AddCapped(f.Amounts[b.Currency][b.Status], b.Amount)
}

// Currencies lists the figures' currencies, sorted.
func (f *Figures) Currencies() []string {
	var out []string
	for c := range f.Amounts {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// DayFigures is one bar of the overview's chart.
type DayFigures struct {
	Day      time.Time
	ByStatus map[Status]int64
	Total    int64
}

// FailureCount is how often a failure code came up.
type FailureCount struct {
	Code  string
	Count int64
}

// Overview is the console's first page: what a merchant's refunds did
// today and over 7 and 30 days, what fails, and what needs a person.
type Overview struct {
	Today, Week, Month Figures
	// FailureRate is failed / (succeeded + failed) over 30 days, in basis
	// points (-1 when nothing was settled).
	FailureRate int64
	TopFailures []FailureCount
	Days        []DayFigures // 30 local days, oldest first, today last
	// Zone is the merchant's time zone, which the days are counted in.
	Zone       *time.Location
	OldestOpen time.Time
	OldestID   string
	// Needs a person.
	RequiresReview, RequiresApproval int64
	// Discrepancies counts the open ones: a resolved one needs nobody.
	Discrepancies     int64
	DiscrepanciesMore bool // more than counted
}

// Overview reads the caller's overview at now; every node reads the same
// figures from the database.
func (s *Service) Overview(ctx context.Context, p Principal) (*Overview, error) {
	if err := require(p, ScopeRefundsRead); err != nil {
		return nil, err
	}
	// Days are the merchant's. The store shifts by one offset, today's: in
	// a zone with daylight saving, a refund within an hour of midnight on
	// the far side of a change counts on the neighbouring day. (The Gulf's
	// zones have none.)
	var zone *time.Location
	var today, since time.Time
	var offset time.Duration
	var sum *RefundSummary
	var discrepancies []*Discrepancy
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		m, err := tx.GetMerchant(ctx, p.MerchantID)
		if err != nil {
			return err
		}
		zone = m.Location()
		now := s.now().In(zone)
		_, off := now.Zone()
		offset = time.Duration(off) * time.Second
		today = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, zone)
		since = today.AddDate(0, 0, -29)
		if sum, err = tx.RefundSummary(ctx, p.MerchantID, since.UTC(), offset); err != nil {
			return err
		}
		discrepancies, err = tx.ListDiscrepancies(ctx, DiscrepancyFilter{MerchantID: p.MerchantID, Status: DiscrepancyOpen, Limit: MaxPageSize + 1})
		return err
	})
	if err != nil {
		return nil, err
	}
	o := &Overview{Zone: zone, OldestOpen: sum.OldestOpen, OldestID: sum.OldestID, RequiresReview: sum.Open[StatusRequiresReview],
		RequiresApproval: sum.Open[StatusRequiresApproval], Discrepancies: int64(min(len(discrepancies), MaxPageSize)),
		DiscrepanciesMore: len(discrepancies) > MaxPageSize}
	for _, f := range []*Figures{&o.Today, &o.Week, &o.Month} {
		*f = Figures{ByStatus: map[Status]int64{}, Amounts: map[string]map[Status]int64{}}
	}
	// Days are matched by their date, which is the same whatever offset
	// the store shifted by.
	type date struct {
		y int
		m time.Month
		d int
	}
	days := map[date]*DayFigures{}
	for i := range 30 {
		d := since.AddDate(0, 0, i)
		o.Days = append(o.Days, DayFigures{Day: d, ByStatus: map[Status]int64{}})
		days[date{d.Year(), d.Month(), d.Day()}] = &o.Days[i]
	}
	failures := map[string]int64{}
	for _, b := range sum.Buckets {
		local := b.Day.Add(offset).UTC() // the local midnight, read as UTC
		day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, zone)
		o.Month.add(b)
		if !day.Before(today.AddDate(0, 0, -6)) {
			o.Week.add(b)
		}
		if !day.Before(today) {
			o.Today.add(b)
		}
		if d := days[date{day.Year(), day.Month(), day.Day()}]; d != nil {
			d.ByStatus[b.Status] += b.Count
			d.Total += b.Count
		}
		if b.Status == StatusFailed {
			failures[b.FailureCode] += b.Count
		}
	}
	settled := o.Month.ByStatus[StatusSucceeded] + o.Month.ByStatus[StatusFailed]
	o.FailureRate = -1
	if settled > 0 {
		o.FailureRate = o.Month.ByStatus[StatusFailed] * 10000 / settled
	}
	for code, n := range failures {
		o.TopFailures = append(o.TopFailures, FailureCount{Code: code, Count: n})
	}
	sort.Slice(o.TopFailures, func(i, j int) bool {
		a, b := o.TopFailures[i], o.TopFailures[j]
		return a.Count > b.Count || a.Count == b.Count && a.Code < b.Code
	})
	if len(o.TopFailures) > 5 {
		o.TopFailures = o.TopFailures[:5]
	}
	return o, nil
}
