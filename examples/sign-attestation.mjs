#!/usr/bin/env node
// DEVELOPMENT ONLY: signs an attestation with an example attester's published key
// (examples/keys/<attester>.private.jwk.json), as a monitoring system would.
//
//   node examples/sign-attestation.mjs --attester monitor --seq <sequence id> \
//     --stage canary --type canary_passed --facts '{"service":"checkout","version":"2.4.1","error_rate":0.002}'
//
// Prints the compact JWS on stdout. Exit codes: 0 signed, 2 usage error (with a message, never a stack trace).
import { readFileSync, readdirSync } from "node:fs";
import { parseArgs } from "node:util";
import { SignJWT, importJWK } from "jose";

const KEYS = new URL("./keys/", import.meta.url);
const ATTESTERS = readdirSync(KEYS)
  .filter((name) => name.endsWith(".private.jwk.json"))
  .map((name) => name.slice(0, -".private.jwk.json".length))
  .sort();
const USAGE = `usage: node examples/sign-attestation.mjs --attester <id> --seq <sequence id> --stage <stage> --type <type>
                                        [--facts '<JSON object>'] [--issued-at <seconds since the epoch>]
  --attester   one of the example attesters: ${ATTESTERS.join(", ")}
  --facts      what the attester saw, a JSON object (default {}), e.g. '{"service":"checkout","version":"2.4.1","error_rate":0.002}'
  --issued-at  iat, to sign an attestation in the past (default now)
Prints the attestation (a compact JWS). DEVELOPMENT ONLY: these keys are published in this repository.`;

/** A usage error: its message and the usage line on stderr, exit 2. */
function fail(message) {
  console.error(`sign-attestation: ${message}\n${USAGE}`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      attester: { type: "string" },
      seq: { type: "string" },
      stage: { type: "string" },
      type: { type: "string" },
      facts: { type: "string", default: "{}" },
      "issued-at": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  }));
} catch (error) {
  fail(error.message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
for (const required of ["attester", "seq", "stage", "type"]) {
  if (!values[required]) fail(`missing --${required}`);
}
if (!ATTESTERS.includes(values.attester)) fail(`unknown attester ${JSON.stringify(values.attester)}: the example attesters are ${ATTESTERS.join(", ")}`);
let facts;
try {
  facts = JSON.parse(values.facts);
} catch (error) {
  fail(`--facts is not JSON (${error.message}): ${values.facts}`);
}
if (facts === null || typeof facts !== "object" || Array.isArray(facts)) fail(`--facts must be a JSON object, not ${values.facts}`);
let iat = Math.floor(Date.now() / 1000);
if (values["issued-at"] !== undefined) {
  iat = Number(values["issued-at"]);
  if (!Number.isSafeInteger(iat) || iat < 0) fail(`--issued-at must be whole seconds since the epoch, not ${values["issued-at"]}`);
}

const { "//": _comment, ...jwk } = JSON.parse(readFileSync(new URL(`${values.attester}.private.jwk.json`, KEYS), "utf8"));
const key = await importJWK(jwk, jwk.alg);
const token = await new SignJWT({ seq: values.seq, stage: values.stage, type: values.type, facts })
  .setProtectedHeader({ alg: jwk.alg, typ: "baton-attestation+jwt", kid: jwk.kid })
  .setIssuer(values.attester)
  .setIssuedAt(iat)
  .setJti(crypto.randomUUID())
  .sign(key);
console.log(token);
