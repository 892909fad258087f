import { decodeJwt, importJWK, type JWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { type KeyLookup, verifyReceiptChain } from "../../../src/audit/index.js";
import { type BatonUnderTest, DEV_KEY, batonUnderTest, call, startDeployment } from "../../verifier/baton-under-test.js";

// Black-box concurrency against the real `wrangler dev` of test/node/global-setup.ts:
// many presentations of the same single-use capability in flight at once spend it once.
const baton: BatonUnderTest = await batonUnderTest();
const CANARY = { action: "deploy.canary", args: { service: "checkout", version: "2.4.1", percent: 5 } };
const AUDITOR = "dev-auditor-key";

const redeem = (token: string) => call(baton, "POST", "/v1/redeem", DEV_KEY.deployer, { token, ...CANARY });

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

let lookup: KeyLookup;
beforeAll(async () => {
  const { keys } = (await (await fetch(`${baton.base}/.well-known/jwks.json`)).json()) as { keys: (JWK & { kid: string })[] };
  const imported = new Map(await Promise.all(keys.map(async (k) => [k.kid, { key: (await importJWK(k, "EdDSA")) as CryptoKey, alg: "EdDSA" }] as const)));
  lookup = (kid) => imported.get(kid);
});

async function chain(seq: string) {
  const response = await fetch(`${baton.base}/v1/sequences/${seq}/receipts`, { headers: { authorization: `Bearer ${AUDITOR}` } });
  expect(response.status).toBe(200);
  const lines = (await response.text()).split("\n").filter(Boolean);
  const verdict = await verifyReceiptChain(lines, lookup);
  expect(verdict, `chain of ${seq}`).toMatchObject({ ok: true });
  return lines.map((l) => decodeJwt(l) as unknown as { kind: string; decision: string; code: string | null });
}

describe("concurrent presentations of single-use capabilities", () => {
  it("500 concurrent redeems of one canary capability: exactly one ALLOW", async () => {
    const { seq, capability } = await startDeployment(baton);
    const answers = await Promise.all(Array.from({ length: 500 }, () => redeem(capability)));
    const allowed = answers.filter((a) => a.status === 200 && a.body.decision === "ALLOW");
    const replays = answers.filter((a) => a.status === 409 && a.body.error?.code === "REPLAY_NONCE");
    expect(allowed).toHaveLength(1);
    expect(replays).toHaveLength(499);
    const receipts = await chain(seq);
    expect(receipts).toHaveLength(501);
    expect(receipts.filter((r) => r.kind === "redeem" && r.decision === "ALLOW")).toHaveLength(1);
    expect(receipts.filter((r) => r.kind === "redeem" && r.code === "REPLAY_NONCE")).toHaveLength(499);
  });

  it("100 sequences, each canary presented twice, all 200 in flight shuffled: exactly 100 ALLOW", async () => {
    const started = await Promise.all(Array.from({ length: 100 }, () => startDeployment(baton)));
    const presentations = shuffle(started.flatMap((s) => [s, s]));
    const answers = await Promise.all(presentations.map(async (s) => ({ seq: s.seq, answer: await redeem(s.capability) })));
    const allowedBySeq = new Map<string, number>();
    for (const { seq, answer } of answers) {
      if (answer.status === 200 && answer.body.decision === "ALLOW") allowedBySeq.set(seq, (allowedBySeq.get(seq) ?? 0) + 1);
      else expect(answer.body.error?.code, JSON.stringify(answer.body)).toBe("REPLAY_NONCE");
    }
    expect([...allowedBySeq.values()].reduce((a, b) => a + b, 0)).toBe(100);
    expect(allowedBySeq.size).toBe(100);
    const chains = await Promise.all(started.map((s) => chain(s.seq)));
    for (const receipts of chains) {
      expect(receipts.filter((r) => r.kind === "redeem" && r.decision === "ALLOW")).toHaveLength(1);
      expect(receipts.filter((r) => r.kind === "redeem" && r.code === "REPLAY_NONCE")).toHaveLength(1);
    }
  });
});
