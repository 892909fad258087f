#!/usr/bin/env node
// DEVELOPMENT ONLY: signs an attestation with an example attester's published key
// (examples/keys/<attester>.private.jwk.json), as a monitoring system would.
//
//   node examples/sign-attestation.mjs --attester monitor --seq <sequence id> \
//     --stage canary --type canary_passed --facts '{"service":"checkout","version":"2.4.1","error_rate":0.002}'
//
// Prints the compact JWS on stdout.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { SignJWT, importJWK } from "jose";

const { values } = parseArgs({
  options: {
    attester: { type: "string" },
    seq: { type: "string" },
    stage: { type: "string" },
    type: { type: "string" },
    facts: { type: "string", default: "{}" },
    "issued-at": { type: "string" },
  },
});
for (const required of ["attester", "seq", "stage", "type"]) {
  if (!values[required]) {
    console.error(`missing --${required}`);
    process.exit(2);
  }
}
const file = new URL(`./keys/${values.attester}.private.jwk.json`, import.meta.url);
const { "//": _comment, ...jwk } = JSON.parse(readFileSync(file, "utf8"));
const key = await importJWK(jwk, jwk.alg);
const iat = values["issued-at"] ? Number(values["issued-at"]) : Math.floor(Date.now() / 1000);
const token = await new SignJWT({
  seq: values.seq,
  stage: values.stage,
  type: values.type,
  facts: JSON.parse(values.facts),
})
  .setProtectedHeader({ alg: jwk.alg, typ: "baton-attestation+jwt", kid: jwk.kid })
  .setIssuer(values.attester)
  .setIssuedAt(iat)
  .setJti(crypto.randomUUID())
  .sign(key);
console.log(token);
