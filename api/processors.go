package api

import (
	"net/http"
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
	as, err := a.svc.ListProcessorAccounts(r.Context(), PrincipalFrom(r.Context()))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// All of them in one page, in the envelope every list answers.
	writeJSON(w, http.StatusOK, listOut(refund.Page[*refund.ProcessorAccount]{Data: as}, ProcessorOut))
}
