// `baton inspect`: what a token is (by its typ), its header and claims with human
// times, and, given a JWKS, whether its signature verifies.
import { readFileSync } from "node:fs";
import { base64url, decodeProtectedHeader } from "jose";
import { DPOP_TYP, EVIDENCE_ALGORITHMS, TYP, isCompactJws, verifyJws } from "baton/audit";
import { UsageError, loadKeys, readText, red } from "./cli-io.mjs";

const KINDS = Object.fromEntries(Object.entries(TYP).map(([kind, typ]) => [typ, kind]));
KINDS[DPOP_TYP] = "dpop proof";

export async function inspect(input, values) {
  if (!input) throw new UsageError("inspect needs a token, a file holding one, or - for standard input");
  let token = input === "-" ? readFileSync(0, "utf8") : input;
  // An unsigned token is still a token to show (its signature then does not verify), not a file name.
  if (input !== "-" && !isCompactJws(input, { unsigned: true })) token = readText(input, "token");
  token = token.trim();
  let header;
  let claims;
  try {
    header = decodeProtectedHeader(token);
    claims = JSON.parse(new TextDecoder().decode(base64url.decode(token.split(".")[1])));
  } catch {
    throw new UsageError("not a compact JWS");
  }
  const kind = KINDS[String(header.typ).toLowerCase()] ?? `unknown (typ ${header.typ})`;
  let signature = "not checked (no --jwks)";
  let valid = true;
  if (values.jwks) {
    const keys = await loadKeys(values.jwks);
    // Baton's own algorithm is one of those evidence may use: every kind verifies with this list.
    const verified = await verifyJws(token, { typ: String(header.typ).toLowerCase(), algorithms: EVIDENCE_ALGORITHMS, resolveKey: keys });
    valid = verified.ok;
    signature = verified.ok ? `valid (kid ${verified.kid})` : `INVALID: ${verified.message}`;
  }
  const human = (name, value) => {
    if (typeof value !== "number") return value;
    if (["iat", "nbf", "exp", "expires_at", "until"].includes(name)) return `${value} (${new Date(value * 1000).toISOString()})`;
    if (name === "at") return `${value} (${new Date(value).toISOString()})`;
    return value;
  };
  if (values.json) {
    console.log(JSON.stringify({ kind, header, claims, signature }, null, 2));
  } else {
    // One column for every value, however long a claim's name (promoted_from, authorization_details).
    const width = Math.max(10, ...Object.keys(claims).map((name) => name.length));
    const line = (name, shown) => console.log(`${name.padEnd(width)} ${shown}`);
    line("kind", kind);
    line("signature", valid ? signature : red(signature));
    line("header", JSON.stringify(header));
    for (const [name, value] of Object.entries(claims)) {
      line(name, typeof value === "object" && value !== null ? JSON.stringify(value) : human(name, value));
    }
  }
  return valid ? 0 : 1;
}
