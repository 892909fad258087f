#!/usr/bin/env bash
# The README's delegation walkthrough, as CI runs it against npm start: a research agent
# hands the collection of sources to two sub-agents, each narrowed to its sources and a
# share of the fetches, before the synthesis opens. Development credentials.
#   bash examples/walkthrough-delegation.sh [base url]
# It prints no ids or times, so its output is the same on every run: the README shows the
# commands from `BATON=` on and the output verbatim, and test/node/walkthrough-delegation.test.ts
# checks both. Every step stops the walkthrough unless Baton answers what the README says.
set -euo pipefail
cd "$(dirname "$0")/.."
BATON=${1:-http://localhost:8787}
ANSWER=$(mktemp) && trap 'rm -f "$ANSWER"' EXIT
# post <api key> <path> <JSON>: prints the HTTP status and the decision or the refusal's code.
post() {
  curl -sS -o "$ANSWER" -w '%{http_code} ' -X POST "$BATON$2" -H "authorization: Bearer $1" -H 'content-type: application/json' -d "$3"
  answer '.decision ?? a.error.code'
}
# answer <JS over `a`, the last answer>: prints a member of it, e.g. answer .capability
answer() { node -e 'const a=JSON.parse(require("fs").readFileSync(process.argv[1]));const v=eval("a"+process.argv[2]);console.log(typeof v==="string"?v:JSON.stringify(v))' "$ANSWER" "$1"; }
# grants <capability>: who holds it (act) and what it grants, read from its claims.
grants() { node -e 'const c=JSON.parse(Buffer.from(process.argv[1].split(".")[1],"base64url"));const d=c.authorization_details.map(g=>`${g.tool} ${g.actions} ×${g.uses}${g.where?` where ${g.where}`:""}`);console.log(`act ${JSON.stringify(c.act)}: ${d.join("; ")}`)' "$1"; }
# show <command…>: prints what the command prints, indented under the step.
show() { echo "    $("$@")"; }
# expect <what Baton must answer> <command…>: runs the command and prints its answer; any other
# fails (which stops the script, set -e; pasted into a shell, it only says so).
expect() { local got; got=$("${@:2}"); echo "  → $got"; [ "$got" = "$1" ] || { echo "walkthrough: expected $1" >&2; return 1; }; }
# The web tool at the gate: fetch <capability> <source>.
fetch() { post dev-tool-web-key /v1/redeem "{\"token\":\"$1\",\"action\":\"source.fetch\",\"args\":{\"source\":\"$2\"}}"; }
# delegate <api key> <sequence> <capability> <sub-agent> <grants>: hands part of the stage to a sub-agent.
delegate() { post "$1" "/v1/sequences/$2/delegations" "{\"token\":\"$3\",\"actor\":\"$4\",\"grants\":$5}"; }
# uses <sequence>: each grant of the current stage, used (or handed down) of its limit.
uses() { curl -sS "$BATON/v1/sequences/$1" -H 'authorization: Bearer dev-auditor-key' > "$ANSWER"; answer '.uses.map(u=>`${u.tool} ${u.used} of ${u.limit}`).join(", ")'; }
# receipts <sequence>…: how many receipts each chain holds.
receipts() { for seq in "$@"; do curl -sS "$BATON/v1/sequences/$seq/receipts" -H 'authorization: Bearer dev-auditor-key' | wc -l; done | xargs; }

echo "1. The orchestrator starts a brief on grid-scale storage from four sources, run by agent-7"
expect "201 ALLOW" post dev-orchestrator-key /v1/sequences '{"workflow":"research-brief","subject":"user:alice","actor":"agent-7",
  "params":{"topic":"grid-scale storage","sources":["apnews.com","reuters.com","arxiv.org","nature.com"]}}'
SEQ=$(answer .sequence) && COLLECT=$(answer .capability)
show grants "$COLLECT"

echo "2. agent-7 hands scout-news 2 fetches, narrowed to the wire services: a child sequence of its own"
expect "201 ALLOW" delegate dev-agent-key "$SEQ" "$COLLECT" scout-news \
  '[{"audience":"web","actions":["source.fetch"],"uses":2,"where":"args.source in [\"apnews.com\", \"reuters.com\"]"}]'
NEWS=$(answer .capability) && NEWS_SEQ=$(answer .sequence)
show grants "$NEWS"

echo "3. 5 fetches for scout-papers are more than agent-7 has left; 3 and one delegation fit"
FROM_PAPERS='"audience":"web","actions":["source.fetch"],"where":"args.source in [\"arxiv.org\", \"nature.com\"]"'
expect "403 SCOPE_EXCEEDED" delegate dev-agent-key "$SEQ" "$COLLECT" scout-papers "[{$FROM_PAPERS,\"uses\":5}]"
show answer .error.message
expect "201 ALLOW" delegate dev-agent-key "$SEQ" "$COLLECT" scout-papers \
  "[{$FROM_PAPERS,\"uses\":3},{\"audience\":\"baton\",\"actions\":[\"delegate\"],\"uses\":1}]"
PAPERS=$(answer .capability) && PAPERS_SEQ=$(answer .sequence)
show grants "$PAPERS"

echo "4. scout-news fetches from reuters.com; arxiv.org is outside its narrowing"
expect "200 ALLOW" fetch "$NEWS" reuters.com
expect "403 CONDITION_FAILED" fetch "$NEWS" arxiv.org

echo "5. scout-papers (with its own API key) tries to hand on to a helper: act would nest 3 deep"
expect "403 SCOPE_EXCEEDED" delegate dev-scout-papers-key "$PAPERS_SEQ" "$PAPERS" helper '[{"audience":"web","actions":["source.fetch"],"uses":1}]'
show answer .error.message

echo "6. The shares are reserved: agent-7 has 1 fetch left, however few the scouts have spent"
expect "web 5 of 6, baton 3 of 4" uses "$SEQ"
expect "200 ALLOW" fetch "$COLLECT" apnews.com
expect "403 SCOPE_EXCEEDED" fetch "$COLLECT" nature.com
expect "200 ALLOW" fetch "$PAPERS" arxiv.org

echo "7. The citation checker attests 4 sources on the topic: the synthesis opens"
ATTESTATION=$(node examples/sign-attestation.mjs --attester citation-checker --seq "$SEQ" --stage collect \
  --type sources_collected --facts '{"topic":"grid-scale storage","sources":4}')
expect "200 ALLOW" post dev-agent-key "/v1/sequences/$SEQ/evidence" "{\"attestation\":\"$ATTESTATION\"}"
SYNTHESIZE=$(answer .capability)
show answer .message

echo "8. The scouts' shares died with the collection stage: their unspent fetches are refused"
expect "409 SEQUENCE_VIOLATION" fetch "$NEWS" apnews.com
show answer .error.message | sed "s/$SEQ/<the brief's id>/"
expect "409 SEQUENCE_VIOLATION" fetch "$PAPERS" nature.com

echo "9. The draft, its outcome (which opens publish), and the publication, which seals the brief"
expect "200 ALLOW" post dev-tool-model-key /v1/redeem "{\"token\":\"$SYNTHESIZE\",\"action\":\"brief.draft\",\"args\":{\"topic\":\"grid-scale storage\"}}"
expect "200 ALLOW" post dev-tool-model-key /v1/outcomes "{\"receipt\":\"$(answer .receipt)\",\"outcome\":\"succeeded\"}"
PUBLISH=$(answer .capability)
expect "200 ALLOW" post dev-tool-dashboard-key /v1/redeem "{\"token\":\"$PUBLISH\",\"action\":\"brief.publish\",\"args\":{\"topic\":\"grid-scale storage\"}}"
expect true answer .sealed

echo "10. Receipts of the brief, scout-news and scout-papers: each sequence's decisions in its own chain"
expect "10 4 4" receipts "$SEQ" "$NEWS_SEQ" "$PAPERS_SEQ"
