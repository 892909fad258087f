#!/usr/bin/env bash
# The README's curl walkthrough as a script: one deployment sequence from start to
# seal against a running Baton (npm start), with the development credentials.
#   bash examples/walkthrough.sh [base url]
set -euo pipefail
BATON=${1:-http://localhost:8787}
cd "$(dirname "$0")/.."
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s)'"$1"';console.log(typeof v==="string"?v:JSON.stringify(v))})'; }
post() { curl -sS -X POST "$BATON$1" -H "authorization: Bearer $2" -H 'content-type: application/json' ${3:+-d "$3"}; }
# Prints what a step gave and stops the walkthrough when it is not what the README says.
expect() { echo "$1"; [ "$1" = "$2" ] || { echo "walkthrough: expected $2, got $1" >&2; exit 1; }; }

echo "# 1. The orchestrator starts a deployment of checkout 2.4.1 for user alice, run by agent-7"
START=$(post /v1/sequences dev-orchestrator-key \
  '{"workflow":"deployment","params":{"service":"checkout","version":"2.4.1"},"subject":"user:alice","actor":"agent-7"}')
SEQ=$(echo "$START" | json .sequence)
CANARY=$(echo "$START" | json .capability)
echo "sequence $SEQ, stage canary"

echo "# 2. Skipping ahead: deploy.rollout is granted by the rollout stage, and the current one is canary"
SKIPPED=$(post /v1/redeem dev-tool-deployer-key \
  "{\"token\":\"$CANARY\",\"action\":\"deploy.rollout\",\"args\":{\"service\":\"checkout\",\"version\":\"2.4.1\"}}")
expect "$(echo "$SKIPPED" | json .error.code) $(echo "$SKIPPED" | json .error.details.granted_in)" 'SEQUENCE_VIOLATION ["rollout"]'
echo "#    an action no stage grants is another refusal"
expect "$(post /v1/redeem dev-tool-deployer-key \
  "{\"token\":\"$CANARY\",\"action\":\"deploy.delete\",\"args\":{\"service\":\"checkout\"}}" | json .error.code)" SCOPE_EXCEEDED

echo "# 3. The deployer tool redeems the canary capability at the gate before acting; a replay is refused"
REDEEM_CANARY="{\"token\":\"$CANARY\",\"action\":\"deploy.canary\",\"args\":{\"service\":\"checkout\",\"version\":\"2.4.1\",\"percent\":5}}"
expect "$(post /v1/redeem dev-tool-deployer-key "$REDEEM_CANARY" | json .decision)" ALLOW
expect "$(post /v1/redeem dev-tool-deployer-key "$REDEEM_CANARY" | json .error.code)" REPLAY_NONCE

echo "# 4. The monitoring system attests that this canary passed (signed with its example key)"
ATTESTATION=$(node examples/sign-attestation.mjs --attester monitor --seq "$SEQ" --stage canary \
  --type canary_passed --facts '{"service":"checkout","version":"2.4.1","error_rate":0.002}')
ADVANCE=$(post "/v1/sequences/$SEQ/evidence" dev-agent-key "{\"attestation\":\"$ATTESTATION\"}")
ROLLOUT=$(echo "$ADVANCE" | json .capability)
expect "stage $(echo "$ADVANCE" | json .stage) opened" "stage rollout opened"

echo "# 5. The canary token is now out of order"
expect "$(post /v1/redeem dev-tool-deployer-key "$REDEEM_CANARY" | json .error.code)" SEQUENCE_VIOLATION

echo "# 6. The rollout: the last use of the last stage seals the sequence"
expect "$(post /v1/redeem dev-tool-deployer-key \
  "{\"token\":\"$ROLLOUT\",\"action\":\"deploy.rollout\",\"args\":{\"service\":\"checkout\",\"version\":\"2.4.1\"}}" | json .sealed)" true

echo "# 7. State and the receipt chain (one signed receipt per decision, one compact JWS per line)"
STATE=$(curl -sS "$BATON/v1/sequences/$SEQ" -H 'authorization: Bearer dev-auditor-key')
echo "status $(echo "$STATE" | json .status) ($(echo "$STATE" | json .seal_reason)), head n=$(echo "$STATE" | json .head.n)"
expect "$(curl -sS "$BATON/v1/sequences/$SEQ/receipts" -H 'authorization: Bearer dev-auditor-key' | wc -l | xargs echo "receipts:")" "receipts: 8"
expect "$(echo "$STATE" | json .status)" sealed
