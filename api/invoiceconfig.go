package api

import (
	"net/http"
	"time"

	"github.com/refundd/refundd/refund"
)

// invoiceConfigJSON is a merchant's invoice configuration, as stored: an
// empty seller_name or vat_number prints the merchant's own, an empty
// seller_crn or address none.
type invoiceConfigJSON struct {
	Object               string     `json:"object"`
	SerialPrefix         string     `json:"serial_prefix"`
	SellerName           string     `json:"seller_name"`
	VATNumber            string     `json:"vat_number"`
	SellerCRN            string     `json:"seller_crn"`
	SellerStreet         string     `json:"seller_street"`
	SellerBuildingNumber string     `json:"seller_building_number"`
	SellerDistrict       string     `json:"seller_district"`
	SellerCity           string     `json:"seller_city"`
	SellerPostalCode     string     `json:"seller_postal_code"`
	ZATCAEnabled         bool       `json:"zatca_enabled"`
	UpdatedAt            *time.Time `json:"updated_at"`
}

func invoiceConfigOut(c *refund.InvoiceConfig) invoiceConfigJSON {
	j := invoiceConfigJSON{Object: "invoice_config", SerialPrefix: c.SerialPrefix, SellerName: c.SellerName, VATNumber: c.VATNumber,
		SellerCRN: c.CRN, SellerStreet: c.Address.Street, SellerBuildingNumber: c.Address.BuildingNumber,
		SellerDistrict: c.Address.District, SellerCity: c.Address.City, SellerPostalCode: c.Address.PostalCode, ZATCAEnabled: c.ZATCAEnabled}
	if !c.UpdatedAt.IsZero() {
		j.UpdatedAt = &c.UpdatedAt
	}
	return j
}

// invoiceConfigRequest changes the fields it holds; the others keep their
// value ("" clears a text field).
type invoiceConfigRequest struct {
	SerialPrefix         *string `json:"serial_prefix"`
	SellerName           *string `json:"seller_name"`
	VATNumber            *string `json:"vat_number"`
	SellerCRN            *string `json:"seller_crn"`
	SellerStreet         *string `json:"seller_street"`
	SellerBuildingNumber *string `json:"seller_building_number"`
	SellerDistrict       *string `json:"seller_district"`
	SellerCity           *string `json:"seller_city"`
	SellerPostalCode     *string `json:"seller_postal_code"`
	ZATCAEnabled         *bool   `json:"zatca_enabled"`
}

func (invoiceConfigRequest) nonNull() []string {
	return []string{"serial_prefix", "seller_name", "vat_number", "seller_crn", "seller_street", "seller_building_number",
		"seller_district", "seller_city", "seller_postal_code", "zatca_enabled"}
}

func (a *API) getInvoiceConfig(w http.ResponseWriter, r *http.Request) {
	c, err := a.svc.GetInvoiceConfig(r.Context(), PrincipalFrom(r.Context()))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, invoiceConfigOut(c))
}

func (a *API) putInvoiceConfig(w http.ResponseWriter, r *http.Request) {
	var req invoiceConfigRequest
	if err := decode(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	c, err := a.svc.UpdateInvoiceConfig(r.Context(), PrincipalFrom(r.Context()), refund.InvoiceConfigInput{
		SerialPrefix: req.SerialPrefix, SellerName: req.SellerName, VATNumber: req.VATNumber, ZATCAEnabled: req.ZATCAEnabled,
		CRN: req.SellerCRN, Street: req.SellerStreet, BuildingNumber: req.SellerBuildingNumber, District: req.SellerDistrict,
		City: req.SellerCity, PostalCode: req.SellerPostalCode})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, invoiceConfigOut(c))
}
