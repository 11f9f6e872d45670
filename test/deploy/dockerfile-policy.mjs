// test/deploy/dockerfile-policy.mjs: rules for the Dockerfile, checked
// without a Docker engine (none runs on the build machines).
//
//   node test/deploy/dockerfile-policy.mjs Dockerfile [--binary PATH]
//   node test/deploy/dockerfile-policy.mjs Dockerfile --build-script
//
// --build-script prints, instead of checking, the build stage's commands
// after its `COPY . .` as a shell script (ARG defaults as variables, one RUN
// per line) followed by the runtime stage's `COPY --from=build` sources as
// `# copy-from-build PATH` lines, so that check.sh can replay the build
// stage from `git archive` without Docker.
//
// Rules: multi-stage; base images tagged (never :latest); the build stage
// runs the Autotools build and the unit tests; the runtime stage installs no
// -dev package and no compiler, runs as a numeric non-root uid >= 10000,
// exposes 8080 and 9090, copies the binary and the migrations from the build
// stage; its STOPSIGNAL is SIGTERM or unset (TERM is conduitd's graceful
// stop); its ENTRYPOINT is conduitd in exec form, so `docker run IMAGE
// --help` (or `migrate`) reaches conduitd; no `# syntax=` parser directive
// unless pinned by digest (it makes every BuildKit build pull a frontend
// image from a registry); `apt-get install` with --no-install-recommends and
// the lists removed.
//
// With --binary (a conduitd built on this Debian 12 machine): every shared
// library the binary needs (ELF NEEDED entries) must come from a package
// that the runtime stage installs (libc6 aside), so a new dependency cannot
// be forgotten in the image. Uses objdump, ldconfig and dpkg.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const problems = [];
const ok = [];
function rule(name, list) {
  const l = (Array.isArray(list) ? list : [list]).filter(Boolean);
  if (l.length) for (const p of l) problems.push(`${name}: ${p}`);
  else ok.push(name);
}

// Instructions of a Dockerfile: continuation lines joined, comments dropped.
function instructions(text) {
  const out = [];
  let cur = "";
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (/^\s*#/.test(line) && cur === "") continue;
    if (/^\s*#/.test(line)) continue; // comment inside a continuation
    if (/\\\s*$/.test(line)) {
      cur += line.replace(/\\\s*$/, " ");
      continue;
    }
    cur += line;
    if (cur.trim()) {
      const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(cur.trim());
      if (m) out.push({ op: m[1].toUpperCase(), args: m[2].trim() });
    }
    cur = "";
  }
  return out;
}

function aptPackages(runArgs) {
  const pkgs = [];
  for (const m of runArgs.matchAll(/apt-get\s+install\s+([^&;|]*)/g)) {
    for (const w of m[1].split(/\s+/)) if (w && !w.startsWith("-")) pkgs.push(w);
  }
  return pkgs;
}

// The build stage's commands after `COPY . .`, as a shell script.
function buildScript(stages, args) {
  const build = stages[0];
  const lines = ["set -e"];
  for (const [k, v] of Object.entries(args)) lines.push(`${k}=${JSON.stringify(v)}`);
  let copied = false;
  for (const i of build.ins) {
    if (i.op === "COPY" && /^\.\s+\.$/.test(i.args)) copied = true;
    else if (i.op === "ARG") {
      const [k, v] = i.args.split(/=(.*)/s);
      if (v !== undefined) lines.push(`${k}=\${${k}:-${JSON.stringify(v)}}`);
    } else if (i.op === "RUN" && copied) lines.push(i.args);
  }
  const runtime = stages[stages.length - 1];
  for (const i of runtime.ins) {
    const m = /^--from=\S+\s+(\S+)\s+\S+$/.exec(i.op === "COPY" ? i.args : "");
    if (m) lines.push(`# copy-from-build ${m[1]}`);
  }
  return lines.join("\n") + "\n";
}

function main(argv) {
  const file = argv[0];
  const bi = argv.indexOf("--binary");
  const binary = bi >= 0 ? argv[bi + 1] : null;
  const text = readFileSync(file, "utf8");
  const ins = instructions(text);
  const args = Object.fromEntries(ins.filter((i) => i.op === "ARG" && i.args.includes("=")).map((i) => i.args.split(/=(.*)/s).slice(0, 2)));
  const stages = [];
  for (const i of ins) {
    if (i.op === "FROM") {
      const [image, , name] = i.args.split(/\s+/);
      stages.push({ image: image.replace(/\$\{?([A-Za-z_]+)\}?/g, (_, v) => args[v] ?? `$${v}`), name, ins: [] });
    } else if (stages.length) stages[stages.length - 1].ins.push(i);
  }
  if (argv.includes("--build-script")) {
    process.stdout.write(buildScript(stages, {}));
    return 0;
  }
  rule("multi-stage build", stages.length >= 2 ? [] : `${stages.length} stage(s)`);
  rule("base images tagged, never :latest", stages.filter((s) => !stages.some((t) => t.name === s.image))
    .map((s) => (/:latest$/.test(s.image) || !/[:@]/.test(s.image) ? `${s.image} is not pinned to a tag` : null)));
  const build = stages[0] ?? { ins: [] };
  const runtime = stages[stages.length - 1] ?? { ins: [] };
  const buildRuns = build.ins.filter((i) => i.op === "RUN").map((i) => i.args).join("\n");
  rule("build stage runs the Autotools build and the unit tests", [
    /autoreconf/.test(buildRuns) && /configure/.test(buildRuns) ? null : "no autoreconf/configure",
    /make\b[^\n]*\bcheck\b/.test(buildRuns) ? null : "no make check",
    /make\b[^\n]*install/.test(buildRuns) ? null : "no make install",
  ]);
  const runRuns = runtime.ins.filter((i) => i.op === "RUN").map((i) => i.args).join("\n");
  const runtimePkgs = aptPackages(runRuns);
  rule("runtime stage: no -dev packages or toolchain", runtimePkgs.filter((p) => /-dev$|^build-essential$|^gcc|^make$|^autoconf|^automake|^git$/.test(p)).map((p) => `installs ${p}`));
  const allRuns = ins.filter((i) => i.op === "RUN").map((i) => i.args);
  rule("apt-get install --no-install-recommends, lists removed", allRuns.filter((r) => /apt-get\s+install/.test(r)).flatMap((r) => [
    /--no-install-recommends/.test(r) ? null : "apt-get install without --no-install-recommends",
    /rm -rf \/var\/lib\/apt\/lists/.test(r) ? null : "apt lists not removed in the same layer",
  ]));
  const user = runtime.ins.filter((i) => i.op === "USER").pop()?.args ?? "";
  const uid = /^([0-9]+)(:[0-9]+)?$/.exec(user);
  rule("runtime runs as a numeric uid >= 10000", uid && Number(uid[1]) >= 10000 ? [] : `USER ${user || "(none: root)"}`);
  const exposed = runtime.ins.filter((i) => i.op === "EXPOSE").flatMap((i) => i.args.split(/\s+/)).map((p) => p.replace(/\/tcp$/, ""));
  rule("EXPOSE 8080 and 9090", ["8080", "9090"].filter((p) => !exposed.includes(p)).map((p) => `${p} not exposed`));
  const stop = runtime.ins.filter((i) => i.op === "STOPSIGNAL").pop()?.args;
  rule("STOPSIGNAL SIGTERM or unset (TERM is the graceful stop)",
    stop === undefined || /^(SIG)?TERM$|^15$/.test(stop) ? [] : `STOPSIGNAL ${stop}`);
  const entry = runtime.ins.filter((i) => i.op === "ENTRYPOINT").pop()?.args;
  let entryArgv = null;
  try {
    entryArgv = entry === undefined ? null : JSON.parse(entry);
  } catch {
    entryArgv = null;
  }
  rule("ENTRYPOINT [\"conduitd\"] in exec form (docker run IMAGE --help reaches conduitd)",
    Array.isArray(entryArgv) && /^(\/usr\/sbin\/)?conduitd$/.test(entryArgv[0] ?? "") ? [] :
      `ENTRYPOINT ${entry ?? "(none: arguments to docker run replace the command)"}`);
  // Parser directives: comment lines at the very top, before anything else.
  const directives = [];
  for (const line of text.split("\n")) {
    const m = /^#\s*([a-z]+)\s*=\s*(\S+)/i.exec(line);
    if (!m) break;
    directives.push({ key: m[1].toLowerCase(), value: m[2] });
  }
  rule("no unpinned # syntax= directive (no frontend image pulled by BuildKit)",
    directives.filter((d) => d.key === "syntax" && !/@sha256:[0-9a-f]{64}$/.test(d.value))
      .map((d) => `# syntax=${d.value} is not pinned by digest`));
  const copies = runtime.ins.filter((i) => i.op === "COPY" && /--from=/.test(i.args)).map((i) => i.args);
  rule("runtime copies the binary and the migrations from the build stage", [
    copies.some((c) => /\/usr\/sbin\/conduitd\s*$/.test(c)) ? null : "no COPY of /usr/sbin/conduitd",
    copies.some((c) => /\/usr\/share\/conduitd\/migrations\s*$/.test(c)) ? null : "no COPY of /usr/share/conduitd/migrations",
  ]);
  rule("no ADD of remote URLs", ins.filter((i) => i.op === "ADD" && /https?:\/\//.test(i.args)).map((i) => `ADD ${i.args}`));
  const env = runtime.ins.filter((i) => i.op === "ENV").map((i) => i.args).join(" ");
  rule("container listens on all interfaces", [
    /CONDUIT_LISTEN=0\.0\.0\.0:8080/.test(env) ? null : "CONDUIT_LISTEN=0.0.0.0:8080 not set",
    /CONDUIT_ADMIN_LISTEN=0\.0\.0\.0:9090/.test(env) ? null : "CONDUIT_ADMIN_LISTEN=0.0.0.0:9090 not set",
  ]);

  if (binary) {
    const libs = [];
    try {
      const out = execFileSync("objdump", ["-p", binary], { encoding: "utf8" });
      for (const m of out.matchAll(/^\s*NEEDED\s+(\S+)/gm)) libs.push(m[1]);
      const cache = execFileSync("ldconfig", ["-p"], { encoding: "utf8" });
      const missing = [];
      for (const lib of libs) {
        const path = new RegExp(`^\\s*${lib.replace(/[.+]/g, "\\$&")} \\(libc6,x86-64[^)]*\\) => (\\S+)`, "m").exec(cache)?.[1] ??
          new RegExp(`^\\s*${lib.replace(/[.+]/g, "\\$&")} \\([^)]*\\) => (\\S+)`, "m").exec(cache)?.[1];
        if (!path) {
          missing.push(`${lib}: not found by ldconfig`);
          continue;
        }
        let pkg;
        try {
          pkg = execFileSync("dpkg", ["-S", path], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split(":")[0];
        } catch {
          const real = execFileSync("readlink", ["-f", path], { encoding: "utf8" }).trim();
          pkg = execFileSync("dpkg", ["-S", real], { encoding: "utf8" }).split(":")[0];
        }
        if (pkg === "libc6") continue;
        if (!runtimePkgs.includes(pkg)) missing.push(`${lib} (Debian package ${pkg}) is not installed by the runtime stage`);
      }
      rule(`runtime stage installs every library the binary links (${libs.length} NEEDED)`, missing);
    } catch (err) {
      rule("runtime stage installs every library the binary links", `cannot inspect ${binary}: ${err.message.split("\n")[0]}`);
    }
  }

  for (const n of ok) console.log(`ok   ${n}`);
  for (const p of problems) console.log(`FAIL ${p}`);
  console.log(`dockerfile-policy: ${ok.length + problems.length} checks, ${problems.length} broken`);
  return problems.length ? 1 : 0;
}

if (process.argv.length < 3) {
  console.error("usage: node dockerfile-policy.mjs Dockerfile [--binary PATH]");
  process.exitCode = 2;
} else {
  process.exitCode = main(process.argv.slice(2));
}
