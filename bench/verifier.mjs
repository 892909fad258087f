#!/usr/bin/env node
// `npm run bench:verifier`: offline capability verifications per second on one core
// (one Node thread), the tool server's hot path: strict JWS checks + Ed25519
// signature (JWKS cached) + claims + audience/time/action + the grant's CEL `where`.
// Side by side, in the same run: jose's own jwtVerify of the same tokens (signature
// and standard claims only) as the floor of what any JWT check costs.
//
//   npm run bench:verifier [-- --tokens 2000 --rounds 5]
import { parseArgs } from "node:util";
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from "jose";
import { createVerifier } from "baton/verifier";

const { values } = parseArgs({
  options: { tokens: { type: "string", default: "2000" }, rounds: { type: "string", default: "5" } },
});
const TOKENS = Number(values.tokens);
const ROUNDS = Number(values.rounds);
const ISSUER = "https://baton.bench";

const { privateKey, publicKey } = await generateKeyPair("EdDSA", { extractable: true });
const jwk = { ...(await exportJWK(publicKey)), kid: "bench-1", alg: "EdDSA", use: "sig" };
const jwks = { keys: [jwk] };
const params = { service: "checkout", version: "2.4.1" };
const args = { service: "checkout", version: "2.4.1", percent: 5 };
const now = Math.floor(Date.now() / 1000);

// Tokens shaped like Baton's canary capabilities (see examples/workflows/deployment.json).
const tokens = [];
for (let i = 0; i < TOKENS; i++) {
  tokens.push(
    await new SignJWT({
      sub: "user:alice",
      act: { sub: "agent-7" },
      aud: ["deployer"],
      nbf: now,
      seq: "a".repeat(64),
      stage: "canary",
      workflow: "w".repeat(43),
      receipt: "r".repeat(43),
      authorization_details: [
        {
          type: "baton_tool",
          tool: "deployer",
          actions: ["deploy.canary"],
          where: "args.service == params.service && args.version == params.version && args.percent <= 10",
          uses: 1,
        },
      ],
      evidence: null,
      params,
    })
      .setProtectedHeader({ alg: "EdDSA", typ: "baton-capability+jwt", kid: "bench-1" })
      .setIssuer(ISSUER)
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .setJti(crypto.randomUUID())
      .sign(privateKey),
  );
}

const verifier = createVerifier({ issuer: ISSUER, audience: "deployer", jwks });
const keySet = createLocalJWKSet(jwks);
const BATON = "baton verify (offline, full)";
const JOSE = "jose jwtVerify (signature + iss/aud/exp)";
const scenarios = {
  [BATON]: (token) => verifier.verify(token, { action: "deploy.canary", args }),
  [JOSE]: (token) => jwtVerify(token, keySet, { issuer: ISSUER, audience: "deployer" }),
};

// Warm up both (JIT, key import, CEL plan). Then, in each round, the two take turns over
// blocks of BLOCK tokens (which one goes first alternates), and each one's time is summed:
// a machine that slows down for a moment slows both alike, so the ratio is not the noise of
// whichever happened to run then (whole rounds one after the other gave 0.79x and 0.90x in
// two runs of one tree). The rounds still show drift.
const BLOCK = 50;
// One whole pass each: with 200 tokens, the first measured round was still Baton's slowest.
for (const run of Object.values(scenarios)) for (const token of tokens) await run(token);
const names = Object.keys(scenarios);
const results = Object.fromEntries(names.map((name) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  const seconds = Object.fromEntries(names.map((name) => [name, 0]));
  for (let start = 0, block = 0; start < TOKENS; start += BLOCK, block++) {
    const slice = tokens.slice(start, start + BLOCK);
    for (const name of block % 2 === 0 ? names : [...names].reverse()) {
      const started = performance.now();
      for (const token of slice) await scenarios[name](token);
      seconds[name] += (performance.now() - started) / 1000;
    }
  }
  for (const name of names) results[name].push(TOKENS / seconds[name]);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`verifier bench: ${TOKENS} tokens x ${ROUNDS} rounds, one thread, Node ${process.versions.node}\n`);
const floor = median(results[JOSE]);
for (const [name, rates] of Object.entries(results)) {
  const m = median(rates);
  console.log(
    `${name.padEnd(42)} median ${Math.round(m).toString().padStart(6)} /s   (${(1e6 / m).toFixed(1)} µs each; ${(m / floor).toFixed(2)}x jose)   rounds: ${rates.map((r) => Math.round(r)).join(" / ")}`,
  );
}
// Each round's own ratio (both measured over the same blocks), and their median: the figure to quote.
const perRound = results[BATON].map((rate, i) => rate / results[JOSE][i]);
console.log(`\nbaton ÷ jose per round: ${perRound.map((r) => r.toFixed(2)).join(" / ")}; median ${median(perRound).toFixed(2)}x`);
