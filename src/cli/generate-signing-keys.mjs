#!/usr/bin/env node
// Generates or rotates Baton's signing key set (the BATON_SIGNING_KEYS secret).
//
//   node src/cli/generate-signing-keys.mjs                  > keys.json   (a new set)
//   node src/cli/generate-signing-keys.mjs --add keys.json  > next.json   (step 1: publish a new key, still signing with the old)
//   node src/cli/generate-signing-keys.mjs --activate <kid> keys.json > next.json  (step 2: sign with it)
//   node src/cli/generate-signing-keys.mjs --retire <kid> keys.json   > next.json  (step 3: drop the old key)
//
// Plain JavaScript on purpose: it runs on any supported Node without a build step.
// The output holds private keys: pipe it to `wrangler secret put BATON_SIGNING_KEYS`, never commit it.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from "jose";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { add: { type: "boolean" }, activate: { type: "string" }, retire: { type: "string" } },
});

async function newKey() {
  const { privateKey } = await generateKeyPair("EdDSA", { extractable: true });
  const jwk = await exportJWK(privateKey);
  // RFC 7638 thumbprint as kid: stable, and says nothing but which key it is.
  const kid = await calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x });
  return { ...jwk, kid, alg: "EdDSA", use: "sig" };
}

function fail(message) {
  console.error(message);
  process.exit(2);
}

const file = positionals[0];
let set;
if (!file) {
  if (values.add || values.activate || values.retire) fail("give the current key set file");
  const key = await newKey();
  set = { active: key.kid, keys: [key] };
} else {
  set = JSON.parse(readFileSync(file, "utf8"));
  if (values.add) set.keys.push(await newKey());
  if (values.activate) {
    if (!set.keys.some((k) => k.kid === values.activate && k.d)) fail(`no private key ${values.activate} in the set`);
    set.active = values.activate;
  }
  if (values.retire) {
    if (values.retire === set.active) fail("cannot retire the active key: activate another first");
    set.keys = set.keys.filter((k) => k.kid !== values.retire);
  }
}
console.log(JSON.stringify(set, null, 2));
