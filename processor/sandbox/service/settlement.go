package service

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"time"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor"
)

// Anomaly is one fault the settlement report was given on purpose, so a
// test can check that reconciliation finds exactly these.
type Anomaly struct {
	Kind string `json:"kind"` // amount_changed, row_missing, unknown_row
	Key  string `json:"key"`
}

// settlement serves the day's report (?date=YYYY-MM-DD, UTC): one CSV row
// per refund the acquirer settled that day (approved, declined, or
// approved then reversed; a wallet refund on the day it settled, never
// while pending), with the columns refundd's
// reconciliation reads. With an anomaly rate, that share of approved rows
// is corrupted (amount off by one minor unit, or left out) and as many
// unknown rows are added; the X-Sandbox-Anomalies header lists them.
func (s *Service) settlement(w http.ResponseWriter, r *http.Request) {
	day, err := time.Parse("2006-01-02", r.URL.Query().Get("date"))
	if err != nil {
		problem(w, http.StatusBadRequest, "30", "Format error: date must be YYYY-MM-DD")
		return
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Write([]string{"refund_id", "arn", "rrn", "amount", "currency", "status", "date"})
	var anomalies []Anomaly
	row := func(key, arn, rrn string, amount int64, currency string, status processor.Status) {
		c, err := money.LookupCurrency(currency)
		if err != nil {
			return
		}
		cw.Write([]string{key, arn, rrn, money.Format(amount, c), currency, string(status), day.Format("2006-01-02")})
	}
	rate := s.anomalyRate
	for _, e := range s.acq.Executed() {
		res, err := s.acq.Status(r.Context(), e.IdempotencyKey)
		// A report lists the money that moved on its day: a wallet refund
		// still pending has not moved yet (and "pending" is no status a
		// report may carry), and one settled moved when it settled, not
		// when it was accepted.
		if err != nil || res.Status == processor.Pending || !res.ExecutedAt.UTC().Truncate(24*time.Hour).Equal(day) {
			continue
		}
		if res.Status == processor.Approved && rate > 0 && chosen(e.IdempotencyKey+"/anomaly", rate) {
			if chosen(e.IdempotencyKey+"/kind", 0.5) {
				anomalies = append(anomalies, Anomaly{Kind: "row_missing", Key: e.IdempotencyKey})
				continue
			}
			anomalies = append(anomalies, Anomaly{Kind: "amount_changed", Key: e.IdempotencyKey})
			row(e.IdempotencyKey, res.ARN, res.RRN, e.Amount+1, e.Currency, res.Status)
			continue
		}
		row(e.IdempotencyKey, res.ARN, res.RRN, e.Amount, e.Currency, res.Status)
	}
	if rate > 0 {
		// As many unknown rows as corrupted ones, at least one.
		for i := range max(1, len(anomalies)) {
			key := fmt.Sprintf("sbx_unknown_%s_%d", day.Format("20060102"), i+1)
			anomalies = append(anomalies, Anomaly{Kind: "unknown_row", Key: key})
			row(key, "", "", 1000+int64(i), "SAR", processor.Approved)
		}
	}
	cw.Flush()
	list, _ := json.Marshal(anomalies)
	w.Header().Set("X-Sandbox-Anomalies", string(list))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Write(buf.Bytes())
}

// chosen decides, from the text alone, whether it falls in the share
// rate: the same report every time it is asked for.
func chosen(text string, rate float64) bool {
	h := fnv.New64a()
	h.Write([]byte(text))
	return float64(h.Sum64())/math.MaxUint64 < rate
}
