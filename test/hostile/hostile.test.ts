/// <reference types="vite/client" />
import { base64url, exportJWK, generateKeyPair, importJWK } from "jose";
import { describe, expect, it } from "vitest";
import { REASON_STATUS, type ReasonCode } from "../../src/errors.js";
import { createDpopProof } from "../../src/tokens/dpop.js";
import monitorKey from "../../examples/keys/monitor.private.jwk.json";
import batonTestKeys from "../fixtures/signing-keys.test-only.json";
import {
  APPROVER_KEYS,
  type ApiResult,
  KEY,
  PARAMS,
  api,
  attest,
  claimsOf,
  ledgerState,
  publicJwkOf,
  receipts,
  redeem,
  signedApproval,
  start,
  submitApproval,
  submitEvidence,
} from "../helpers.js";

/**
 * Hostile tokens, one JSON fixture per case (vectors/<point>/<case>.json): the
 * runner builds a fresh valid token for the point, applies the fixture's
 * mutation, presents it, and asserts the exact reason code, its status, and
 * that the sequence's state did not change; `message` (a regular expression)
 * pins down which check refused it, so a token named for a claims check cannot
 * pass by failing earlier, at the signature. Capabilities are signed with the
 * run's own Baton key (test/fixtures/signing-keys.test-only.json, configured as
 * BATON_SIGNING_KEYS by vitest.config.ts), so re-signed ones verify; `signer:
 * "attacker"` re-signs with a fresh key under Baton's kid instead. `genuine` marks a
 * capability that verifies as Baton's (through a tool's authorize(), its refusal is
 * receipted; junk makes no call). A fixture with `finding` records something Baton
 * accepts but should refuse: its test is `it.fails`.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Point = "attestation" | "approval" | "capability" | "dpop";
type SignMode = "none" | "hs256-public" | "foreign-key" | "es256-foreign";
type RawMode =
  | "jwe-5-parts"
  | "json-serialization"
  | "non-canonical-signature"
  | "payload-array"
  | "payload-number"
  | "payload-invalid-utf8"
  | "duplicate-member"
  | "oversize";

interface Mutation {
  /** action: the genuine token, presented for another action (capability only). */
  kind: "header" | "claims" | "sign" | "raw" | "replay" | "action";
  /** action: what the token is presented for, with these arguments. */
  action?: string;
  args?: Record<string, Json>;
  /** header / claims: members to merge (placeholders: "$seq", "$public-jwk", "$foreign-public-jwk", {"$now": offset}). */
  set?: Record<string, Json>;
  /** header / claims: members to remove. */
  delete?: string[];
  /** header / claims: re-sign with the point's normal key (default), or keep the original signature. */
  resign?: boolean;
  /** header / claims / raw: who re-signs — the point's normal key (default) or an attacker's fresh key under the same kid. */
  signer?: "normal" | "attacker";
  /** sign: how to sign; `alg` overrides the header's alg, `signature` is the literal signature of "none". */
  sign?: SignMode;
  alg?: string;
  signature?: string;
  /** raw: a re-encoding of the token. */
  raw?: RawMode;
  /** raw duplicate-member: which part, which member, and the value of its first (shadowed) spelling. */
  part?: "header" | "payload";
  member?: string;
  value?: Json;
  /** replay: what the second presentation is (absent: the very same token). */
  then?: Mutation;
}

interface Fixture {
  description: string;
  mutation: Mutation;
  expect: ReasonCode;
  /** A regular expression the refusal's message must match: which check refused it. */
  message?: string;
  /**
   * Capabilities: the token is one Baton could have minted (its signature, claims and
   * issuer verify), so a tool's verifier that refuses it reports the refusal to the gate,
   * which receipts it (issue 15); anything else is junk, refused offline without a call.
   */
  genuine?: boolean;
  /**
   * Capabilities through the verifier library (offline), when it answers otherwise
   * than the gate: another code or message, or ACCEPTED for what only the ledger knows.
   */
  offline?: { expect: ReasonCode | "ACCEPTED"; message?: string; why?: string };
  /** Baton accepts this though it should refuse it: the test is expected to fail. */
  finding?: string;
}

interface Target {
  seq: string;
  /** A fresh valid token of the point. */
  token: string;
  /** The point's normal signing key and algorithm ("re-sign" uses them). */
  key: CryptoKey;
  alg: string;
  /** The public JWK of the key that verifies the point's tokens (HS256 secret, embedded jwk). */
  publicJwk: Record<string, unknown>;
  present(token: string): Promise<ApiResult<Record<string, any>>>;
  /** Presents the token for another action (the capability point). */
  presentFor?(token: string, action: string, args: Record<string, unknown>): Promise<ApiResult<Record<string, any>>>;
}

const vectors = import.meta.glob("./vectors/**/*.json", { eager: true, import: "default" }) as Record<string, Fixture>;

const enc = new TextEncoder();
const b64 = (data: string | Uint8Array) => base64url.encode(data);
const decodeJson = (segment: string) => JSON.parse(new TextDecoder().decode(base64url.decode(segment))) as Record<string, Json>;
const nowSeconds = () => Math.floor(Date.now() / 1000);

async function privateKeyOf(jwk: Record<string, unknown>): Promise<{ key: CryptoKey; alg: string; publicJwk: Record<string, unknown> }> {
  const { "//": _comment, approver: _approver, d: _d, ...publicJwk } = jwk;
  const { "//": _c, approver: _a, ...usable } = jwk;
  const alg = String(jwk.alg ?? "EdDSA");
  return { key: (await importJWK(usable as never, alg)) as CryptoKey, alg, publicJwk };
}

// ---- the four points ------------------------------------------------------

const canaryFacts = { service: "checkout", version: "2.4.1", error_rate: 0 };
const TOOL_URL = "https://observability.example/v1/logs";

const TARGETS: Record<Point, () => Promise<Target>> = {
  async attestation() {
    const { seq } = await start("deployment");
    const { key, alg } = await privateKeyOf(monitorKey);
    return {
      seq,
      token: await attest({ seq, stage: "canary", type: "canary_passed", facts: canaryFacts }),
      key,
      alg,
      publicJwk: publicJwkOf("monitor"),
      present: (token) => submitEvidence(seq, token),
    };
  },

  async approval() {
    const { seq } = await start("reimbursement");
    const facts = { report: PARAMS.reimbursement.report, total: PARAMS.reimbursement.total };
    const summary = await attest({ attester: "expense-checker", seq, stage: "gather", type: "summary_complete", facts });
    const escalated = await submitEvidence(seq, summary);
    if (escalated.status !== 202) throw new Error(`summary attestation: ${escalated.status} ${JSON.stringify(escalated.body)}`);
    const { key, alg, publicJwk } = await privateKeyOf(APPROVER_KEYS.fran as Record<string, unknown>);
    return { seq, token: await signedApproval(seq, "fran"), key, alg, publicJwk, present: (token) => submitApproval(seq, token) };
  },

  async capability() {
    // This run's Baton signs with the test key set: re-signing uses the very key Baton signs with.
    const { seq, capability } = await start("deployment");
    const { body } = await api("GET", "/.well-known/jwks.json");
    const kid = decodeJson(capability.split(".")[0] as string).kid;
    const signing = batonTestKeys.keys.find((k) => k.kid === kid);
    if (!signing) throw new Error(`the capability's kid ${String(kid)} is not the test key set's: is BATON_SIGNING_KEYS set?`);
    const { key } = await privateKeyOf({ ...signing, alg: "EdDSA" });
    const publicJwk = (body.keys as Record<string, unknown>[]).find((k) => k.kid === kid) as Record<string, unknown>;
    return {
      seq,
      token: capability,
      key,
      alg: "EdDSA",
      publicJwk,
      present: (token) => redeem(KEY.deployer, token, "deploy.canary", { ...PARAMS.deployment, percent: 5 }),
      presentFor: (token, action, args) => redeem(KEY.deployer, token, action, args),
    };
  },

  async dpop() {
    const { privateKey, publicKey } = await generateKeyPair("EdDSA", { extractable: true });
    const agentJwk = { ...(await exportJWK(publicKey)), kid: "agent-7-key", alg: "EdDSA" };
    const { seq, capability } = await start("incident-response", { body: { actor_jwk: agentJwk } });
    const proof = await createDpopProof(privateKey, agentJwk, { htm: "POST", htu: TOOL_URL, accessToken: capability, iat: nowSeconds() });
    return {
      seq,
      token: proof,
      key: privateKey,
      alg: "EdDSA",
      // What the proof embeds (public members only).
      publicJwk: decodeJson(proof.split(".")[0] as string).jwk as Record<string, unknown>,
      present: (dpop) =>
        api("POST", "/v1/redeem", {
          key: KEY.observability,
          body: { token: capability, action: "logs.read", args: { service: "checkout" }, dpop: { proof: dpop, htm: "POST", htu: TOOL_URL } },
        }),
    };
  },
};

// ---- mutations --------------------------------------------------------------

interface Signer {
  key: CryptoKey | Uint8Array;
  alg: "EdDSA" | "ES256" | "HS256";
}

interface Foreign {
  ed: { privateKey: CryptoKey; publicJwk: Record<string, unknown> };
  ec: { privateKey: CryptoKey; publicJwk: Record<string, unknown> };
}

async function foreignKeys(): Promise<Foreign> {
  const ed = await generateKeyPair("EdDSA", { extractable: true });
  const ec = await generateKeyPair("ES256", { extractable: true });
  const pub = async (key: CryptoKey) => {
    const { kty, crv, x, y } = await exportJWK(key);
    return JSON.parse(JSON.stringify({ kty, crv, x, y })) as Record<string, unknown>;
  };
  return { ed: { privateKey: ed.privateKey, publicJwk: await pub(ed.publicKey) }, ec: { privateKey: ec.privateKey, publicJwk: await pub(ec.publicKey) } };
}

async function rawSign(signer: Signer, input: Uint8Array): Promise<Uint8Array> {
  if (signer.alg === "HS256") {
    const hmac = await crypto.subtle.importKey("raw", signer.key as Uint8Array, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return new Uint8Array(await crypto.subtle.sign("HMAC", hmac, input));
  }
  const key = signer.key as CryptoKey;
  const algorithm = signer.alg === "ES256" ? { name: "ECDSA", hash: "SHA-256" } : key.algorithm;
  return new Uint8Array(await crypto.subtle.sign(algorithm, key, input));
}

function resolve(value: Json, context: { seq: string; publicJwk: Record<string, unknown>; foreignJwk: Record<string, unknown> }): Json {
  if (value === "$seq") return context.seq;
  if (value === "$public-jwk") return context.publicJwk as Json;
  if (value === "$foreign-public-jwk") return context.foreignJwk as Json;
  if (Array.isArray(value)) return value.map((v) => resolve(v, context));
  if (value !== null && typeof value === "object") {
    if (typeof value.$now === "number") return nowSeconds() + value.$now;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, context)]));
  }
  return value;
}

/** `{"member":value,` + the rest of the object: a duplicate member whose first spelling JSON.parse drops. */
function withDuplicate(object: Record<string, Json>, member: string, value: Json): string {
  return `{${JSON.stringify(member)}:${JSON.stringify(value)},${JSON.stringify(object).slice(1)}`;
}

async function mutate(target: Target, token: string, mutation: Mutation): Promise<string> {
  const [h, p, s] = token.split(".") as [string, string, string];
  const header = decodeJson(h);
  const claims = decodeJson(p);
  const foreign = await foreignKeys();
  const useEc = mutation.sign === "es256-foreign";
  const context = { seq: target.seq, publicJwk: target.publicJwk, foreignJwk: (useEc ? foreign.ec : foreign.ed).publicJwk };
  let signer: Signer =
    mutation.signer === "attacker" ? { key: foreign.ed.privateKey, alg: "EdDSA" } : { key: target.key, alg: target.alg as Signer["alg"] };
  let resign = mutation.resign ?? true;

  const edit = (object: Record<string, Json>) => {
    for (const [name, value] of Object.entries(mutation.set ?? {})) object[name] = resolve(value, context);
    for (const name of mutation.delete ?? []) delete object[name];
  };
  if (mutation.kind === "header") edit(header);
  if (mutation.kind === "claims") edit(claims);

  let noneSignature: string | undefined;
  if (mutation.kind === "sign") {
    resign = true;
    switch (mutation.sign) {
      case "none":
        noneSignature = mutation.signature ?? "";
        header.alg = "none";
        break;
      case "hs256-public":
        signer = { key: enc.encode(JSON.stringify(target.publicJwk)), alg: "HS256" };
        header.alg = "HS256";
        break;
      case "foreign-key":
        signer = { key: foreign.ed.privateKey, alg: "EdDSA" };
        header.alg = "EdDSA";
        break;
      case "es256-foreign":
        signer = { key: foreign.ec.privateKey, alg: "ES256" };
        header.alg = "ES256";
        break;
      default:
        throw new Error(`unknown sign mode ${String(mutation.sign)}`);
    }
    if (mutation.alg) header.alg = mutation.alg;
    edit(header);
  }

  let headerText = JSON.stringify(header);
  let payload: Uint8Array = enc.encode(JSON.stringify(claims));
  if (mutation.kind === "raw") {
    switch (mutation.raw) {
      case "jwe-5-parts": {
        const jweHeader = b64(JSON.stringify({ alg: "dir", enc: "A256GCM", kid: header.kid, typ: header.typ }));
        const random = (n: number) => b64(crypto.getRandomValues(new Uint8Array(n)));
        return `${jweHeader}.${random(32)}.${random(12)}.${p}.${random(16)}`;
      }
      case "json-serialization":
        return JSON.stringify({ protected: h, payload: p, signature: s });
      case "non-canonical-signature": {
        const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        const last = alphabet.indexOf(s.at(-1) as string);
        // A 64-byte signature leaves 4 unused bits in its last character: set the lowest.
        const twin = `${h}.${p}.${s.slice(0, -1)}${alphabet[last ^ 1]}`;
        expect(base64url.decode(twin.split(".")[2] as string)).toEqual(base64url.decode(s));
        return twin;
      }
      case "payload-array":
        payload = enc.encode(`[${JSON.stringify(claims)}]`);
        break;
      case "payload-number":
        payload = enc.encode("42");
        break;
      case "payload-invalid-utf8":
        payload = new Uint8Array([0x7b, 0xff, 0x7d]);
        break;
      case "duplicate-member":
        if (mutation.part === "header") headerText = withDuplicate(header, mutation.member as string, mutation.value as Json);
        else payload = enc.encode(withDuplicate(claims, mutation.member as string, mutation.value as Json));
        break;
      case "oversize":
        payload = enc.encode(JSON.stringify({ ...claims, pad: "A".repeat(9 * 1024) }));
        break;
      default:
        throw new Error(`unknown raw mode ${String(mutation.raw)}`);
    }
  }

  const input = `${b64(headerText)}.${b64(payload)}`;
  if (noneSignature !== undefined) return `${input}.${noneSignature}`;
  if (!resign) return `${input}.${s}`;
  return `${input}.${b64(await rawSign(signer, enc.encode(input)))}`;
}

// ---- the runner ---------------------------------------------------------------

const byPoint = new Map<Point, [string, Fixture][]>();
for (const [path, fixture] of Object.entries(vectors)) {
  const [, point, name] = /^\.\/vectors\/([^/]+)\/([^/]+)\.json$/.exec(path) ?? [];
  if (!point || !name || !(point in TARGETS)) throw new Error(`fixture outside a known point: ${path}`);
  const list = byPoint.get(point as Point) ?? [];
  list.push([name, fixture]);
  byPoint.set(point as Point, list);
}

/** Builds a fresh valid token for the point, mutates it, presents it; the ledger state around the presentation. */
async function attack(point: Point, fixture: Fixture) {
  const target = await TARGETS[point]();
  let presented = target.token;
  const mutation = fixture.mutation;
  if (mutation.kind === "replay") {
    const first = await target.present(target.token);
    expect(first.status, `first presentation: ${JSON.stringify(first.body)}`).toBe(200);
    if (mutation.then) presented = await mutate(target, target.token, mutation.then);
  } else if (mutation.kind !== "action") {
    presented = await mutate(target, target.token, mutation);
  }
  const before = await ledgerState(target.seq);
  if (mutation.kind === "action") {
    if (!target.presentFor || !mutation.action) throw new Error(`${point}: an action mutation needs a capability and an action`);
    const result = await target.presentFor(presented, mutation.action, mutation.args ?? {});
    return { result, before, after: await ledgerState(target.seq) };
  }
  const result = await target.present(presented);
  return { result, before, after: await ledgerState(target.seq) };
}

describe("hostile-token vectors", () => {
  it("every point has fixtures and every fixture a known code", () => {
    expect([...byPoint.keys()].sort()).toEqual(["approval", "attestation", "capability", "dpop"]);
    for (const [, fixture] of [...byPoint.values()].flat()) expect(Object.keys(REASON_STATUS)).toContain(fixture.expect);
  });

  it("every capability fixture names the check that refuses it (a message), but the request-schema ones", () => {
    const unnamed = (byPoint.get("capability") ?? []).filter(([, f]) => !f.message && f.expect !== "INVALID_REQUEST").map(([name]) => name);
    expect(unnamed).toEqual([]);
  });

  it("a genuine capability fixture is the real token, or its claims re-signed with Baton's own key", () => {
    const capabilities = byPoint.get("capability") ?? [];
    const unmarked = capabilities.filter(([, f]) => f.mutation.kind === "action" && !f.genuine).map(([name]) => name);
    expect(unmarked, "presented as it was minted, for another action, yet not genuine").toEqual([]);
    const forged = capabilities
      .filter(([, f]) => f.genuine && !(f.mutation.kind === "action" || (f.mutation.kind === "claims" && f.mutation.resign !== false && f.mutation.signer !== "attacker")))
      .map(([name]) => name);
    expect(forged, "genuine, yet not signed by Baton's key").toEqual([]);
  });

  for (const [point, fixtures] of [...byPoint.entries()].sort()) {
    describe(point, () => {
      for (const [name, fixture] of fixtures.sort(([a], [b]) => a.localeCompare(b))) {
        const title = `${name}: ${fixture.description} → ${fixture.expect}`;
        const run = async () => {
          const { result, before, after } = await attack(point, fixture);
          expect(result.body.error?.code, JSON.stringify(result.body)).toBe(fixture.expect);
          expect(result.status).toBe(REASON_STATUS[fixture.expect]);
          if (fixture.message) expect(result.body.error?.message).toMatch(new RegExp(fixture.message));
          expect(after).toEqual(before);
        };
        if (!fixture.finding) {
          it(title, run);
          continue;
        }
        // A finding: the right expectation fails today, and a second test pins down
        // why (the token is ALLOWed), so it.fails cannot pass on an unrelated error.
        it.fails(`${title} [FINDING: ${fixture.finding}]`, run);
        it(`${name}: currently ALLOWed (finding)`, async () => {
          const { result } = await attack(point, fixture);
          expect(result.status, JSON.stringify(result.body)).toBe(200);
          expect(result.body.decision).toBe("ALLOW");
        });
      }
    });
  }
});

// The same capability fixtures, offline, through the tool servers' verifier library:
// every mutated token must be refused there too, with the code a tool would answer.
describe("capability in the verifier library (offline)", async () => {
  const { exports } = await import("cloudflare:workers");
  const { createVerifier, VerifierError } = await import("../../src/verifier/index.js");
  const fetchWorker: typeof fetch = (input, init) => exports.default.fetch(new Request(input as RequestInfo, init));
  const verifier = createVerifier({ issuer: "https://baton.test", audience: "deployer", baseUrl: "https://baton.test", fetch: fetchWorker });
  // What the tool would answer: the gate's code (a request-schema refusal is a bad token
  // to a tool) and, where the check is the same code, the gate's message.
  const offline = (fixture: Fixture): { expect: ReasonCode | "ACCEPTED"; message?: string } =>
    fixture.offline ?? { expect: fixture.expect === "INVALID_REQUEST" ? "TOKEN_INVALID" : fixture.expect, message: fixture.message };
  for (const [name, fixture] of (byPoint.get("capability") ?? []).filter(([, f]) => f.mutation.kind !== "replay")) {
    const expected = offline(fixture);
    const why = expected.expect === "ACCEPTED" && fixture.offline?.why ? ` (${fixture.offline.why})` : "";
    it(`${name} → ${expected.expect}${why}`, async () => {
      const target = await TARGETS.capability();
      const { mutation } = fixture;
      const token = mutation.kind === "action" ? target.token : await mutate(target, target.token, mutation);
      const request = mutation.kind === "action" ? { action: mutation.action ?? "", args: mutation.args ?? {} } : { action: "deploy.canary", args: { ...PARAMS.deployment, percent: 5 } };
      const refused = await verifier.verify(token, request).then(
        () => null,
        (e: unknown) => e,
      );
      if (expected.expect === "ACCEPTED") {
        expect(refused).toBeNull();
        return;
      }
      expect(refused).toBeInstanceOf(VerifierError);
      const error = refused as InstanceType<typeof VerifierError>;
      expect(error.code, error.message).toBe(expected.expect);
      if (expected.message) expect(error.message).toMatch(new RegExp(expected.message));
    });
  }
});

// Through authorize(), as a tool server calls it (issue 15): junk (anything that does
// not verify as a capability of Baton's) is refused offline without a call; a genuine
// capability refused offline is reported to the gate and lands in the sequence's chain
// as a DENY with the offline code; one the offline check accepts is refused by the gate
// with the gate's code, receipted in the chain of the sequence it names, if there is one.
describe("capability through the verifier's authorize() (offline check, then the gate)", async () => {
  const { exports } = await import("cloudflare:workers");
  const { createVerifier, VerifierError } = await import("../../src/verifier/index.js");
  const calls: string[] = [];
  const fetchWorker: typeof fetch = (input, init) => {
    const request = new Request(input as RequestInfo, init);
    calls.push(new URL(request.url).pathname);
    return exports.default.fetch(request);
  };
  const verifier = createVerifier({ issuer: "https://baton.test", audience: "deployer", baseUrl: "https://baton.test", apiKey: KEY.deployer, fetch: fetchWorker });
  const offline = (fixture: Fixture): { expect: ReasonCode | "ACCEPTED"; message?: string } =>
    fixture.offline ?? { expect: fixture.expect === "INVALID_REQUEST" ? "TOKEN_INVALID" : fixture.expect, message: fixture.message };
  for (const [name, fixture] of (byPoint.get("capability") ?? []).filter(([, f]) => f.mutation.kind !== "replay")) {
    const local = offline(fixture);
    const path = !fixture.genuine ? "junk" : local.expect === "ACCEPTED" ? "gate" : "reported";
    const title = {
      junk: "refused offline, no call",
      reported: `${local.expect} offline, reported and receipted`,
      gate: `accepted offline, ${fixture.expect} at the gate`,
    }[path];
    it(`${name} → ${title}`, async () => {
      const target = await TARGETS.capability();
      const { mutation } = fixture;
      const token = mutation.kind === "action" ? target.token : await mutate(target, target.token, mutation);
      const request = mutation.kind === "action" ? { action: mutation.action ?? "", args: mutation.args ?? {} } : { action: "deploy.canary", args: { ...PARAMS.deployment, percent: 5 } };
      const before = await ledgerState(target.seq);
      const chainBefore = await receipts(target.seq);
      calls.length = 0;
      const refused = await verifier.authorize(token, request).then(
        () => null,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(VerifierError);
      const error = refused as InstanceType<typeof VerifierError>;
      const chainAfter = await receipts(target.seq);
      expect(await ledgerState(target.seq)).toEqual(before);
      const gateCalls = calls.filter((p) => p !== "/.well-known/jwks.json");
      if (path === "junk") {
        expect(error.code, error.message).toBe(local.expect);
        if (local.message) expect(error.message).toMatch(new RegExp(local.message));
        expect(error.receipt).toBeNull();
        expect(chainAfter).toEqual(chainBefore);
        expect(gateCalls).toEqual([]);
        return;
      }
      // One call to the gate: the report, or the redemption the offline check let through.
      expect(gateCalls).toEqual(["/v1/redeem"]);
      const code = path === "reported" ? (local.expect as ReasonCode) : fixture.expect;
      const message = path === "reported" ? local.message : fixture.message;
      expect(error.code, error.message).toBe(code);
      if (message) expect(error.message).toMatch(new RegExp(message));
      // A token naming no sequence of this Baton has no chain to be receipted in.
      const named = decodeJson(token.split(".")[1] as string).seq;
      if (named !== target.seq) {
        expect(error.receipt).toBeNull();
        expect(chainAfter).toEqual(chainBefore);
        return;
      }
      expect(chainAfter.slice(0, chainBefore.length)).toEqual(chainBefore);
      expect(chainAfter).toHaveLength(chainBefore.length + 1);
      expect(error.receipt).toBe(chainAfter.at(-1));
      const receipt = claimsOf(error.receipt as string);
      expect(receipt).toMatchObject({ kind: "redeem", decision: "DENY", code, effects: [] });
      // A report records who refused it and what the gate's own checks give (the fixture's code).
      if (path === "reported") expect(receipt.details).toMatchObject({ reported_by: "deployer", gate: fixture.expect });
      else expect((receipt.details as Record<string, unknown> | undefined)?.reported_by).toBeUndefined();
    });
  }
});
