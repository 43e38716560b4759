package refund

import (
	"context"
	"time"
)

// Stats is what the database says about the whole installation, the same
// whichever node asks: the source of the gauges on /metrics, so they stay
// exact across nodes and restarts.
type Stats struct {
	Refunds    []RefundCount
	Pending    int       // refunds waiting to be submitted (queued)
	Processing int       // refunds at the processor or waiting for the worker
	Oldest     time.Time // creation time of the oldest processing refund (zero: none)
	Deliveries []DeliveryCount
	// FirstDue is when the pending webhook delivery due longest ago fell
	// due (zero: none pending). One a worker holds is due again only when
	// its lease ends; one long overdue is held by something no retry
	// schedule explains (no node can sign it, the delivery workers stopped).
	FirstDue time.Time
	// RequiresReview counts refunds waiting for review (amount reserved,
	// outcome unknown); Discrepancies what the processor did that the
	// books could not absorb. Both need a person.
	RequiresReview int64
	Discrepancies  int64
}

// RefundCount counts refunds by where they were asked for, how they
// stand and their currency.
type RefundCount struct {
	Surface     string
	Status      Status
	FailureCode string
	Count       int64
	Currency    string
	Amount      int64 // sum, minor units of Currency
}

// DeliveryCount counts webhook deliveries by status.
type DeliveryCount struct {
	Status DeliveryStatus
	Count  int64
}

// StatsTx is the statistics part of a transaction.
type StatsTx interface {
	Stats(ctx context.Context) (*Stats, error)
}

// Stats reads the installation's statistics (an operator's view: no
// principal; /metrics serves it).
func (s *Service) Stats(ctx context.Context) (*Stats, error) {
	var st *Stats
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		if st, err = tx.Stats(ctx); err != nil {
			return err
		}
		st.Discrepancies, err = tx.CountDiscrepancies(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, c := range st.Refunds {
		if c.Status == StatusRequiresReview {
			st.RequiresReview += c.Count
		}
	}
	return st, nil
}
