package refund

// InvoicesOfOrder lets the external tests page with a small page.
var InvoicesOfOrder = invoicesOfOrder
