// test/deploy/lib.mjs: helpers shared by the offline deployment checks.
import { parseAllDocuments } from "yaml";

// Parse multi-document YAML text into plain objects (empty documents dropped).
export function parseDocs(text, source) {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  const out = [];
  for (const doc of docs) {
    if (doc.errors.length) throw new Error(`${source}: YAML: ${doc.errors[0].message}`);
    const value = doc.toJS({ maxAliasCount: 100 });
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}
