package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/webhook"
)

// Notifier sends what the acquirer decides on its own (a refund approved,
// declined or reversed; a chargeback) to a URL, signed per Standard
// Webhooks, as a real acquirer's notification service would. Deliveries
// run in the background, each retried with backoff for about a minute.
type Notifier struct {
	url, secret string
	log         *slog.Logger
	client      *http.Client
	queue       chan notification
}

type notification struct {
	id   string
	body []byte
}

// NewNotifier starts a notifier, for the life of the process.
func NewNotifier(url, secret string, log *slog.Logger) (*Notifier, error) {
	if err := webhook.CheckSecret(secret); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A redirect is not followed: it would replay the signed notification
	// to wherever it points. It is the receiver's answer, a failure.
	hc := &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	n := &Notifier{url: url, secret: secret, log: log, client: hc, queue: make(chan notification, 4096)}
	go n.run()
	return n, nil
}

// Refund queues the notification of a key's final answer or reversal,
// naming the amount and currency it was submitted with. It never blocks:
// the acquirer calls it with its lock held.
func (n *Notifier) Refund(key string, amount int64, currency string, res processor.Result) {
	typ := map[processor.Status]string{processor.Approved: "refund.succeeded", processor.Declined: "refund.failed",
		processor.Reversed: "refund.reversed"}[res.Status]
	if typ == "" {
		return
	}
	n.send(typ, map[string]any{"idempotency_key": key, "amount": amount, "currency": currency,
		"response_code": res.ResponseCode, "message": res.Message, "rrn": res.RRN, "arn": res.ARN})
}

// Chargeback queues the notification of a chargeback on an order.
func (n *Notifier) Chargeback(orderID string, amount int64, reference, reason string) {
	n.send("order.charged_back", map[string]any{"order_id": orderID, "amount": amount, "reference": reference, "reason": reason})
}

func (n *Notifier) send(typ string, data map[string]any) {
	body, _ := json.Marshal(map[string]any{"type": typ, "data": data})
	b := make([]byte, 12)
	rand.Read(b)
	select {
	case n.queue <- notification{id: "msg_" + hex.EncodeToString(b), body: body}:
	default:
		n.log.Error("notification queue full; dropped", "type", typ)
	}
}

func (n *Notifier) run() {
	for m := range n.queue {
		n.deliver(m)
	}
}

// deliver tries a notification up to 6 times, 0.1 s to 3.2 s apart.
func (n *Notifier) deliver(m notification) {
	wait := 100 * time.Millisecond
	for try := 1; ; try++ {
		status, err := n.post(m)
		if err == nil && status < 300 {
			n.log.Debug("notification delivered", "id", m.id, "status", status)
			return
		}
		if try == 6 {
			n.log.Warn("notification not delivered", "id", m.id, "status", status, "err", err)
			return
		}
		time.Sleep(wait)
		wait *= 2
	}
}

func (n *Notifier) post(m notification) (int, error) {
	h, err := webhook.Sign(n.secret, m.id, time.Now(), m.body)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(m.body))
	if err != nil {
		return 0, err
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	res, err := n.client.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}
