import { exports } from "cloudflare:workers";
import fc from "fast-check";
import { type JWK, exportJWK, generateKeyPair } from "jose";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { OAUTH_ERROR_CODES } from "../../src/api/routes/oauth/errors.js";
import { REASON_CODES, REASON_STATUS } from "../../src/errors.js";
import { createDpopProof } from "../../src/tokens/dpop.js";
import { APPROVER_KEYS, type AttesterId, KEY, PARAMS, type WorkflowId, attest, signedApproval } from "../helpers.js";

declare module "vitest" {
  interface ProvidedContext {
    /** Set by test/fuzz/vitest.config.ts (`npm run fuzz`); `npm test` runs the small defaults below. */
    fuzz?: { runs?: number; scenarios?: number; seed?: number };
  }
}

/**
 * The HTTP API fuzzed from its own OpenAPI document, inside workerd with the real
 * Durable Objects: random and mutated bodies, headers, methods, credentials and path
 * parameters for every documented operation, then random sequences of real operations
 * on live sequences. Whatever is sent, no answer is a 5xx, every error is the one
 * envelope with a code of the table and that code's status, and a documented
 * operation answers only with a status it documents.
 */
const SIZES = inject("fuzz") ?? {};
const RUNS = SIZES.runs ?? 500;
const SCENARIOS = SIZES.scenarios ?? 50;
const SEED = SIZES.seed ?? 15;

// ---------------------------------------------------------------- the document

type Schema = Record<string, any>;
interface Operation {
  method: string;
  path: string;
  pattern: RegExp;
  pathParams: string[];
  query: { name: string; schema: Schema }[];
  headers: { name: string; schema: Schema }[];
  body: Schema | null;
  /** The schema of an application/x-www-form-urlencoded body (the OAuth token endpoint). */
  form: Schema | null;
  statuses: Set<number>;
}

let spec: { paths: Record<string, Record<string, any>>; components: { schemas: Record<string, Schema> } };
let operations: Operation[] = [];

function operationsOf(document: typeof spec): Operation[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => ["get", "post", "put", "delete", "patch"].includes(method))
      .map(([method, op]) => {
        const parameters: { name: string; in: string; schema: Schema }[] = op.parameters ?? [];
        return {
          method: method.toUpperCase(),
          path,
          pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, "[^/]+").replace(/\./g, "\\.")}$`),
          pathParams: parameters.filter((p) => p.in === "path").map((p) => p.name),
          query: parameters.filter((p) => p.in === "query"),
          headers: parameters.filter((p) => p.in === "header"),
          body: op.requestBody?.content?.["application/json"]?.schema ?? null,
          form: op.requestBody?.content?.["application/x-www-form-urlencoded"]?.schema ?? null,
          statuses: new Set(Object.keys(op.responses ?? {}).map(Number)),
        };
      }),
  );
}

// ---------------------------------------------------------------- what the Worker answers

/** The one error envelope, exactly (README, "Reason codes"). */
const Envelope = z
  .object({
    error: z
      .object({
        code: z.enum(REASON_CODES as [string, ...string[]]),
        message: z.string().min(1),
        details: z.unknown().optional(),
        receipt: z.string().nullable(),
      })
      .strict(),
  })
  .strict();

const TABLE_STATUSES = new Set<number>(Object.values(REASON_STATUS));

/**
 * Under /oauth/ every refusal is OAuth's (RFC 6749 §5.2) with Baton's code beside it, never
 * the envelope: an OAuth client reads no other (README, "OAuth: metadata and token exchange").
 */
const OAuthErrorBody = z
  .object({
    error: z.enum(OAUTH_ERROR_CODES),
    error_description: z.string().regex(/^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/),
    baton_code: z.enum(REASON_CODES.filter((code) => code !== "INTERNAL") as [string, ...string[]]),
  })
  .strict();
const isOAuthPath = (url: string) => new URL(url).pathname.startsWith("/oauth/");

interface Sent {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

const stats = { sent: 0, unsendable: 0, byStatus: new Map<number, number>(), byCode: new Map<string, number>(), decisions: new Map<string, number>() };
/** Real tokens seen in answers (capabilities, receipts): mutated and replayed by later requests. */
const tokens: string[] = [];
const sequences: string[] = [];

function describeRequest(request: Sent): string {
  return `${request.method} ${request.url} ${JSON.stringify(request.headers)} ${request.body === undefined ? "" : request.body.slice(0, 300)}`;
}

/** Sends one request to the Worker and checks its answer; null when fetch itself refuses to build it. */
async function send(request: Sent): Promise<{ status: number; body: any; headers: Headers } | null> {
  let built: Request;
  try {
    const noBody = request.method === "GET" || request.method === "HEAD";
    built = new Request(request.url, { method: request.method, headers: request.headers, body: noBody ? undefined : request.body });
  } catch {
    // Not an HTTP request at all (a header value with a newline, a method with a space): nothing reaches Baton.
    stats.unsendable++;
    return null;
  }
  const response = await exports.default.fetch(built);
  // Decoded by hand: Response.text() warns about the receipts' application/jsonl.
  const text = new TextDecoder().decode(await response.arrayBuffer());
  stats.sent++;
  stats.byStatus.set(response.status, (stats.byStatus.get(response.status) ?? 0) + 1);
  const what = `${response.status} ${text.slice(0, 400)}\n  for ${describeRequest(request)}`;

  expect(response.status, what).toBeLessThan(500);
  expect(response.headers.get("x-request-id"), what).toMatch(/^[0-9a-f-]{36}$/);
  let body: any = text;
  if (response.status >= 400) {
    expect(TABLE_STATUSES.has(response.status), `status not in the table: ${what}`).toBe(true);
    if (request.method !== "HEAD") {
      expect(response.headers.get("content-type"), what).toMatch(/^application\/json/);
      body = JSON.parse(text);
      if (isOAuthPath(request.url)) {
        expect(OAuthErrorBody.safeParse(body).success, `not an OAuth error: ${what}`).toBe(true);
        // invalid_client, and it only, is 401 with its challenge (RFC 6749 §5.2).
        expect(body.error === "invalid_client", what).toBe(response.status === 401);
        if (response.status === 401) expect(response.headers.get("www-authenticate"), what).toMatch(/^Basic /);
        expect(response.headers.get("cache-control"), what).toBe("no-store");
        stats.byCode.set(`oauth:${body.error}:${body.baton_code}`, (stats.byCode.get(`oauth:${body.error}:${body.baton_code}`) ?? 0) + 1);
      } else {
        const envelope = Envelope.safeParse(body);
        expect(envelope.success, `not the error envelope: ${what}`).toBe(true);
        const code = body.error.code as keyof typeof REASON_STATUS;
        expect(code, what).not.toBe("INTERNAL");
        expect(REASON_STATUS[code], `code and status disagree: ${what}`).toBe(response.status);
        stats.byCode.set(code, (stats.byCode.get(code) ?? 0) + 1);
      }
    }
    if (response.status === 405) {
      const allow = response.headers.get("allow") ?? "";
      expect(allow, what).toMatch(/^[A-Z]+(, [A-Z]+)*$/);
      expect(allow.split(", "), what).not.toContain(request.method.toUpperCase());
    }
  } else if (text.startsWith("{")) {
    body = JSON.parse(text);
    if (typeof body.decision === "string") stats.decisions.set(body.decision, (stats.decisions.get(body.decision) ?? 0) + 1);
  }
  // A documented operation answers only with what it documents.
  const path = new URL(request.url).pathname;
  const operation = operations.find((op) => op.method === request.method.toUpperCase() && op.pattern.test(path));
  if (operation) expect(operation.statuses.has(response.status), `undocumented status for ${operation.method} ${operation.path}: ${what}`).toBe(true);
  harvest(text);
  return { status: response.status, body, headers: response.headers };
}

/** Collects the compact JWS in an answer, so later requests present real tokens. */
function harvest(text: string) {
  for (const match of text.matchAll(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g)) {
    if (tokens.length < 400) tokens.push(match[0]);
    else tokens[tokens.length % 400] = match[0];
  }
}

// ---------------------------------------------------------------- arbitraries

const KEYS = Object.values(KEY);
const HEX = fc.constantFrom(..."0123456789abcdef");
const junk = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.constantFrom("", " ", "null", "undefined", "..", "%00", "%2F", "../../etc/passwd", "a".repeat(5000), "😀", "\u202e"),
);

/** A token from the pool of real ones, as is or damaged. */
const realToken = fc.tuple(fc.nat(), fc.nat(), fc.constantFrom("as-is", "flip", "swap", "none", "truncate", "unsigned")).map(([i, j, how]) => {
  const token = tokens.length > 0 ? (tokens[i % tokens.length] as string) : "eyJhbGciOiJFZERTQSJ9.e30.AAAA";
  const [h, p, s] = token.split(".") as [string, string, string];
  switch (how) {
    case "as-is":
      return token;
    case "flip": {
      const at = j % token.length;
      return token.slice(0, at) + (token[at] === "A" ? "B" : "A") + token.slice(at + 1);
    }
    case "swap":
      return `${h}.${(tokens[j % Math.max(1, tokens.length)] ?? token).split(".")[1]}.${s}`;
    case "none":
      return `${btoa(JSON.stringify({ alg: "none", typ: "baton-capability+jwt" })).replace(/=+$/, "")}.${p}.`;
    case "truncate":
      return token.slice(0, j % token.length);
    default:
      return `${h}.${p}.`;
  }
});

const sequenceId = fc.oneof(
  { weight: 3, arbitrary: fc.nat().map((i) => sequences[i % Math.max(1, sequences.length)] ?? "0".repeat(64)) },
  { weight: 2, arbitrary: fc.string({ unit: HEX, minLength: 64, maxLength: 64 }) },
  { weight: 1, arbitrary: fc.string({ unit: HEX, minLength: 0, maxLength: 80 }) },
  { weight: 2, arbitrary: junk.map((s) => encodeURIComponent(s)) },
  { weight: 1, arbitrary: junk },
);

/**
 * The keys of the roles an operation is for (README, "HTTP API"), so that half of the
 * requests get past authentication to the schemas and the ledger.
 */
function keysFor(op: Operation): string[] {
  const tools = [KEY.deployer, KEY.db, KEY.expenses, KEY.payments];
  if (op.path === "/v1/redeem" || op.path === "/v1/outcomes" || op.path.startsWith("/access/v1/")) return tools;
  if (op.path.startsWith("/v1/signals")) return [KEY.operator, KEY.auditor];
  if (op.path.endsWith("/evidence")) return [KEY.agent, KEY.attester, KEY.orchestrator];
  if (op.path.endsWith("/approvals")) return [KEY.approvals, KEY.agent];
  if (op.path.endsWith("/capability") || op.path.endsWith("/delegations")) return [KEY.agent];
  if (op.path.endsWith("/receipts")) return [KEY.auditor, KEY.orchestrator];
  if (op.path === "/oauth/token") return [KEY.agent, KEY.agent2];
  if (op.path.startsWith("/v1/sequences")) return [KEY.orchestrator, KEY.agent, KEY.auditor];
  return [KEY.auditor];
}

/** OAuth client authentication (client_secret_basic): the client's id and API key. */
const CLIENT_IDS: Record<string, string> = { [KEY.agent]: "agent-7", [KEY.agent2]: "agent-2", [KEY.deployer]: "deployer", [KEY.auditor]: "auditor" };
const basic = (id: string, secret: string) => `Basic ${btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}`;
const basicCredential = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...Object.entries(CLIENT_IDS)).map(([key, id]) => basic(id, key)) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...Object.values(CLIENT_IDS)), fc.constantFrom(...KEYS)).map(([id, key]) => basic(id, key)) },
  { weight: 1, arbitrary: fc.tuple(junk, junk).map(([id, key]) => `Basic ${btoa(unescape(encodeURIComponent(`${id}:${key}`)))}`) },
  { weight: 1, arbitrary: junk.map((s) => `Basic ${s}`) },
);

const credentialFor = (op: Operation) =>
  fc.option(
    op.form
      ? fc.oneof({ weight: 8, arbitrary: basicCredential }, { weight: 2, arbitrary: credential })
      : fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom(...keysFor(op)).map((key) => `Bearer ${key}`) },
          { weight: 6, arbitrary: credential },
        ),
    { freq: 12 },
  );

const credential = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...KEYS).map((key) => `Bearer ${key}`) },
  { weight: 1, arbitrary: fc.constantFrom(...KEYS).map((key) => `bEaReR ${key}`) },
  { weight: 1, arbitrary: fc.constantFrom(...KEYS).map((key) => `Bearer ${key} `) },
  { weight: 1, arbitrary: junk.map((s) => `Bearer ${s}`) },
  { weight: 1, arbitrary: fc.constantFrom("Basic ZGV2OmRldg==", "Bearer", "Bearer ", `Bearer ${"k".repeat(600)}`, "dev-agent-key") },
);

const contentType = fc.option(
  fc.oneof(
    { weight: 8, arbitrary: fc.constant("application/json") },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/merge-patch+json",
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=----x",
        "application/octet-stream",
        "application/json; charset=latin1; x=1",
        "*/*",
      ),
    },
    { weight: 1, arbitrary: junk },
  ),
  { freq: 6 },
);

function resolve(schema: Schema): Schema {
  if (typeof schema.$ref === "string") return resolve(spec.components.schemas[schema.$ref.split("/").at(-1) as string] ?? {});
  return schema;
}

/** Values that fit a JSON Schema of the document (roughly; mutations do the rest). */
function fromSchema(raw: Schema, name = "", depth = 0): fc.Arbitrary<unknown> {
  const schema = resolve(raw);
  if (/token|attestation|approval|receipt|proof|capability/.test(name)) return fc.oneof(realToken, junk);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (schema.const !== undefined) return fc.constant(schema.const);
  const choices = schema.anyOf ?? schema.oneOf;
  if (choices) return fc.oneof(...choices.map((s: Schema) => fromSchema(s, name, depth)));
  if (schema.allOf) return fc.tuple(...schema.allOf.map((s: Schema) => fromSchema(s, name, depth))).map((parts) => Object.assign({}, ...parts.filter((p) => typeof p === "object")));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (depth > 3) return fc.jsonValue({ maxDepth: 1 });
  switch (type) {
    case "object": {
      const properties: Record<string, Schema> = schema.properties ?? {};
      const required: string[] = schema.required ?? [];
      if (Object.keys(properties).length === 0) return fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 });
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, value] of Object.entries(properties)) record[key] = fromSchema(value, key, depth + 1);
      return fc.record(record, { requiredKeys: required.filter((key) => key in record) });
    }
    case "array":
      return fc.array(fromSchema(schema.items ?? {}, name, depth + 1), { maxLength: 4 });
    case "string":
      if (schema.pattern) return fc.oneof(fc.stringMatching(new RegExp(schema.pattern)).map((s) => s.slice(0, 300)), junk);
      // (a minimum above 30, as a passkey form's authenticator_data has, keeps its minimum)
      return fc.oneof(fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.max(schema.minLength ?? 0, Math.min(schema.maxLength ?? 30, 30)) }), junk);
    case "integer":
      return fc.oneof(fc.integer({ min: schema.minimum ?? -10, max: schema.maximum ?? 1000 }), fc.integer());
    case "number":
      return fc.oneof(fc.double({ noNaN: true }), fc.integer());
    case "boolean":
      return fc.boolean();
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** A value, then damaged: a key dropped, a value of the wrong type, an unknown key, or something else entirely. */
function mutated(value: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: value },
    {
      weight: 2,
      arbitrary: fc.tuple(value, fc.nat(), fc.jsonValue({ maxDepth: 2 })).map(([v, i, replacement]) => {
        if (!v || typeof v !== "object" || Array.isArray(v)) return replacement;
        const keys = Object.keys(v);
        const copy: Record<string, unknown> = { ...(v as Record<string, unknown>) };
        if (keys.length === 0 || i % 3 === 0) copy[`x${i % 7}`] = replacement;
        else if (i % 3 === 1) delete copy[keys[i % keys.length] as string];
        else copy[keys[i % keys.length] as string] = replacement;
        return copy;
      }),
    },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.constantFrom(null, [], {}, 0, "", true) },
  );
}

/** A form-encoded body from the form's schema: values as strings, some dropped, repeated or extra. */
function formOf(schema: Schema): fc.Arbitrary<string> {
  return mutated(fromSchema(schema)).chain((value) =>
    fc.tuple(fc.constant(value), fc.nat(), fc.option(fc.tuple(junk, junk))).map(([v, i, extra]) => {
      const form = new URLSearchParams();
      if (v && typeof v === "object" && !Array.isArray(v)) {
        for (const [name, item] of Object.entries(v)) form.append(name, typeof item === "string" ? item : JSON.stringify(item));
        const names = [...form.keys()];
        // Now and then a parameter twice (RFC 6749 §3.2 forbids it).
        if (names.length > 0 && i % 5 === 0) form.append(names[i % names.length] as string, "again");
      }
      if (extra) form.append(extra[0], extra[1]);
      return form.toString();
    }),
  );
}

/** The body as sent: JSON of a (damaged) value, a form for a form operation, or neither at all. */
function bodyOf(schema: Schema | null, form: Schema | null = null): fc.Arbitrary<string | undefined> {
  if (form) return fc.oneof({ weight: 8, arbitrary: formOf(form) }, { weight: 2, arbitrary: bodyOf(null) });
  const json = schema ? mutated(fromSchema(schema)) : fc.jsonValue({ maxDepth: 2 });
  return fc.oneof(
    { weight: 8, arbitrary: json.map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    {
      weight: 1,
      arbitrary: fc.oneof(
        junk,
        fc.constantFrom("{", "[1,2", '{"a":1}{"b":2}', '{"__proto__":{"x":1}}', '{"token":"a","token":"b"}', "\ufeff{}", "x".repeat(70 * 1024)),
        fc.nat({ max: 40 }).map((n) => `${"[".repeat(n * 5)}${"]".repeat(n * 5)}`),
      ),
    },
  );
}

const methodFor = (op: Operation) =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constant(op.method) },
    { weight: 2, arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS") },
    { weight: 1, arbitrary: fc.constantFrom("PROPFIND", "TRACE", "get", "post", "FOO") },
  );

/** One request aimed at one documented operation, every part of it possibly wrong. */
function requestFor(op: Operation): fc.Arbitrary<Sent> {
  const params = fc.tuple(...op.pathParams.map(() => sequenceId));
  const query = fc.oneof(
    fc.constant(""),
    fc
      .tuple(...op.query.map((q) => fc.option(fromSchema(q.schema, q.name))), fc.option(fc.tuple(junk, junk)))
      .map((values) => {
        const search = new URLSearchParams();
        op.query.forEach((q, i) => {
          const v = values[i];
          if (v !== null && v !== undefined) search.set(q.name, String(v));
        });
        const extra = values[op.query.length] as [string, string] | null;
        if (extra) search.set(extra[0], extra[1]);
        const s = search.toString();
        return s ? `?${s}` : "";
      }),
  );
  const headers = fc.record(
    {
      authorization: credentialFor(op),
      "content-type": op.form ? fc.oneof({ weight: 4, arbitrary: fc.constant("application/x-www-form-urlencoded") }, { weight: 1, arbitrary: contentType }) : contentType,
      "idempotency-key": fc.option(fc.oneof(fc.uuid(), junk), { freq: 3 }),
      dpop: fc.option(realToken, { freq: 4 }),
      accept: fc.option(fc.constantFrom("application/json", "text/html", "*/*", "application/jsonl")),
    },
    { requiredKeys: [] },
  );
  return fc.tuple(methodFor(op), params, query, headers, bodyOf(op.body, op.form)).map(([method, values, search, rawHeaders, body]) => {
    let path = op.path;
    op.pathParams.forEach((name, i) => {
      path = path.replace(`{${name}}`, String(values[i]));
    });
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(rawHeaders)) if (typeof value === "string") headers[key] = value;
    return { method, url: `https://baton.test${path}${search}`, headers, body };
  });
}

// ---------------------------------------------------------------- sequences of real operations

const WORKFLOWS = Object.keys(PARAMS) as WorkflowId[];
const ATTESTERS: AttesterId[] = ["monitor", "backup-checker", "ci", "expense-checker"];
const STEPS = ["describe", "capability", "exchange", "redeem", "evidence", "approve", "outcome", "delegate", "revoke", "receipts", "signals", "replay", "mutant"] as const;
type Step = (typeof STEPS)[number];

interface Definition {
  stages: { id: string; grants?: { audience: string; actions: string[] }[]; gate?: { attestations?: { issuer: string; type: string }[] } }[];
}
const definitions = new Map<string, Definition>();
let actorJwk: Record<string, unknown>;
/** The actor's private key, for the DPoP proofs its sequences' bound capabilities need at the token endpoint. */
let actorKey: CryptoKey;

async function definitionOf(workflow: WorkflowId): Promise<Definition> {
  const known = definitions.get(workflow);
  if (known) return known;
  const result = await send({ method: "GET", url: `https://baton.test/v1/workflows/${workflow}`, headers: { authorization: `Bearer ${KEY.auditor}` } });
  const definition = result?.body.definition as Definition;
  definitions.set(workflow, definition);
  return definition;
}

/** Headers of a well-formed JSON request by the client with this key. */
const json = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}`, "content-type": "application/json" });

/** Runs one random step on a live sequence, with well-formed inputs picked by `pick`. */
async function step(
  kind: Step,
  pick: number,
  context: { workflow: WorkflowId; seq: string; capability: string | null; allows: string[]; last: Sent | null; op: Sent | null },
): Promise<void> {
  const base = `https://baton.test/v1/sequences/${context.seq}`;
  const definition = await definitionOf(context.workflow);
  const stage = definition.stages[pick % definition.stages.length] ?? definition.stages[0];
  const grants = stage?.grants ?? [];
  const grant = grants[pick % Math.max(1, grants.length)];
  const anyKey = KEYS[pick % KEYS.length] as string;
  let request: Sent;
  switch (kind) {
    case "describe":
      request = { method: "GET", url: base, headers: { authorization: `Bearer ${[KEY.auditor, KEY.orchestrator, KEY.agent, KEY.approvals, anyKey][pick % 5]}` } };
      break;
    case "capability":
      request = { method: "POST", url: `${base}/capability`, headers: { authorization: `Bearer ${pick % 4 === 0 ? anyKey : KEY.agent}` } };
      break;
    case "exchange": {
      // RFC 8693 at /oauth/token, by the actor (now and then another client), for a tool of the picked stage.
      const form = new URLSearchParams({
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        subject_token: context.capability ?? tokens[pick % Math.max(1, tokens.length)] ?? "x.y.z",
        subject_token_type: "urn:baton:params:oauth:token-type:capability",
        audience: grant?.audience ?? "deployer",
      });
      const [id, key] = pick % 6 === 0 ? (Object.entries(CLIENT_IDS)[pick % 4] ?? []).reverse() : ["agent-7", KEY.agent];
      const url = "https://baton.test/oauth/token";
      // The scenarios' sequences are bound to the actor's key: a proof of it, mostly.
      const iat = Math.floor(Date.now() / 1000);
      const proof = await createDpopProof(actorKey, actorJwk as JWK, { htm: "POST", htu: url, accessToken: form.get("subject_token") as string, iat });
      request = {
        method: "POST",
        url,
        headers: { authorization: basic(id ?? "agent-7", key ?? KEY.agent), "content-type": "application/x-www-form-urlencoded", ...(pick % 5 === 0 ? {} : { dpop: proof }) },
        body: form.toString(),
      };
      break;
    }
    case "redeem": {
      const args = { ...PARAMS[context.workflow], percent: pick % 15, amount: (pick * 37) % 700, count: pick % 5 };
      const action = grant?.actions[pick % grant.actions.length] ?? "deploy.canary";
      const tool = grant ? `dev-tool-${grant.audience}-key` : anyKey;
      request = {
        method: "POST",
        url: "https://baton.test/v1/redeem",
        headers: json(pick % 5 === 0 ? anyKey : tool),
        body: JSON.stringify({ token: context.capability ?? tokens[pick % Math.max(1, tokens.length)] ?? "x.y.z", action, args }),
      };
      break;
    }
    case "evidence": {
      const wanted = stage?.gate?.attestations?.[0] ?? { issuer: "monitor", type: "canary_passed" };
      const attester = (ATTESTERS.includes(wanted.issuer as AttesterId) ? wanted.issuer : ATTESTERS[pick % ATTESTERS.length]) as AttesterId;
      const facts = { ...PARAMS[context.workflow], error_rate: (pick % 3) / 100, passed: pick % 2 === 0, total: (pick * 13) % 600 };
      const attestation = await attest({ attester, seq: pick % 7 === 0 ? (sequences[pick % sequences.length] ?? context.seq) : context.seq, stage: stage?.id ?? "x", type: wanted.type, facts });
      request = { method: "POST", url: `${base}/evidence`, headers: json([KEY.agent, KEY.attester, KEY.orchestrator, anyKey][pick % 4] as string), body: JSON.stringify({ attestation }) };
      break;
    }
    case "approve": {
      const approvers = Object.keys(APPROVER_KEYS);
      let approval: string;
      try {
        approval = await signedApproval(context.seq, approvers[pick % approvers.length] as string, { decision: pick % 6 === 0 ? "reject" : "approve" });
      } catch {
        // Nothing to approve now: present a real token anyway.
        approval = tokens[pick % Math.max(1, tokens.length)] ?? "x.y.z";
      }
      request = { method: "POST", url: `${base}/approvals`, headers: json([KEY.approvals, KEY.agent, KEY.orchestrator, anyKey][pick % 4] as string), body: JSON.stringify({ approval }) };
      break;
    }
    case "outcome": {
      const receipt = context.allows[pick % Math.max(1, context.allows.length)] ?? tokens[pick % Math.max(1, tokens.length)] ?? "x.y.z";
      const outcome = ["succeeded", "failed", "unknown"][pick % 3];
      const tool = grant ? `dev-tool-${grant.audience}-key` : anyKey;
      request = { method: "POST", url: "https://baton.test/v1/outcomes", headers: json(tool), body: JSON.stringify({ receipt, outcome, detail: "fuzz" }) };
      break;
    }
    case "delegate": {
      const delegated = grant ? [{ audience: grant.audience, actions: grant.actions.slice(0, 1), uses: 1 }] : [];
      request = {
        method: "POST",
        url: `${base}/delegations`,
        headers: json(KEY.agent),
        body: JSON.stringify({ token: context.capability ?? "x.y.z", actor: `sub-${pick % 3}`, grants: delegated, ttl_seconds: 30 + (pick % 300) }),
      };
      break;
    }
    case "revoke":
      // Rarely: a revoked sequence makes every later step a refusal, which is worth some of the time.
      if (pick % 5 !== 0) return;
      request = { method: "POST", url: `${base}/revoke`, headers: json(KEY.orchestrator), body: JSON.stringify({ reason: "fuzz" }) };
      break;
    case "receipts":
      request = { method: "GET", url: `${base}/receipts?after=${pick % 10}`, headers: { authorization: `Bearer ${[KEY.auditor, KEY.orchestrator, anyKey][pick % 3]}` } };
      break;
    case "signals": {
      const action = ["acknowledge", "clear"][pick % 2];
      request =
        pick % 3 === 0
          ? { method: "GET", url: "https://baton.test/v1/signals?actor=agent-7", headers: { authorization: `Bearer ${KEY.operator}` } }
          : { method: "POST", url: `https://baton.test/v1/signals/s-${pick % 4}/${action}`, headers: json(KEY.operator), body: JSON.stringify({ actor: "agent-7", note: "fuzz" }) };
      break;
    }
    case "replay":
      if (!context.last) return;
      request = context.last;
      break;
    case "mutant":
      // One of the single-request mutants, aimed at this live sequence.
      if (!context.op) return;
      request = { ...context.op, url: context.op.url.replace(/[0-9a-f]{64}/, context.seq) };
      break;
  }
  // Now and then an Idempotency-Key from a small set, so retries and conflicting reuses happen.
  if (request.method === "POST" && kind !== "replay" && pick % 4 === 0) {
    request = { ...request, headers: { ...request.headers, "idempotency-key": `fuzz-${context.seq.slice(0, 8)}-${pick % 3}` } };
  }
  const result = await send(request);
  context.last = request;
  if (!result || typeof result.body !== "object") return;
  const body = result.body as Record<string, any>;
  if (typeof body.capability === "string") context.capability = body.capability;
  if (body.decision === "ALLOW" && typeof body.receipt === "string" && kind === "redeem") context.allows.push(body.receipt);
}

// ---------------------------------------------------------------- the properties

describe("the HTTP API, fuzzed from its OpenAPI document", () => {
  beforeAll(async () => {
    const document = await exports.default.fetch(new Request("https://baton.test/openapi.json"));
    spec = (await document.json()) as typeof spec;
    operations = operationsOf(spec);
    const actor = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    actorKey = actor.privateKey;
    actorJwk = { ...(await exportJWK(actor.publicKey)), kid: "fuzz-actor", alg: "EdDSA" };
    // A few live sequences, so that path parameters and tokens are sometimes real.
    for (const workflow of ["deployment", "reimbursement", "quorum", "delegating"] as WorkflowId[]) {
      const started = await send({
        method: "POST",
        url: "https://baton.test/v1/sequences",
        headers: json(KEY.orchestrator),
        body: JSON.stringify({ workflow, params: PARAMS[workflow], subject: "user:alice", actor: "agent-7" }),
      });
      if (started?.status === 201) sequences.push(started.body.sequence);
    }
    expect(sequences.length).toBe(4);
  });

  it(`every operation, ${RUNS} random and mutated requests (seed ${SEED}): no 5xx, every error in the envelope with its status`, async () => {
    expect(operations.length).toBeGreaterThan(10);
    const request = fc.constantFrom(...operations).chain((op) => requestFor(op));
    await fc.assert(
      fc.asyncProperty(request, async (sent) => {
        await send(sent);
      }),
      { numRuns: RUNS, seed: SEED },
    );
    const seenOps = operations.length;
    console.log(
      `fuzz (seed ${SEED}): ${RUNS} cases over ${seenOps} operations, ${stats.sent} requests sent (${stats.unsendable} not buildable); statuses ${JSON.stringify(Object.fromEntries([...stats.byStatus].sort()))}`,
    );
  });

  it(`${SCENARIOS} random sequences of real operations on live sequences (seed ${SEED}): no 5xx, the envelope everywhere`, async () => {
    const before = stats.sent;
    const scenario = fc.record({
      workflow: fc.constantFrom(...WORKFLOWS),
      steps: fc.array(fc.tuple(fc.constantFrom(...STEPS), fc.nat()), { minLength: 1, maxLength: 12 }),
      mutant: fc.constantFrom(...operations).chain((op) => requestFor(op)),
    });
    await fc.assert(
      fc.asyncProperty(scenario, async ({ workflow, steps, mutant }) => {
        // Sender-constrained workflows bind the capabilities to the actor's key.
        const started = await send({
          method: "POST",
          url: "https://baton.test/v1/sequences",
          headers: json(KEY.orchestrator),
          body: JSON.stringify({ workflow, params: PARAMS[workflow], subject: "user:alice", actor: "agent-7", actor_jwk: actorJwk }),
        });
        expect(started?.status, JSON.stringify(started?.body)).toBe(201);
        const context = { workflow, seq: started?.body.sequence as string, capability: started?.body.capability as string, allows: [] as string[], last: null, op: mutant };
        if (sequences.length < 50) sequences.push(context.seq);
        for (const [kind, pick] of steps) await step(kind, pick, context);
      }),
      { numRuns: SCENARIOS, seed: SEED },
    );
    console.log(
      `fuzz (seed ${SEED}): ${SCENARIOS} scenarios, ${stats.sent - before} requests; over both properties: decisions ${JSON.stringify(Object.fromEntries(stats.decisions))}, error codes ${JSON.stringify(Object.fromEntries([...stats.byCode].sort()))}`,
    );
  });
});
