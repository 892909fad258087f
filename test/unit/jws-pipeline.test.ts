import { base64url, exportJWK, generateKeyPair } from "jose";
import { describe, expect, it } from "vitest";
import { DPOP_TYP, checkDpopProof } from "../../src/tokens/dpop.js";
import { verifyJws } from "../../src/tokens/jws.js";
import { TYP } from "../../src/tokens/kinds.js";

// Capabilities, evidence, receipts and DPoP proofs go through one verifyJws; each kind
// keeps its own words. These are the faults where a proof's words are not simply the
// token's with "proof" in front — the mapping PROOF_MESSAGES in dpop.ts keeps.
const enc = (value: unknown) => base64url.encode(typeof value === "string" ? value : JSON.stringify(value));
const { publicKey } = await generateKeyPair("EdDSA", { extractable: true });
const jwk = await exportJWK(publicKey);
const tokenMessage = async (token: string) => {
  const result = await verifyJws(token, { typ: TYP.capability, algorithms: ["EdDSA"], resolveKey: () => undefined });
  return result.ok ? "" : result.message;
};
const proofMessage = async (proof: string) => {
  const result = await checkDpopProof(proof);
  return result.ok ? "" : result.message;
};

describe("one JWS pipeline, each kind's words", () => {
  it("an empty signature part: a token is 'unsigned', a proof 'not a compact JWS'", async () => {
    expect(await tokenMessage(`${enc({ alg: "none", typ: TYP.capability, kid: "k" })}.${enc({})}.`)).toBe("token is unsigned (its signature part is empty)");
    expect(await proofMessage(`${enc({ alg: "none", typ: DPOP_TYP, jwk })}.${enc({})}.`)).toBe("proof is not a compact JWS");
  });

  it("a header that is JSON but not an object: a token says so, a proof calls it not valid base64url JSON", async () => {
    for (const header of ["[]", "null", '"EdDSA"']) {
      expect(await tokenMessage(`${enc(header)}.${enc({})}.AAAA`)).toBe("protected header is not a JSON object");
      expect(await proofMessage(`${enc(header)}.${enc({})}.AAAA`)).toBe("proof header is not valid base64url JSON");
    }
  });

  it("a header that is not UTF-8 is refused by the header check, for proofs too", async () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('{"alg":"EdDSA","x":"'), 0xff, ...new TextEncoder().encode('"}')]);
    const header = base64url.encode(bytes);
    expect(await tokenMessage(`${header}.${enc({})}.AAAA`)).toBe("protected header is not valid base64url JSON");
    expect(await proofMessage(`${header}.${enc({})}.AAAA`)).toBe("proof header is not valid base64url JSON");
  });

  it("a proof may carry its key (jwk) and no kid; a token may not", async () => {
    expect(await tokenMessage(`${enc({ alg: "EdDSA", typ: TYP.capability, jwk })}.${enc({})}.AAAA`)).toBe("header parameter jwk is not accepted");
    expect(await proofMessage(`${enc({ alg: "EdDSA", typ: DPOP_TYP, jwk })}.${enc({})}.AAAA`)).toBe("proof signature verification failed");
  });
});
