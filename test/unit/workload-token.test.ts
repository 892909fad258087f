import { type JWK, SignJWT, base64url, exportJWK, generateKeyPair } from "jose";
import { beforeEach, describe, expect, it } from "vitest";
import { importSigningKeys, oidcIssuerKeys } from "../../src/tokens/oidc-issuer.js";
import { type KeySource, KeySetUnavailable, clearKeySetCache, remoteKeySet } from "../../src/tokens/remote-key-set.js";
import { type WorkloadIssuer, checkWorkloadToken } from "../../src/tokens/workload-token.js";

// The check the Worker runs on a workload token before decide(), with the issuer's keys
// given as a set (the black-box tests in test/node/workload-identity.test.ts fetch them
// from a real OpenID provider). Every refusal here is one an attacker would try.
const ISSUER = "https://token.actions.githubusercontent.com";
const GITHUB: WorkloadIssuer = {
  attester: "github-actions",
  issuer: ISSUER,
  audience: "https://baton.test",
  claims: { repository_owner: "example-org" },
  algorithms: ["RS256", "ES256"],
};
const now = () => Math.floor(Date.now() / 1000);

async function keyPair(alg: "RS256" | "ES256" | "EdDSA", kid: string) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, kid, alg, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } as JWK };
}
const rsa = await keyPair("RS256", "gh-rsa");
const ec = await keyPair("ES256", "gh-ec");
const keys: KeySource = { key: async (kid) => (await importSigningKeys({ keys: [rsa.jwk, ec.jwk] }, ["RS256", "ES256"])).get(kid) };

const claims = (extra: Record<string, unknown> = {}) => ({
  iss: ISSUER,
  aud: "https://baton.test/v1/sequences/seq-1",
  sub: "repo:example-org/shop:ref:refs/heads/main",
  iat: now(),
  nbf: now(),
  exp: now() + 300,
  jti: crypto.randomUUID(),
  repository: "example-org/shop",
  repository_owner: "example-org",
  ...extra,
});

function sign(payload: Record<string, unknown>, signer = rsa, header: Record<string, unknown> = { typ: "JWT", x5t: "thumbprint" }) {
  return new SignJWT(payload).setProtectedHeader({ alg: signer.alg, kid: signer.kid, ...header }).sign(signer.privateKey);
}

async function refusal(token: string, issuer = GITHUB, source = keys): Promise<string> {
  const checked = await checkWorkloadToken(token, issuer, source);
  if (checked.ok) throw new Error("accepted");
  return checked.message;
}

describe("a workload token, verified against its issuer's keys", () => {
  it("GitHub's shape (RS256, typ JWT, x5t beside kid) verifies; the check records the sequence its audience names, the key and the token", async () => {
    const token = await sign(claims());
    const checked = await checkWorkloadToken(token, GITHUB, keys);
    expect(checked).toMatchObject({ ok: true, method: "oidc", attester: "github-actions", issuer: ISSUER, seq: "seq-1", kid: "gh-rsa", alg: "RS256", token });
    if (!checked.ok) return;
    expect(checked.jwk).toEqual({ kty: "RSA", n: rsa.jwk.n, e: rsa.jwk.e, kid: "gh-rsa", alg: "RS256" });
    expect(checked.claims.repository).toBe("example-org/shop");
  });

  it("ES256, an RFC 9068 access token (at+jwt), and a token without typ (Kubernetes) verify too", async () => {
    expect((await checkWorkloadToken(await sign(claims(), ec, { typ: "at+jwt" }), GITHUB, keys)).ok).toBe(true);
    expect((await checkWorkloadToken(await sign(claims(), rsa, {}), GITHUB, keys)).ok).toBe(true);
  });

  it("alg none, HS256 with the public key as secret, and an algorithm the attester does not allow are refused", async () => {
    const payload = (await sign(claims())).split(".")[1];
    const none = `${base64url.encode(JSON.stringify({ alg: "none", typ: "JWT", kid: "gh-rsa" }))}.${payload}.`;
    expect(await refusal(none)).toBe("token is unsigned (its signature part is empty)");
    const secret = new TextEncoder().encode(JSON.stringify(rsa.jwk));
    const hs = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256", kid: "gh-rsa", typ: "JWT" }).sign(secret);
    expect(await refusal(hs)).toBe("algorithm HS256 is not accepted");
    expect(await refusal(await sign(claims(), ec), { ...GITHUB, algorithms: ["RS256"] })).toBe("algorithm ES256 is not accepted");
  });

  it("a key the issuer does not publish: an unknown kid, or the issuer's kid over another key's signature", async () => {
    const rogue = await keyPair("RS256", "rogue");
    expect(await refusal(await sign(claims(), rogue))).toBe("unknown key id rogue");
    expect(await refusal(await sign(claims(), { ...rogue, kid: "gh-rsa" }))).toBe("signature verification failed");
    // The key decides the algorithm: an RS256 kid named in an ES256 header is refused before any signature check.
    expect(await refusal(await sign(claims(), { ...ec, kid: "gh-rsa" }))).toBe("key gh-rsa is not an ES256 key");
  });

  it("headers that would choose the key (jku, jwk, x5u) and kinds the issuer signs for other purposes (typ logout+jwt) are refused", async () => {
    expect(await refusal(await sign(claims(), rsa, { typ: "JWT", jku: "https://evil.example/jwks" }))).toBe("header parameter jku is not accepted");
    expect(await refusal(await sign(claims(), rsa, { typ: "JWT", x5u: "https://evil.example/cert" }))).toBe("header parameter x5u is not accepted");
    expect(await refusal(await sign(claims(), rsa, { typ: "logout+jwt" }))).toBe("typ must be jwt or at+jwt");
  });

  it("the audience binds it to one sequence: Baton's audience with no sequence, another audience, two sequences are refused", async () => {
    expect(await refusal(await sign(claims({ aud: "https://baton.test" })))).toMatch(/names no sequence under Baton's audience https:\/\/baton\.test/);
    expect(await refusal(await sign(claims({ aud: "sts.amazonaws.com" })))).toMatch(/names no sequence/);
    expect(await refusal(await sign(claims({ aud: "https://baton.test.evil.example/v1/sequences/seq-1" })))).toMatch(/names no sequence/);
    const two = ["https://baton.test/v1/sequences/seq-1", "https://baton.test/v1/sequences/seq-2"];
    expect(await refusal(await sign(claims({ aud: two })))).toMatch(/names more than one sequence/);
    expect(await refusal(await sign(claims({ aud: "https://baton.test/v1/sequences/seq-1/evidence" })))).toMatch(/does not name a sequence/);
    const listed = await checkWorkloadToken(await sign(claims({ aud: ["sts.amazonaws.com", "https://baton.test/v1/sequences/seq-9"] })), GITHUB, keys);
    expect(listed).toMatchObject({ ok: true, seq: "seq-9" });
  });

  it("the attester's required claims narrow a shared issuer to one owner: another owner, or none, is refused", async () => {
    expect(await refusal(await sign(claims({ repository_owner: "mallory" })))).toBe('claim repository_owner is "mallory"; attester github-actions requires "example-org"');
    expect(await refusal(await sign(claims({ repository_owner: undefined })))).toBe('claim repository_owner is missing; attester github-actions requires "example-org"');
  });

  it("another issuer's iss, and a token without exp or jti, are refused", async () => {
    expect(await refusal(await sign(claims({ iss: "https://gitlab.com" })))).toMatch(/^iss https:\/\/gitlab\.com is not/);
    expect(await refusal(await sign(claims({ exp: undefined })))).toMatch(/^claims are malformed: exp/);
    expect(await refusal(await sign(claims({ jti: undefined })))).toMatch(/^claims are malformed: jti/);
  });

  it("an issuer that cannot be reached, with nothing cached, is a refusal that says so (never a throw)", async () => {
    const down: KeySource = { key: async () => Promise.reject(new KeySetUnavailable("cannot fetch the keys of x: connection refused")) };
    expect(await refusal(await sign(claims()), GITHUB, down)).toMatch(/^issuer https:\/\/token\.actions\.githubusercontent\.com cannot be reached and none of its keys is cached/);
  });
});

describe("the issuer's published keys", () => {
  it("only signing keys with a kid and an allowed algorithm are imported; private, encryption and mislabelled keys are ignored", async () => {
    const { d: _d, ...rsaPublic } = rsa.jwk as JWK & { d?: string };
    const imported = await importSigningKeys(
      {
        keys: [
          { ...rsaPublic, kid: "no-alg", alg: undefined, x5c: ["MIIB..."] },
          { ...rsaPublic, kid: "enc", use: "enc" },
          { ...rsaPublic, kid: undefined },
          { ...rsaPublic, kid: "private", d: "AAAA" },
          { ...rsaPublic, kid: "mislabelled", alg: "ES256" },
          { ...rsaPublic, kid: "hs", alg: "HS256" },
          { ...ec.jwk, kid: "ec" },
        ],
      },
      ["RS256", "ES256"],
    );
    expect([...imported.keys()]).toEqual(["no-alg", "ec"]);
    // The recorded key is the public members only (an x5c chain would only bloat every receipt).
    expect(imported.get("no-alg")?.jwk).toEqual({ kty: "RSA", n: rsa.jwk.n, e: rsa.jwk.e, kid: "no-alg", alg: "RS256" });
  });

  describe("through discovery", () => {
    beforeEach(() => clearKeySetCache());
    const served = (documents: Record<string, unknown>): typeof fetch =>
      async (input, init) => {
        if (init?.redirect !== "manual") throw new Error("redirects must not be followed");
        const url = String(input);
        if (!(url in documents)) return new Response("not found", { status: 404 });
        const body = documents[url];
        return typeof body === "number" ? new Response(null, { status: body, headers: { location: "https://elsewhere.example/" } }) : Response.json(body);
      };
    const keysOf = (fetcher: typeof fetch) => remoteKeySet(oidcIssuerKeys(ISSUER), { fetch: fetcher, now: Date.now });
    const discovery = `${ISSUER}/.well-known/openid-configuration`;

    it("reads jwks_uri from the issuer's discovery document, then the keys", async () => {
      const fetcher = served({ [discovery]: { issuer: ISSUER, jwks_uri: `${ISSUER}/.well-known/jwks` }, [`${ISSUER}/.well-known/jwks`]: { keys: [rsa.jwk] } });
      expect((await keysOf(fetcher).key("gh-rsa"))?.alg).toBe("RS256");
    });

    it("fails closed on a document for another issuer, an http jwks_uri, and a redirect", async () => {
      const cases: Record<string, unknown>[] = [
        { [discovery]: { issuer: "https://evil.example", jwks_uri: "https://evil.example/jwks" }, "https://evil.example/jwks": { keys: [rsa.jwk] } },
        { [discovery]: { issuer: ISSUER, jwks_uri: "http://token.actions.githubusercontent.com/jwks" }, "http://token.actions.githubusercontent.com/jwks": { keys: [rsa.jwk] } },
        { [discovery]: 302 },
      ];
      for (const documents of cases) {
        clearKeySetCache();
        await expect(keysOf(served(documents)).key("gh-rsa")).rejects.toBeInstanceOf(KeySetUnavailable);
      }
    });
  });
});
