#!/usr/bin/env bash
# The README's curl walkthrough as a script: one deployment sequence from start to
# seal against a running Baton (npm start), with the development credentials.
#   bash examples/walkthrough.sh [base url]
set -euo pipefail
BATON=${1:-http://localhost:8787}
cd "$(dirname "$0")/.."
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s)'"$1"';console.log(typeof v==="string"?v:JSON.stringify(v))})'; }
post() { curl -sS -X POST "$BATON$1" -H "authorization: Bearer $2" -H 'content-type: application/json' ${3:+-d "$3"}; }

echo "# 1. The orchestrator starts a deployment of checkout 2.4.1 for user alice, run by agent-7"
START=$(post /v1/sequences dev-orchestrator-key \
  '{"workflow":"deployment","params":{"service":"checkout","version":"2.4.1"},"subject":"user:alice","actor":"agent-7"}')
SEQ=$(echo "$START" | json .sequence)
CANARY=$(echo "$START" | json .capability)
echo "sequence $SEQ, stage canary"

echo "# 2. Skipping ahead: the canary capability does not grant the rollout"
post /v1/redeem dev-tool-deployer-key \
  "{\"token\":\"$CANARY\",\"action\":\"deploy.rollout\",\"args\":{\"service\":\"checkout\",\"version\":\"2.4.1\"}}" | json .error.code

echo "# 3. The deployer tool redeems the canary capability at the gate before acting; a replay is refused"
post /v1/redeem dev-tool-deployer-key \
  "{\"token\":\"$CANARY\",\"action\":\"deploy.canary\",\"args\":{\"service\":\"checkout\",\"version\":\"2.4.1\",\"percent\":5}}" | json .decision
post /v1/redeem dev-tool-deployer-key \
  "{\"token\":\"$CANARY\",\"action\":\"deploy.canary\",\"args\":{\"service\":\"checkout\",\"version\":\"2.4.1\",\"percent\":5}}" | json .error.code

echo "# 4. The monitoring system attests that this canary passed (signed with its example key)"
ATTESTATION=$(node examples/sign-attestation.mjs --attester monitor --seq "$SEQ" --stage canary \
  --type canary_passed --facts '{"service":"checkout","version":"2.4.1","error_rate":0.002}')
ADVANCE=$(post "/v1/sequences/$SEQ/evidence" dev-agent-key "{\"attestation\":\"$ATTESTATION\"}")
ROLLOUT=$(echo "$ADVANCE" | json .capability)
echo "stage $(echo "$ADVANCE" | json .stage) opened"

echo "# 5. The canary token is now out of order"
post /v1/redeem dev-tool-deployer-key \
  "{\"token\":\"$CANARY\",\"action\":\"deploy.canary\",\"args\":{\"service\":\"checkout\",\"version\":\"2.4.1\",\"percent\":5}}" | json .error.code

echo "# 6. The rollout: the last use of the last stage seals the sequence"
post /v1/redeem dev-tool-deployer-key \
  "{\"token\":\"$ROLLOUT\",\"action\":\"deploy.rollout\",\"args\":{\"service\":\"checkout\",\"version\":\"2.4.1\"}}" | json .sealed

echo "# 7. State and the receipt chain (JSON Lines, one signed receipt per decision)"
STATE=$(curl -sS "$BATON/v1/sequences/$SEQ" -H 'authorization: Bearer dev-auditor-key')
echo "status $(echo "$STATE" | json .status) ($(echo "$STATE" | json .seal_reason)), head n=$(echo "$STATE" | json .head.n)"
curl -sS "$BATON/v1/sequences/$SEQ/receipts" -H 'authorization: Bearer dev-auditor-key' | wc -l | xargs echo "receipts:"
test "$(echo "$STATE" | json .status)" = sealed
