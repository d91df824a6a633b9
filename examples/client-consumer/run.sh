#!/usr/bin/env bash
# Packs @coupler/client (pnpm client:pack), installs the tarball with npm into a temporary copy of
# this example (outside the workspace), type-checks it, and runs it against the
# API at $BASE_URL as $TOKEN for learner $USER_ID (IDEMPOTENCY_KEY optional).
# The last line of output is the example's JSON result.
#   SKIP_BUILD=1   reuse packages/client/dist (a caller that already built it)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/coupler-client-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ -z "${SKIP_BUILD:-}" ]; then
  # The documented command: builds the client (its .d.ts bundle reads @coupler/api's
  # and @coupler/core's built declarations) and packs it into packages/client/dist.
  pnpm --dir "$root" --silent client:pack >&2
fi
(cd "$root/packages/client" && pnpm --reporter=silent pack --pack-destination "$work" >/dev/null)
tarball=$(ls "$work"/coupler-client-*.tgz)
# What a legal review reads first: the license travels in the tarball. (The listing is read whole:
# grep -q would stop reading early, and tar's SIGPIPE would fail the pipeline under pipefail.)
contents=$(tar tzf "$tarball")
if ! grep -qx 'package/LICENSE' <<<"$contents"; then echo "the packed client has no LICENSE" >&2; exit 1; fi

mkdir "$work/app"
cp -R "$here/package.json" "$here/tsconfig.json" "$here/src" "$work/app/"
cd "$work/app"
npm install --no-audit --no-fund --prefer-offline --loglevel=error "$tarball" >&2
# Nothing of the server may come along.
for server in pg drizzle-orm prom-client jose pino @coupler/api @coupler/core; do
  if [ -e "node_modules/$server" ]; then echo "the installed client pulled in $server" >&2; exit 1; fi
done
npx tsc --noEmit
npx tsc
node dist/main.js
