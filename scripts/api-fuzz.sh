#!/usr/bin/env bash
# API contract fuzzing: schemathesis against the committed openapi.json, on a running app
# with demo data and a token for each role (holder, advisor, analyst, certifier).
#   scripts/api-fuzz.sh [MAX_EXAMPLES]        (default 50 examples per operation)
# Each role is run on its own operations, every phase (the stateful one follows the links
# schemathesis infers from the description: an id a response gives, another path takes).
# Fails (exit 1) on any 5xx, or any response whose status, content type, headers or body
# the description does not declare; the reports are kept in artifacts/api-fuzz-<role>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-50}
work=$(mktemp -d /tmp/passport-fuzz.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PASSPORT_ENV=development PASSPORT_INSTANCE_DIR=$work PASSPORT_ANALYSTS=analyste@example.gouv.fr
export PASSPORT_ISSUER=http://127.0.0.1:$port
passport=.venv/bin/passport
$passport db upgrade >/dev/null
$passport demo generate --holders 60 --passages 600 --per-file 300 --out "$work/demo" >/dev/null 2>&1
$passport demo load "$work/demo" >/dev/null 2>&1
$passport serve --host 127.0.0.1 --port "$port" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
nir=$(sed -n 2p "$work/demo/identities.csv" | cut -d, -f1)
mkdir -p artifacts
status=0
# Each role on the operations it serves (the public ones with the holder's): every phase,
# the stateful one included, then spends its cases where a token opens the door (who is
# refused what is the authorisation matrix's business, tests/api/test_access_matrix.py).
for role in "holder --holder-nir $nir" "advisor --advisor 73282932000074:conseil@cep.example" \
            "analyst --analyst analyste@example.gouv.fr" "certifier --certifier CERT0001"; do
  name=${role%% *}
  case $name in
    holder) paths='^/(api/v1/(me$|(me|shares|verify|flux)/)|health$)' ;;
    analyst) paths='^/api/v1/analytics/' ;;
    *) paths="^/api/v1/$name/" ;;
  esac
  token=$($passport dev token ${role#* })
  if ! .venv/bin/schemathesis run "http://127.0.0.1:$port/api/openapi.json" \
      -H "Authorization: Bearer $token" --max-examples "$examples" \
      --include-path-regex "$paths" \
      --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance \
      >"artifacts/api-fuzz-$name.log" 2>&1; then
    echo "api-fuzz: failures as $name (artifacts/api-fuzz-$name.log)" >&2
    status=1
  else
    log="artifacts/api-fuzz-$name.log"
    selected=$(grep -o 'Selected: [0-9]*' "$log" | head -n 1 | cut -d' ' -f2)
    links=$(grep -o 'API Links: *[0-9]* covered / [0-9]*' "$log" | head -n 1 \
            | sed 's/API Links: *\([0-9]*\) covered \/ \([0-9]*\)/, \1 of \2 links followed/' \
            || true)  # no link between an advisor's or an analyst's operations
    echo "api-fuzz: $name: $selected operations, $(grep -A1 'Test cases:' "$log" | tail -n 1 | xargs)$links"
  fi
done
if grep -q "Traceback" "$work/serve.log"; then
  cp "$work/serve.log" artifacts/api-fuzz-server.log
  echo "api-fuzz: the server logged exceptions (artifacts/api-fuzz-server.log)" >&2
  status=1
fi
exit $status
