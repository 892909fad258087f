// (b), the calling side: the Worker tool server under `wrangler dev` at WORKER_URL.
import { CANARY, expect, startDeployment } from "./common.mjs";

const url = `${process.env.WORKER_URL}/deploy/canary`;
const post = async (token) => {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify(CANARY) });
  return { status: response.status, body: await response.json() };
};
const { seq, capability } = await startDeployment();
const allowed = await post(capability);
expect(allowed.status === 200 && allowed.body.deployed && allowed.body.receipt?.split(".").length === 3, "Worker: ALLOW with a receipt", allowed);
const replay = await post(capability);
expect(replay.status === 409 && replay.body.error?.code === "REPLAY_NONCE", "Worker: replay refused at the gate", replay);
console.log(`Worker (wrangler dev) hono  ALLOW + receipt; REPLAY_NONCE refused  seq ${seq}`);
