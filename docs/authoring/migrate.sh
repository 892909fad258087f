#!/usr/bin/env bash
# One data-migration sequence against a running Baton, with the development credentials
# (docs/authoring-workflows.md): start, back up, the backup checker's attestation, the delete.
#   bash docs/authoring/migrate.sh <base url> <table> '<args of db.delete_records, JSON>'
# Prints each decision; the sequence id last.
set -euo pipefail
BATON=$1 TABLE=$2 DELETE_ARGS=$3 BACKUP="$2-2026-01-01"
cd "$(dirname "$0")/../.."
# answer <JS over `a`, the JSON answer on stdin>; a refusal is its decision and code.
answer() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const a=JSON.parse(s);console.log(a.error?`DENY ${a.error.code}`:'"$1"')})'; }
post() { curl -sS -X POST "$BATON$1" -H "authorization: Bearer $2" -H 'content-type: application/json' -d "$3"; }

START=$(post /v1/sequences dev-orchestrator-key \
  "{\"workflow\":\"data-migration\",\"params\":{\"table\":\"$TABLE\",\"backup\":\"$BACKUP\"},\"subject\":\"user:alice\",\"actor\":\"agent-7\"}")
SEQ=$(echo "$START" | answer a.sequence)
echo "backup  $(post /v1/redeem dev-tool-db-key "{\"token\":\"$(echo "$START" | answer a.capability)\",\"action\":\"db.backup\",\"args\":{\"table\":\"$TABLE\",\"backup\":\"$BACKUP\"}}" | answer a.decision)"
ATTESTATION=$(node examples/sign-attestation.mjs --attester backup-checker --seq "$SEQ" --stage backup \
  --type backup_verified --facts "{\"table\":\"$TABLE\",\"backup\":\"$BACKUP\",\"rows_missing\":0}")
OPENED=$(post "/v1/sequences/$SEQ/evidence" dev-agent-key "{\"attestation\":\"$ATTESTATION\"}")
echo "verify  $(echo "$OPENED" | answer '`${a.decision}, stage ${a.stage}`')"
DELETED=$(post /v1/redeem dev-tool-db-key "{\"token\":\"$(echo "$OPENED" | answer a.capability)\",\"action\":\"db.delete_records\",\"args\":$DELETE_ARGS}")
echo "delete  $(echo "$DELETED" | answer '`${a.decision}, sealed ${a.sealed}`')"
echo "sequence $SEQ"
