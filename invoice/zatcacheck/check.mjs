// Cross-checks refundd's ZATCA documents with two libraries refundd did
// not write. Input: a JSON file of [{name, xml, qr}] (refundd's UBL XML and
// QR payload). For each document:
//
//   1. @axenda/zatca (whose TLV output is validated against ZATCA's SDK)
//      encodes refundd's five phase-1 values itself: the payload must be
//      byte for byte refundd's, so refundd's TLV encoding (tags, UTF-8
//      byte lengths) is right.
//   2. zatca-xml-js reads refundd's XML with its own parser and builds the
//      phase-1 QR from it (seller, VAT number, TaxInclusiveAmount, the VAT
//      total, issue date and time): the figures must be refundd's QR's.
//      refundd's XML states Saudi time (UTC+3) and its QR the UTC instant;
//      zatca-xml-js labels the XML's wall-clock time Z, so the two times
//      must be three hours apart, no more, no less.
//
// Prints one summary line; exits 1 with the differences on any mismatch.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Invoice } = require("@axenda/zatca");
const { generatePhaseOneQR } = require("zatca-xml-js");
const { XMLDocument } = require("zatca-xml-js/lib/parser");

function tlv(b64) {
  const b = Buffer.from(b64, "base64");
  const out = {};
  for (let i = 0; i < b.length; ) {
    const tag = b[i], len = b[i + 1];
    out[tag] = b.subarray(i + 2, i + 2 + len).toString("utf8");
    i += 2 + len;
  }
  return out;
}

const docs = JSON.parse(readFileSync(process.argv[2], "utf8"));
const errors = [];
for (const d of docs) {
  const ours = tlv(d.qr);
  const axenda = new Invoice({
    sellerName: ours[1], vatRegistrationNumber: ours[2], invoiceTimestamp: ours[3],
    invoiceTotal: ours[4], invoiceVatTotal: ours[5],
  }).toBase64();
  if (axenda !== d.qr) errors.push(`${d.name}: @axenda/zatca encodes ${axenda}, refundd ${d.qr}`);

  const theirs = tlv(generatePhaseOneQR({ invoice_xml: new XMLDocument(d.xml) }));
  for (const [tag, what] of [[1, "seller"], [2, "VAT number"], [4, "total with VAT"], [5, "VAT total"]]) {
    if (String(theirs[tag]) !== ours[tag]) errors.push(`${d.name}: ${what}: zatca-xml-js reads ${theirs[tag]} in the XML, refundd's QR says ${ours[tag]}`);
  }
  const shift = Date.parse(theirs[3]) - Date.parse(ours[3]);
  if (shift !== 3 * 3600 * 1000) errors.push(`${d.name}: time: zatca-xml-js ${theirs[3]}, refundd ${ours[3]}`);
}
if (errors.length) {
  console.error(errors.slice(0, 20).join("\n"));
  process.exit(1);
}
console.log(`${docs.length} documents: QR payloads identical to @axenda/zatca's, figures identical to what zatca-xml-js reads in the XML`);
