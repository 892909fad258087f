import { existsSync, writeFileSync } from "node:fs";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type RegistrationResponseJSON, generateRegistrationOptions, verifyRegistrationResponse } from "@simplewebauthn/server";
import { cose, decodeCredentialPublicKey } from "@simplewebauthn/server/helpers";
import { base64url } from "jose";
import { type Browser, type CDPSession, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256 } from "../../src/tokens/digest.js";
import { type PasskeyApprovalClaims, type PasskeyCredential, passkeyApprovalChallenge, verifyPasskeyApproval } from "../../src/tokens/passkey.js";

// The passkey ceremony the console will run, in Debian's Chromium with a CDP virtual
// authenticator (a CTAP2 platform authenticator with user verification): a page served from
// http://localhost (a secure context, so WebAuthn is available) registers a passkey, then signs
// an approval whose challenge the page computes itself from the claims. Node verifies the
// registration with @simplewebauthn/server and the assertion with verifyPasskeyApproval — the
// bytes a real browser makes, not the software authenticator's of test/passkey.test.ts.
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const skip = process.env.SKIP_BROWSER_TESTS === "1";
const RP_ID = "localhost";
const VECTORS = new URL("../vectors/passkey/chromium.json", import.meta.url);

/**
 * The page's script: what the console's approver page does, in plain browser JavaScript. The
 * challenge is recomputed here from the claims the page shows — RFC 8785 JSON of a flat object
 * of strings and integers is JSON.stringify with the members sorted by name — so what the
 * person sees is what they sign.
 */
const CEREMONY_JS = `
const b64u = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
async function approvalChallenge(claims) {
  const canonical = JSON.stringify(Object.fromEntries(Object.entries(claims).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
  return b64u(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical)));
}
window.baton = {
  approvalChallenge,
  async register(optionsJSON) {
    const credential = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(optionsJSON) });
    return credential.toJSON();
  },
  async approve(claims, credentialId) {
    const challenge = await approvalChallenge(claims);
    const credential = await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON({
        challenge,
        rpId: location.hostname,
        allowCredentials: [{ type: "public-key", id: credentialId }],
        userVerification: "required",
      }),
    });
    const { response } = credential.toJSON();
    return {
      challenge,
      form: {
        claims,
        credential_id: credential.id,
        authenticator_data: response.authenticatorData,
        client_data_json: response.clientDataJSON,
        signature: response.signature,
      },
    };
  },
};
document.getElementById("status").textContent = "ready";
`;
const PAGE_HTML = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Passkey ceremony</title>
<script src="/ceremony.js" defer></script></head><body><p id="status">loading</p></body></html>`;

function serve(request: IncomingMessage, response: ServerResponse) {
  const csp = "default-src 'none'; script-src 'self'";
  if (request.url === "/") response.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-security-policy": csp }).end(PAGE_HTML);
  else if (request.url === "/ceremony.js") response.writeHead(200, { "content-type": "text/javascript" }).end(CEREMONY_JS);
  else response.writeHead(404).end();
}

interface CeremonyResult {
  challenge: string;
  form: { claims: PasskeyApprovalClaims; credential_id: string; authenticator_data: string; client_data_json: string; signature: string };
}

describe.skipIf(skip)("a passkey approval from a real browser (Chromium, CDP virtual authenticator)", () => {
  let server: Server;
  let browser: Browser;
  let page: Page;
  let cdp: CDPSession;
  let origin: string;
  /** Each algorithm's credential and first approval, for RECORD_PASSKEY_VECTORS. */
  const recorded: unknown[] = [];
  let claims: PasskeyApprovalClaims;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH; SKIP_BROWSER_TESTS=1 skips)`);
    }
    server = createServer(serve);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    // localhost, not 127.0.0.1: an RP ID is a domain, never an IP address (WebAuthn L3 §5.1.3).
    origin = `http://localhost:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        // Chromium may try ::1 first for localhost; the server listens on IPv4 only.
        "--host-resolver-rules=MAP localhost 127.0.0.1",
      ],
    });
    page = await (await browser.newContext()).newPage();
    cdp = await page.context().newCDPSession(page);
    await cdp.send("WebAuthn.enable", { enableUI: false });
    await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
    const now = Math.floor(Date.now() / 1000);
    claims = {
      iss: "alice",
      seq: "seq_01HBROWSER",
      stage: "pay",
      decision: "approve",
      digest: await sha256("the payment of invoice 42, 1200 EUR"),
      jti: "approval-browser-1",
      iat: now,
      exp: now + 600,
    };
  });

  afterAll(async () => {
    // RECORD_PASSKEY_VECTORS=1 writes the assertions Chromium made to the golden vectors that
    // test/passkey.test.ts verifies in workerd (and the auditor's tests can verify offline).
    if (process.env.RECORD_PASSKEY_VECTORS === "1" && recorded.length === 3) {
      const note = "Recorded by test/node/passkey-browser.test.ts (RECORD_PASSKEY_VECTORS=1): Chromium, CDP virtual authenticator.";
      writeFileSync(VECTORS, `${JSON.stringify({ note, vectors: recorded }, null, 2)}\n`);
    }
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  // ES256 is what nearly every platform authenticator makes; EdDSA and RS256 (Windows Hello) are
  // the other two a registration may offer: each is registered, then signs approvals.
  describe.each([
    ["ES256", -7],
    ["EdDSA", -8],
    ["RS256", -257],
  ] as const)("%s", (name, algorithm) => {
    let credential: PasskeyCredential;
    const approve = (approvalClaims: PasskeyApprovalClaims) =>
      page.evaluate(
        ([c, id]) => (window as unknown as { baton: { approve(c: unknown, id: string): Promise<CeremonyResult> } }).baton.approve(c, id),
        [approvalClaims, credential.id] as const,
      );
    const verify = (form: unknown, stored: PasskeyCredential = credential) =>
      verifyPasskeyApproval(form, { credential: stored, expectedOrigin: origin, expectedRpId: RP_ID });

    it("registers a passkey (navigator.credentials.create), verified by @simplewebauthn/server", async () => {
      const options = await generateRegistrationOptions({
        rpName: "Baton",
        rpID: RP_ID,
        userName: `alice-${name}`,
        attestationType: "none",
        authenticatorSelection: { residentKey: "required", userVerification: "required" },
        supportedAlgorithmIDs: [algorithm],
      });
      const response = await page.evaluate(
        (o) => (window as unknown as { baton: { register(o: unknown): Promise<RegistrationResponseJSON> } }).baton.register(o),
        options,
      );
      const registration = await verifyRegistrationResponse({
        response,
        expectedChallenge: options.challenge,
        expectedOrigin: origin,
        expectedRPID: RP_ID,
        requireUserVerification: true,
        supportedAlgorithmIDs: [algorithm],
      });
      expect(registration.verified).toBe(true);
      if (!registration.verified) return;
      const info = registration.registrationInfo;
      expect(info.userVerified).toBe(true);
      expect(info.credential.id).toBe(response.id);
      expect(decodeCredentialPublicKey(info.credential.publicKey).get(cose.COSEKEYS.alg)).toBe(algorithm);
      credential = { id: info.credential.id, publicKey: base64url.encode(info.credential.publicKey), counter: info.credential.counter };
      // What enrolment will store beside the key: the AAGUID (the virtual authenticator's is
      // 01020304-…) and the counter (it starts at 1: registration counts).
      console.log(`${name} passkey registered: fmt ${info.fmt}, aaguid ${info.aaguid}, counter ${info.credential.counter}, ${info.credentialDeviceType}`);
    });

    it("signs an approval (navigator.credentials.get) over the challenge the page computed; verifyPasskeyApproval accepts it", async () => {
      expect(credential, "the registration test ran first").toBeDefined();
      const { challenge, form } = await approve(claims);
      // The browser's challenge and the verifier's are the same bytes.
      expect(challenge).toBe(await passkeyApprovalChallenge(claims));
      const result = await verify(form);
      expect(result).toMatchObject({ ok: true, claims });
      if (!result.ok) return;

      // The assertion binds these claims only: presented with another digest, stage or decision, refused.
      for (const other of [{ digest: "A".repeat(43) }, { stage: "ship" }, { decision: "reject" as const }]) {
        const refused = await verify({ ...form, claims: { ...claims, ...other } });
        expect(refused.ok, JSON.stringify(other)).toBe(false);
      }
      // Another origin or RP ID than the page's: refused.
      expect((await verifyPasskeyApproval(form, { credential, expectedOrigin: "https://baton.example.com", expectedRpId: RP_ID })).ok).toBe(false);
      expect((await verifyPasskeyApproval(form, { credential, expectedOrigin: origin, expectedRpId: "baton.example.com" })).ok).toBe(false);

      // The virtual authenticator counts: the next approval's counter is higher, and the first
      // assertion, replayed against the stored counter, is refused.
      const stored = { ...credential, counter: result.newCounter };
      const second = await approve({ ...claims, jti: `approval-browser-${name}-2` });
      const next = await verify(second.form, stored);
      expect(next).toMatchObject({ ok: true });
      expect(next.ok && next.newCounter).toBeGreaterThan(result.newCounter);
      expect(await verify(form, stored)).toMatchObject({ ok: false, message: expect.stringMatching(/counter/) });
      recorded.push({ algorithm: name, origin, rpId: RP_ID, credential, approval: form });
    });
  });
});
