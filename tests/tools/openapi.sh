#!/usr/bin/env bash
# The served OpenAPI document, used by tools nobody here wrote (issue 11, item 6), against a
# running server of the example product on loopback (test.sh starts it):
#  1. openapi-python-client generates a Python client from GET /.well-known/openapi.json;
#     client_calls.py calls the product through it: a 200 and a 400 field error, each read
#     through the generated types;
#  2. schemathesis runs against every route but the blocking example (v0/slow, whose pool
#     answers 503 by design), bounded in examples and time, with its server-error and
#     response-schema-conformance checks (no method-not-allowed check: another method on a
#     route answers 501 by design; schemathesis.toml).
# The tools are pinned (requirements.txt) in the virtualenv target/py-tools-venv (made by
# test.sh and .ci/run). Nothing but 127.0.0.1 is contacted. Usage: openapi.sh PORT
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/../../target/py-tools-venv"
port=${1:?usage: openapi.sh PORT}
base="http://127.0.0.1:$port"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl --silent --show-error --fail --max-time 10 "$base/.well-known/openapi.json" -o "$work/openapi.json"

# 1. The generated client (its optional ruff pass is not installed; it says so and goes on).
(cd "$work" && timeout 120 "$venv/bin/openapi-python-client" generate --path openapi.json \
    --meta none --output-path client >generate.log 2>&1) \
    || { cat "$work/generate.log"; echo "openapi-python-client could not generate a client"; exit 1; }
timeout 60 "$venv/bin/python" "$here/client_calls.py" "$work" "$base"

# 2. schemathesis: at most 20 examples per operation, 60 s in all, one worker; no report
# files, no example database.
(cd "$work" && timeout --kill-after=10 120 "$venv/bin/schemathesis" \
    --config-file "$here/schemathesis.toml" --no-color run "$base/.well-known/openapi.json" \
    --url "$base" --checks not_a_server_error,response_schema_conformance \
    --exclude-path-regex '^/api/v0/slow/' --max-examples 20 --max-time 60 --workers 1 \
    --generation-database none >schemathesis.log 2>&1) \
    || { cat "$work/schemathesis.log"; echo "schemathesis found failures (above)"; exit 1; }
tail -n 3 "$work/schemathesis.log"
echo "schemathesis: no server error, every response matching its schema"
