// test/deploy/workflow-tools.mjs: does every job install what its `run:`
// steps call? For test/deploy/workflow-check.mjs.
//
// A job's tools come from its image (the runner's, or its `container:`), the
// actions it uses (actions/setup-node: node and npm), `apt-get install` lines,
// a kubectl release it installs (a pinned version and a sha256 check are
// required), and script/bootstrap (its package lists, read from the file, and
// kubernetes-client when it installs that), which script/test runs itself.
// A step needs the tools it calls at a command position and the tools of the
// repository scripts it runs (SCRIPT_NEEDS). Steps are taken in order: a
// tool must be there at or before the step that calls it.
//
// Known limits: tools named only inside quoted strings or echo lines are not
// seen (messages mention them); the script table is written by hand from the
// scripts (keep it true when a script starts calling another tool).
import { readFileSync } from "node:fs";

// The tools checked: the ones the repository's scripts call.
export const TOOLS = ["kubectl", "promtool", "prometheus", "docker", "docker-compose", "node", "npm", "npx",
  "jq", "curl", "python3", "psql", "pg_isready", "shellcheck", "yamllint", "git", "make", "cppcheck",
  "clang-format", "autoreconf"];

// What an image brings. ubuntu-latest: the GitHub runner image's tools that
// these workflows use. Its kubectl is left out on purpose: it moves with the
// image; the workflows install a pinned release.
const IMAGE_TOOLS = {
  "ubuntu-latest": ["git", "curl", "jq", "python3", "node", "npm", "npx", "docker", "make", "shellcheck"],
  "debian:bookworm": [],
};

// Debian packages -> the tools they install.
const PACKAGE_TOOLS = {
  git: ["git"], curl: ["curl"], jq: ["jq"], python3: ["python3"], nodejs: ["node"], npm: ["npm", "npx"],
  "postgresql-client": ["psql", "pg_isready"], postgresql: ["psql", "pg_isready"],
  prometheus: ["promtool", "prometheus"], "kubernetes-client": ["kubectl"], shellcheck: ["shellcheck"],
  yamllint: ["yamllint"], "docker.io": ["docker"], "docker-compose": ["docker-compose"],
  "build-essential": ["make"], make: ["make"], autoconf: ["autoreconf"], cppcheck: ["cppcheck"],
  "clang-format": ["clang-format"],
};

// Repository scripts -> the tools they call (they install none themselves,
// except script/test, which first runs script/bootstrap).
const SCRIPT_NEEDS = {
  "k8s/deploy.sh": ["kubectl", "python3"],
  "script/rollout-guard": ["python3", "kubectl"],
  "test/deploy/e2e-smoke.py": ["python3"],
  "test/conformance.sh": ["node", "npm", "python3"],
  "script/build": ["make", "autoreconf"],
  "monitoring/sync-k8s": ["python3"],
};
// script/test's stages -> their tools (no stage: every stage).
const TEST_STAGE_NEEDS = {
  format: ["clang-format", "git"],
  unit: ["make", "autoreconf", "psql"],
  sanitize: ["make", "autoreconf", "psql"],
  distcheck: ["make", "autoreconf", "psql"],
  conformance: ["node", "npm", "python3", "psql"],
  deploy: ["kubectl", "node", "npm", "shellcheck", "yamllint", "docker-compose", "python3", "git", "psql"],
  rollback: ["kubectl", "promtool", "prometheus", "python3", "shellcheck", "yamllint", "psql"],
};

// The tools script/bootstrap installs, from its package arrays.
export function bootstrapTools(path) {
  const text = readFileSync(path, "utf8");
  const tools = new Set();
  for (const m of text.matchAll(/^\s*[a-z_]+_pkgs=\(([^)]*)\)/gms)) {
    for (const pkg of m[1].split(/\s+/).filter(Boolean)) for (const t of PACKAGE_TOOLS[pkg] ?? []) tools.add(t);
  }
  // The kubectl fallback (a package installed only where no kubectl is).
  if (/^[^#\n]*=\s*kubernetes-client\b/m.test(text)) tools.add("kubectl");
  if (/apt-get install[^\n]*\bnpm\b/.test(text)) ["npm", "npx"].forEach((t) => tools.add(t));
  return tools;
}

// Command-position words of a script, messages (echo lines) left out.
function commandWords(run) {
  const text = run.split("\n").filter((l) => !/^\s*(echo|printf)\b/.test(l)).join("\n")
    .replace(/"[^"$`]*"|'[^']*'/g, " ");
  const found = new Set();
  for (const tool of TOOLS) {
    const re = new RegExp(`(^|[\\s;&|(\`]|\\$\\()${tool.replace(/[.+]/g, "\\$&")}(?=$|[\\s;)|&])`, "m");
    if (re.test(text)) found.add(tool);
  }
  return found;
}

function installedByRun(run, problems, where) {
  const tools = new Set();
  for (const m of run.matchAll(/apt-get install ([^\n&|;]*)/g)) {
    for (const pkg of m[1].split(/\s+/).filter((w) => w && !w.startsWith("-") && !w.startsWith("$"))) {
      for (const t of PACKAGE_TOOLS[pkg] ?? []) tools.add(t);
    }
  }
  if (/\binstall\b[^\n]*\bkubectl\b/.test(run) && /dl\.k8s\.io/.test(run)) {
    if (!/sha256sum (--check|-c)/.test(run) || !/KUBECTL_SHA256|[0-9a-f]{64}/.test(run)) {
      problems.push(`${where}: installs kubectl without checking a pinned sha256`);
    }
    if (!/KUBECTL_VERSION|v1\.\d+\.\d+/.test(run)) problems.push(`${where}: installs kubectl without a pinned version`);
    tools.add("kubectl");
  }
  return tools;
}

// Check every job of one workflow; problems are strings "FILE: job J step S: ...".
export function checkJobTools(file, wf, bootstrapPath) {
  const problems = [];
  const fromBootstrap = bootstrapTools(bootstrapPath);
  for (const [id, job] of Object.entries(wf.jobs ?? {})) {
    if (job.uses) continue; // a called workflow is checked as its own file
    const runsOn = String(job["runs-on"] ?? "");
    const image = typeof job.container === "string" ? job.container : job.container?.image;
    const imageName = image ?? runsOn;
    if (!(imageName in IMAGE_TOOLS)) {
      problems.push(`${file}: job ${id}: unknown image ${imageName}: list its tools in test/deploy/workflow-tools.mjs`);
      continue;
    }
    const have = new Set(IMAGE_TOOLS[imageName]);
    (job.steps ?? []).forEach((step, i) => {
      const where = `${file}: job ${id} step ${step.name ?? step.uses ?? i + 1}`;
      if (step.uses) {
        if (/^actions\/setup-node@/.test(step.uses)) ["node", "npm", "npx"].forEach((t) => have.add(t));
        return;
      }
      if (typeof step.run !== "string") return;
      const run = step.run.replace(/\$\{\{[\s\S]*?\}\}/g, "GHA_EXPRESSION");
      for (const t of installedByRun(run, problems, where)) have.add(t);
      const needs = commandWords(run);
      if (/(^|\s)script\/(bootstrap|test)\b/m.test(run)) for (const t of fromBootstrap) have.add(t);
      for (const [script, tools] of Object.entries(SCRIPT_NEEDS)) {
        if (new RegExp(`(^|[\\s/])${script.replace(/[./]/g, "\\$&")}\\b`, "m").test(run)) tools.forEach((t) => needs.add(t));
      }
      for (const m of run.matchAll(/script\/test((?:[ \t]+[a-z]+)*)/g)) {
        const stages = m[1].trim().split(/\s+/).filter(Boolean);
        for (const s of stages.length ? stages : Object.keys(TEST_STAGE_NEEDS)) (TEST_STAGE_NEEDS[s] ?? []).forEach((t) => needs.add(t));
      }
      for (const t of needs) {
        if (!have.has(t)) problems.push(`${where}: calls ${t}, which the job neither installs nor has in its image (${imageName})`);
      }
    });
  }
  return problems;
}
