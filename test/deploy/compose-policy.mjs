// test/deploy/compose-policy.mjs: the project's rules for compose.yaml (the
// development stack), on top of `docker-compose config -q`, which checks the
// file against the Compose schema but not what issue 5 asks of it.
//
//   node test/deploy/compose-policy.mjs compose.yaml
//
// Rules: services api, postgres, redis and a one-shot migrate service running
// `conduitd migrate` from the API's image (its command after the image's
// ENTRYPOINT, read from the Dockerfile); health checks on api, postgres and
// redis; PostgreSQL 15 and Redis 7 official images with the major pinned, no
// :latest or untagged image; the API waits for healthy databases and a
// successful migration; PostgreSQL data on a named volume; API on 8080 and
// admin on 9090, the admin port on loopback only; the stop grace period above
// conduitd's drain deadline; a restart policy that a `docker kill -s HUP`
// (a reload) does not disable: no `unless-stopped` on the long-running
// services (Docker counts any kill as a manual stop); published ports read
// with their `${VAR:-default}` defaults; every secret-looking value marked
// development only.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseDocs } from "./lib.mjs";

const problems = [];
const ok = [];
function rule(name, list) {
  const l = (Array.isArray(list) ? list : [list]).filter(Boolean);
  if (l.length) for (const p of l) problems.push(`${name}: ${p}`);
  else ok.push(name);
}

function seconds(v) {
  const m = /^([0-9.]+)(ms|s|m|h)?$/.exec(String(v ?? ""));
  if (!m) return NaN;
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] ?? "s"];
}

function envOf(svc) {
  const e = svc.environment ?? {};
  if (Array.isArray(e)) return Object.fromEntries(e.map((x) => String(x).split(/=(.*)/s).slice(0, 2)));
  return e;
}

function imageProblem(name, svc) {
  const image = svc.image;
  if (!image) return svc.build ? null : `${name}: no image and no build`;
  if (/:latest$/.test(image)) return `${name}: ${image} uses :latest`;
  if (!/:[^/:]+$/.test(image) && !/@sha256:/.test(image)) return svc.build ? null : `${name}: ${image} is untagged`;
  return null;
}

// `${VAR:-default}` and `${VAR-default}` read as their defaults.
function withDefaults(text) {
  return String(text).replace(/\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}/g, "$1");
}

// The ENTRYPOINT (exec form) of the Dockerfile a service builds, or null.
// (A Dockerfile with several stages: the last ENTRYPOINT, the runtime's.)
function buildEntrypoint(file, svc) {
  const b = typeof svc.build === "string" ? { context: svc.build } : svc.build;
  if (!b) return null;
  // Beside the compose file, else (a mutated copy elsewhere) in the working directory.
  const path = [dirname(file), process.cwd()].map((d) => join(d, b.context ?? ".", b.dockerfile ?? "Dockerfile"))
    .find((p) => existsSync(p));
  if (!path) return null;
  const lines = readFileSync(path, "utf8").split("\n").filter((l) => /^\s*ENTRYPOINT\s/i.test(l));
  if (!lines.length) return null;
  try {
    return JSON.parse(lines.pop().replace(/^\s*ENTRYPOINT\s+/i, ""));
  } catch {
    return null;
  }
}

function main(file) {
  const [c] = parseDocs(readFileSync(file, "utf8"), file);
  const s = c?.services ?? {};
  rule("services api, postgres, redis, migrate", ["api", "postgres", "redis", "migrate"].filter((n) => !s[n]).map((n) => `no ${n} service`));
  if (!s.api || !s.postgres || !s.redis || !s.migrate) return finish();

  rule("health checks on api, postgres, redis", ["api", "postgres", "redis"].filter((n) => !s[n].healthcheck?.test || s[n].healthcheck?.disable).map((n) => `${n} has no healthcheck`));
  rule("PostgreSQL 15 and Redis 7, official images", [
    /^postgres:15([.-][A-Za-z0-9.-]+)?$/.test(s.postgres.image ?? "") ? null : `postgres image ${s.postgres.image}`,
    /^redis:7([.-][A-Za-z0-9.-]+)?$/.test(s.redis.image ?? "") ? null : `redis image ${s.redis.image}`,
  ]);
  rule("no :latest or untagged image", Object.entries(s).map(([n, v]) => imageProblem(n, v)));

  const entry = s.migrate.entrypoint !== undefined ? [].concat(s.migrate.entrypoint) : buildEntrypoint(file, s.migrate) ?? [];
  const cmd = [...entry, ...[].concat(s.migrate.command ?? [])].join(" ").replace(/^\/usr\/sbin\//, "");
  rule("migrate runs `conduitd migrate` from the API's image", [
    /\bconduitd migrate\b/.test(cmd) ? null : `migrate command is "${cmd}"`,
    s.migrate.image && s.migrate.image === s.api.image ? null : `migrate image ${s.migrate.image} differs from api image ${s.api.image}`,
    ["no", undefined].includes(s.migrate.restart) ? null : `migrate restart: ${s.migrate.restart} (a one-shot service)`,
  ]);

  const dep = s.api.depends_on ?? {};
  rule("api waits for healthy databases and a completed migration", Array.isArray(dep) ? "depends_on without conditions" : [
    dep.migrate?.condition === "service_completed_successfully" ? null : `migrate condition ${dep.migrate?.condition}`,
    dep.postgres?.condition === "service_healthy" ? null : `postgres condition ${dep.postgres?.condition}`,
    dep.redis?.condition === "service_healthy" ? null : `redis condition ${dep.redis?.condition}`,
  ]);
  rule("migrate waits for a healthy PostgreSQL", s.migrate.depends_on?.postgres?.condition === "service_healthy" ? [] : "migrate does not wait for postgres to be healthy");

  const pgVol = (s.postgres.volumes ?? []).map((v) => (typeof v === "string" ? { source: v.split(":")[0], target: v.split(":")[1] } : v))
    .find((v) => v.target === "/var/lib/postgresql/data");
  rule("PostgreSQL data on a named volume", pgVol && c.volumes && pgVol.source in c.volumes ? [] : "no named volume at /var/lib/postgresql/data");

  const ports = (s.api.ports ?? []).map((p) => withDefaults(p));
  rule("API on localhost:8080, admin on 9090 bound to loopback", [
    ports.some((p) => /(^|:)8080:8080(\/tcp)?$/.test(p)) ? null : "8080 not published",
    ports.some((p) => /^127\.0\.0\.1:9090:9090(\/tcp)?$/.test(p)) ? null : "admin 9090 not published on 127.0.0.1",
    ports.some((p) => /9090/.test(p) && !/^127\.0\.0\.1:/.test(p)) ? "admin port published beyond loopback" : null,
  ]);

  const env = envOf(s.api);
  const drain = env.CONDUIT_SHUTDOWN_TIMEOUT === undefined ? 25 : Number(env.CONDUIT_SHUTDOWN_TIMEOUT);
  const grace = seconds(s.api.stop_grace_period ?? "10s");
  rule(`stop_grace_period above the drain deadline (${grace} s > ${drain} s)`, grace > drain ? [] : `stop_grace_period ${s.api.stop_grace_period ?? "10s (default)"} <= CONDUIT_SHUTDOWN_TIMEOUT ${drain}`);
  rule("api listens on all interfaces inside the container", [
    /^0\.0\.0\.0:8080$/.test(env.CONDUIT_LISTEN ?? "") ? null : `CONDUIT_LISTEN ${env.CONDUIT_LISTEN}`,
    /^0\.0\.0\.0:9090$/.test(env.CONDUIT_ADMIN_LISTEN ?? "") ? null : `CONDUIT_ADMIN_LISTEN ${env.CONDUIT_ADMIN_LISTEN}`,
  ]);

  rule("restart policy kept after docker kill -s HUP (no unless-stopped)", ["api", "postgres", "redis"].map((n) => {
    const r = String(s[n].restart ?? "no");
    if (r === "unless-stopped") return `${n}: restart: unless-stopped (Docker counts a docker kill as a manual stop)`;
    return /^(on-failure(:[0-9]+)?|always)$/.test(r) ? null : `${n}: restart: ${r} (a crash is not restarted)`;
  }));

  const secretish = [];
  for (const [n, v] of Object.entries(s)) {
    for (const [k, val] of Object.entries(envOf(v))) {
      const isSecret = /PASSWORD|SECRET|TOKEN/i.test(k) || (/_URL$/.test(k) && /:\/\/[^/@:]+:[^@]+@/.test(String(val)));
      if (isSecret && !/dev-only/.test(String(val))) secretish.push(`${n}: ${k} is not marked dev-only`);
    }
  }
  rule("development-only secrets marked as such", secretish);
  rule("JWT_SECRET set for the api", env.JWT_SECRET ? [] : "no JWT_SECRET (conduitd requires it)");
  return finish();
}

function finish() {
  for (const n of ok) console.log(`ok   ${n}`);
  for (const p of problems) console.log(`FAIL ${p}`);
  console.log(`compose-policy: ${ok.length + problems.length} checks, ${problems.length} broken`);
  return problems.length ? 1 : 0;
}

if (process.argv.length !== 3) {
  console.error("usage: node compose-policy.mjs compose.yaml");
  process.exitCode = 2;
} else {
  process.exitCode = main(process.argv[2]);
}
