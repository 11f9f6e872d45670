// test/deploy/mutate.mjs: write a modified copy of a YAML file, for the
// negative tests of test/deploy/check.sh (each breaks one rule on purpose).
//
//   node test/deploy/mutate.mjs IN OUT 'JS statements using docs'
//
// `docs` is the array of the file's documents as plain objects; the
// statements change it in place; OUT gets the documents back as YAML.
// Helpers in scope: kind(K) = the first document of kind K.
import { readFileSync, writeFileSync } from "node:fs";
import { stringify } from "yaml";
import { parseDocs } from "./lib.mjs";

const [input, output, code] = process.argv.slice(2);
if (!input || !output || !code) {
  console.error("usage: node mutate.mjs IN OUT 'statements'");
  process.exit(2);
}
const docs = parseDocs(readFileSync(input, "utf8"), input);
const kind = (k) => docs.find((d) => d.kind === k);
new Function("docs", "kind", code)(docs, kind);
writeFileSync(output, docs.map((d) => stringify(d)).join("---\n"));
