// Cross-checks refundd's ZATCA documents with two libraries refundd did
// not write. Input: a JSON file of [{name, xml, qr}] (refundd's UBL XML and
// QR payload). For each document:
//
//   1. @axenda/zatca (whose TLV output is validated against ZATCA's SDK)
//      encodes refundd's five phase-1 values itself: its payload must be
//      byte for byte the start of refundd's, so refundd's TLV encoding
//      (tags, UTF-8 byte lengths) is right.
//   2. zatca-xml-js reads refundd's XML with its own parser and builds the
//      phase-1 QR from it (seller, VAT number, TaxInclusiveAmount, the VAT
//      total, issue date and time): the figures must be refundd's QR's.
//      The QR's time must be the XML's IssueDate and IssueTime (ZATCA
//      warns invoiceTimeStamp_QRCODE_INVALID otherwise): refundd writes
//      both in Saudi time with no zone; zatca-xml-js copies the XML's
//      wall-clock time and labels it Z, so without that Z the two must be
//      the same text.
//
//   3. A sealed document (phase 2: QR tags 6 to 8) is checked with Node's
//      own crypto: the hash recomputed from the XML without its QR
//      reference is tag 6, and tag 7 is a valid ECDSA signature of it by
//      the key in tag 8, as ZATCA signs (SHA-256 over the hash's bytes).
//
//   4. A credit or debit note (381, 383), read with zatca-xml-js's parser,
//      has what ZATCA's validator asks of one: a billing reference (BT-25,
//      BR-KSA-56) naming the original invoice, which the Data Dictionary
//      says is the tax invoice (BT-1) the note is related to, so it must be
//      the ID of a tax invoice (388) among the documents, never another
//      note; and a reason (KSA-10, PaymentMeans/InstructionNote,
//      BR-KSA-17).
//
// Prints one summary line; exits 1 with the differences on any mismatch.
import { createHash, createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Invoice } = require("@axenda/zatca");
const { generatePhaseOneQR } = require("zatca-xml-js");
const { XMLDocument } = require("zatca-xml-js/lib/parser");

function records(b64) {
  const b = Buffer.from(b64, "base64");
  const out = {};
  let phase1End = b.length;
  for (let i = 0; i < b.length; ) {
    const tag = b[i], len = b[i + 1];
    out[tag] = b.subarray(i + 2, i + 2 + len);
    i += 2 + len;
    if (tag === 5) phase1End = i;
  }
  return { out, phase1: b.subarray(0, phase1End) };
}

function tlv(b64) {
  const { out } = records(b64);
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.toString("utf8")]));
}

const docs = JSON.parse(readFileSync(process.argv[2], "utf8"));
const errors = [];
let sealed = 0, notes = 0;
const text = (v) => (v === undefined || v === null ? "" : typeof v === "object" ? String(v["#text"] ?? "") : String(v));
const parsed = docs.map((d) => new XMLDocument(d.xml));
const taxInvoices = new Set(parsed
  .filter((x) => text(x.get("Invoice/cbc:InvoiceTypeCode")?.[0]) === "388")
  .map((x) => text(x.get("Invoice/cbc:ID")?.[0])));
docs.forEach((d, i) => {
  const x = parsed[i];
  const type = text(x.get("Invoice/cbc:InvoiceTypeCode")?.[0]);
  if (type !== "381" && type !== "383") return;
  notes++;
  const ref = text(x.get("Invoice/cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID")?.[0]);
  if (!taxInvoices.has(ref)) errors.push(`${d.name}: BR-KSA-56: a ${type}'s billing reference must name its original tax invoice (388), it names ${JSON.stringify(ref)}`);
  if (text(x.get("Invoice/cac:PaymentMeans/cbc:InstructionNote")?.[0]).trim() === "") errors.push(`${d.name}: BR-KSA-17: a ${type} has no reason (InstructionNote)`);
});
for (const d of docs) {
  const ours = tlv(d.qr);
  const axenda = new Invoice({
    sellerName: ours[1], vatRegistrationNumber: ours[2], invoiceTimestamp: ours[3],
    invoiceTotal: ours[4], invoiceVatTotal: ours[5],
  }).toBase64();
  const { out: raw, phase1 } = records(d.qr);
  if (axenda !== phase1.toString("base64")) errors.push(`${d.name}: @axenda/zatca encodes ${axenda}, refundd ${d.qr}`);
  if (raw[6]) {
    const stripped = d.xml.replace(/\n\s*<cac:AdditionalDocumentReference>\s*<cbc:ID>QR<\/cbc:ID>[\s\S]*?<\/cac:AdditionalDocumentReference>/, "");
    const hash = createHash("sha256").update(stripped, "utf8").digest("base64");
    if (hash !== ours[6]) errors.push(`${d.name}: the XML hashes to ${hash}, the QR says ${ours[6]}`);
    const key = createPublicKey({ key: raw[8], format: "der", type: "spki" });
    const ok = verify("sha256", Buffer.from(ours[6], "base64"), key, Buffer.from(ours[7], "base64"));
    if (!ok) errors.push(`${d.name}: the signature in the QR does not verify with its key`);
    sealed++;
  }

  const theirs = tlv(generatePhaseOneQR({ invoice_xml: new XMLDocument(d.xml) }));
  for (const [tag, what] of [[1, "seller"], [2, "VAT number"], [4, "total with VAT"], [5, "VAT total"]]) {
    if (String(theirs[tag]) !== ours[tag]) errors.push(`${d.name}: ${what}: zatca-xml-js reads ${theirs[tag]} in the XML, refundd's QR says ${ours[tag]}`);
  }
  if (String(theirs[3]).replace(/Z$/, "") !== ours[3]) errors.push(`${d.name}: time: zatca-xml-js reads ${theirs[3]} in the XML, refundd's QR says ${ours[3]}`);
}
if (errors.length) {
  console.error(errors.slice(0, 20).join("\n"));
  process.exit(1);
}
console.log(`${docs.length} documents: QR payloads identical to @axenda/zatca's, figures identical to what zatca-xml-js reads in the XML; ${sealed} sealed, hash and signature verified by Node's crypto; ${notes} credit and debit notes naming their tax invoice, with a reason`);
