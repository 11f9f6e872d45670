// test/deploy/k8s-schema.mjs: schema validation of rendered Kubernetes
// manifests, for test/deploy/check.sh.
//
//   node test/deploy/k8s-schema.mjs FILE...     (multi-document YAML; - = stdin)
//
// Every object is validated against the OpenAPI schema of its apiVersion and
// kind, with the models of the npm packages kubernetes-models 4.x (+
// @kubernetes-models/prometheus-operator for monitoring.coreos.com kinds),
// whose validators come from @kubernetes-models/validate (ajv). An object of a
// kind without a model fails: nothing is waved through unchecked.
//
// Those validators accept properties the schema does not know (a misspelt
// `livenessprobe` passes), which the API server would drop or reject. So the
// object is validated through a Proxy that records every property the
// validator looks up: the generated validator reads each property its schema
// defines (and every key of a map), so a key of a schema-checked object that
// was never read is a field the schema does not have. Objects the validator
// never looks into (free-form fields) are not judged.
//
// Prints one line per object and exits 1 if any object fails.
import { readFileSync } from "node:fs";
import { parseDocs } from "./lib.mjs";

// Load the model class for apiVersion/kind, or null if no package has one.
async function loadModel(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  if (!/^[A-Za-z0-9.\-/]+$/.test(apiVersion) || !/^[A-Za-z0-9]+$/.test(kind)) return null;
  const candidates = [`kubernetes-models/${apiVersion}/${kind}`];
  if (apiVersion.startsWith("monitoring.coreos.com/")) {
    candidates.unshift(`@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`);
  }
  for (const spec of candidates) {
    try {
      const mod = await import(spec);
      if (typeof mod[kind] === "function") return mod[kind];
    } catch (err) {
      if (err.code !== "ERR_MODULE_NOT_FOUND" && err.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw err;
    }
  }
  return null;
}

// Deep-copy value into Proxies that record property reads into `records`.
function instrument(value, path, records) {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v, i) => instrument(v, `${path}[${i}]`, records));
  const copy = {};
  for (const [k, v] of Object.entries(value)) copy[k] = instrument(v, `${path}.${k}`, records);
  const rec = { path, keys: Object.keys(copy), read: new Set() };
  records.push(rec);
  return new Proxy(copy, {
    get(target, prop, receiver) {
      if (typeof prop === "string") rec.read.add(prop);
      return Reflect.get(target, prop, receiver);
    },
  });
}

// Return a list of problems with one object (empty when it is valid).
async function checkObject(obj) {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return ["not a mapping"];
  const Model = await loadModel(obj.apiVersion, obj.kind);
  if (!Model) return [`no schema for apiVersion "${obj.apiVersion}" kind "${obj.kind}"`];
  const problems = [];
  const records = [];
  const proxied = instrument(obj, "", records);
  try {
    Model.prototype.validate.call(proxied);
  } catch (err) {
    const details = Array.isArray(err.errors)
      ? err.errors.map((e) => `${e.instancePath || "/"} ${e.message}${e.params ? " " + JSON.stringify(e.params) : ""}`)
      : [String(err.message || err)];
    for (const d of details) problems.push(`schema: ${d}`);
  }
  for (const rec of records) {
    if (rec.read.size === 0) continue; // free-form or never reached: not judged here
    for (const key of rec.keys) {
      if (!rec.read.has(key)) problems.push(`unknown field: ${rec.path || ""}.${key}`.replace(/^unknown field: \./, "unknown field: "));
    }
  }
  return problems;
}

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node k8s-schema.mjs FILE...");
    return 2;
  }
  let bad = 0;
  let count = 0;
  for (const file of files) {
    const text = readFileSync(file === "-" ? 0 : file, "utf8");
    let objects;
    try {
      objects = parseDocs(text, file);
    } catch (err) {
      console.log(`FAIL ${file}: ${err.message}`);
      bad++;
      continue;
    }
    for (const obj of objects) {
      count++;
      const name = `${obj?.kind}/${obj?.metadata?.name}`;
      const problems = await checkObject(obj);
      if (problems.length === 0) {
        console.log(`ok   ${file}: ${name} (${obj.apiVersion})`);
      } else {
        bad++;
        for (const p of problems) console.log(`FAIL ${file}: ${name}: ${p}`);
      }
    }
  }
  if (count === 0) {
    console.log("FAIL no objects to validate");
    return 1;
  }
  console.log(`k8s-schema: ${count} objects, ${bad} invalid`);
  return bad ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
