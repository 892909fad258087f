#!/usr/bin/env bash
# The README's reimbursement walkthrough as a script: a stage that opens only after
# an attestation AND a person's approval (signed with the approver CLI), then payments
# bounded by a cumulative limit. Against a running Baton (npm start), development credentials.
#   bash examples/walkthrough-reimbursement.sh [base url]
set -euo pipefail
BATON=${1:-http://localhost:8787}
cd "$(dirname "$0")/.."
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s)'"$1"';console.log(typeof v==="string"?v:JSON.stringify(v))})'; }
post() { curl -sS -X POST "$BATON$1" -H "authorization: Bearer $2" -H 'content-type: application/json' ${3:+-d "$3"}; }
approver() { BATON_URL=$BATON BATON_API_KEY=dev-approver-key node src/cli/approver.mjs "$@"; }
pay() { post /v1/redeem dev-tool-payments-key \
  "{\"token\":\"$PAY\",\"action\":\"payment.send\",\"args\":{\"employee\":\"alice\",\"currency\":\"EUR\",\"amount\":$1}}"; }

echo "# 1. The orchestrator starts reimbursing alice's report R-2026-117 (500 EUR), run by agent-7"
START=$(post /v1/sequences dev-orchestrator-key \
  '{"workflow":"reimbursement","params":{"report":"R-2026-117","employee":"alice","total":500,"currency":"EUR"},"subject":"user:alice","actor":"agent-7"}')
SEQ=$(echo "$START" | json .sequence)
GATHER=$(echo "$START" | json .capability)
echo "sequence $SEQ, stage gather"

echo "# 2. The expenses tool serves the receipts; the payments tool refuses the gather token"
post /v1/redeem dev-tool-expenses-key "{\"token\":\"$GATHER\",\"action\":\"receipts.read\",\"args\":{\"report\":\"R-2026-117\"}}" | json .decision
post /v1/redeem dev-tool-payments-key \
  "{\"token\":\"$GATHER\",\"action\":\"payment.send\",\"args\":{\"employee\":\"alice\",\"currency\":\"EUR\",\"amount\":500}}" | json .error.code

echo "# 3. The expense checker attests the summary; the gate now waits for a finance manager: ESCALATE"
SUMMARY=$(node examples/sign-attestation.mjs --attester expense-checker --seq "$SEQ" --stage gather \
  --type summary_complete --facts '{"report":"R-2026-117","total":500}')
ESCALATED=$(post "/v1/sequences/$SEQ/evidence" dev-agent-key "{\"attestation\":\"$SUMMARY\"}")
echo "$(echo "$ESCALATED" | json .decision) $(echo "$ESCALATED" | json .code): $(echo "$ESCALATED" | json .message)"

echo "# 4. What the approver is asked to approve (the CLI recomputes the digest itself)"
approver show "$SEQ"

echo "# 5. alice is a finance manager, but she is the requester: her approval does not count"
approver sign "$SEQ" --key examples/keys/approvers/alice.private.jwk.json --submit | tail -n 1 || true

echo "# 6. fran approves: the payment stage opens; the agent fetches its capability"
approver sign "$SEQ" --key examples/keys/approvers/fran.private.jwk.json --submit | tail -n 2
PAY=$(post "/v1/sequences/$SEQ/capability" dev-agent-key | json .capability)

echo "# 7. Payments add up to at most 500: 200 and 250 pass, 100 exceeds what is left, 50 is the last use"
pay 200 | json .decision
pay 250 | json .decision
OVER=$(pay 100)
echo "$(echo "$OVER" | json .error.code), remaining $(echo "$OVER" | json .error.details.remaining)"
pay 50 | json .sealed

echo "# 8. State and receipts"
STATE=$(curl -sS "$BATON/v1/sequences/$SEQ" -H 'authorization: Bearer dev-auditor-key')
echo "status $(echo "$STATE" | json .status), head n=$(echo "$STATE" | json .head.n)"
test "$(echo "$STATE" | json .status)" = sealed
