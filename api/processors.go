package api

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/refundd/refundd/refund"
)

// processorJSON is a processor account as the API shows it: never its
// credential, sealed or not.
type processorJSON struct {
	ID        string            `json:"id"`
	Object    string            `json:"object"`
	Name      string            `json:"name"`
	Kind      string            `json:"kind"`
	URL       string            `json:"url"`
	Options   map[string]string `json:"options"`
	Default   bool              `json:"default"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// ProcessorOut is the reply shape of one processor account (the CLI prints
// the same).
func ProcessorOut(p *refund.ProcessorAccount) processorJSON {
	opts := p.Options
	if opts == nil {
		opts = map[string]string{}
	}
	return processorJSON{ID: p.ID, Object: "processor", Name: p.Name, Kind: p.Kind, URL: p.URL, Options: opts,
		Default: p.Default, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func (a *API) listProcessors(w http.ResponseWriter, r *http.Request) {
	limit, cursor, err := queryPage(r, "pa")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	as, err := a.svc.ListProcessorAccounts(r.Context(), PrincipalFrom(r.Context()))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// By id, which a cursor can name, not by name as the store lists them.
	slices.SortFunc(as, func(x, y *refund.ProcessorAccount) int { return strings.Compare(x.ID, y.ID) })
	writeJSON(w, http.StatusOK, listOut(pageByID(as, func(a *refund.ProcessorAccount) string { return a.ID }, limit, cursor), ProcessorOut))
}
