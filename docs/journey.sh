#!/usr/bin/env bash
# The whole Modelbay journey from the command line: import a model with its reference
# data, build its image, add a host, deploy, watch drift, deploy a second version, roll
# back. tests/integration/test_cli_journey.py runs this very file against the test host.
#
#   JOURNEY_SSH=deploy@10.0.0.5:22 \
#   JOURNEY_FINGERPRINT=SHA256:...   # on the host: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub
#   JOURNEY_IDENTITY=~/.ssh/id_ed25519 \
#   bash docs/journey.sh
#
# Optional: JOURNEY_MODEL, JOURNEY_MODEL2 (model files), JOURNEY_REFERENCE (the table the
# model was trained on), JOURNEY_TRAFFIC (a CSV of live inputs to send, shifted to show
# drift); without them the script trains two small scikit-learn models on iris-like data
# and writes such tables (this needs python3 with scikit-learn and pandas).
# MODELBAY: how to run modelbay (default: modelbay). JOURNEY_HOST: the host's name (prod).
set -euo pipefail

modelbay() { ${MODELBAY:-modelbay} "$@"; }
say() { printf '\n== %s\n' "$*" >&2; }

: "${JOURNEY_SSH:?set JOURNEY_SSH=[USER@]HOST[:PORT], the machine to deploy to}"
: "${JOURNEY_FINGERPRINT:?set JOURNEY_FINGERPRINT=SHA256:... (ssh-keygen -lf on the host)}"
HOST=${JOURNEY_HOST:-prod}
WORK=$(mktemp -d)
TUNNEL_PID=
cleanup() {
    if [ -n "$TUNNEL_PID" ]; then kill "$TUNNEL_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${JOURNEY_MODEL:-}" ]; then
    say "training two example models on iris-like data (scikit-learn)"
    python3 - "$WORK" <<'PY'
import sys
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

out = Path(sys.argv[1])
iris = load_iris(as_frame=True)
rng = np.random.default_rng(0)


def like(rows, shift=0.0):
    picked = iris.data.iloc[rng.integers(0, len(iris.data), rows)].reset_index(drop=True)
    frame = picked + rng.normal(0, 0.05, picked.shape)
    for column in ("petal length (cm)", "sepal width (cm)"):
        frame[column] += shift * iris.data[column].std()
    return frame.round(3)


for name, c in (("model-1.joblib", 1.0), ("model-2.joblib", 0.5)):
    joblib.dump(LogisticRegression(C=c, max_iter=500).fit(iris.data, iris.target), out / name)
like(3000).to_csv(out / "reference.csv", index=False)
like(2000, shift=1.0).to_csv(out / "traffic.csv", index=False)
PY
    JOURNEY_MODEL=$WORK/model-1.joblib
    JOURNEY_MODEL2=$WORK/model-2.joblib
    JOURNEY_REFERENCE=$WORK/reference.csv
    JOURNEY_TRAFFIC=$WORK/traffic.csv
fi

say "1. import the model with its reference data"
modelbay import "$JOURNEY_MODEL" --name journey --reference "$JOURNEY_REFERENCE"
modelbay show journey:1

say "2. build its image (verified: it starts and answers one request)"
modelbay build journey:1

say "3. add the host, trust its key, check it"
modelbay host add "$HOST" --ssh "$JOURNEY_SSH" ${JOURNEY_IDENTITY:+--identity "$JOURNEY_IDENTITY"}
modelbay host trust "$HOST" --fingerprint "$JOURNEY_FINGERPRINT"
modelbay host check "$HOST"

say "4. deploy (one-minute windows are the default; 5 s here to see drift sooner)"
modelbay deploy journey:1 "$HOST" --env MODELBAY_WINDOW_SECONDS=5 --set-alias production

say "5. send traffic through a tunnel (the service listens on the host's loopback)"
# (not through the modelbay function: $! must be the tunnel process itself)
${MODELBAY:-modelbay} tunnel "journey@$HOST" >"$WORK/tunnel.out" 2>&1 &
TUNNEL_PID=$!
for _ in $(seq 100); do
    URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$WORK/tunnel.out" || true)
    [ -n "$URL" ] && break
    sleep 0.2
done
[ -n "$URL" ] || { echo "the tunnel did not open" >&2; exit 1; }
header=$(head -1 "$JOURNEY_TRAFFIC")
tail -n +2 "$JOURNEY_TRAFFIC" | split -l 100 - "$WORK/batch-"
for batch in "$WORK"/batch-*; do
    { echo "$header"; cat "$batch"; } |
        curl -sf -H 'Content-Type: text/csv' --data-binary @- "$URL/invocations" >/dev/null
done
kill "$TUNNEL_PID"
wait "$TUNNEL_PID" 2>/dev/null || true
TUNNEL_PID=

say "6. watch drift: pull the windows, compare them with the reference"
sleep 11 # the last window closes
status=0
modelbay monitor "journey@$HOST" --once || status=$?
# exit 3: the service crossed an alert threshold (here: the shifted features drift)
[ "$status" = 0 ] || [ "$status" = 3 ] || exit "$status"
modelbay monitor "journey@$HOST" --export "$WORK/drift.csv"
head -5 "$WORK/drift.csv"

say "7. a second version: import, build, deploy (the first keeps serving until it is healthy)"
modelbay import "${JOURNEY_MODEL2:-$JOURNEY_MODEL}" --name journey --reference "$JOURNEY_REFERENCE"
modelbay build journey:2
modelbay deploy journey:2 "$HOST"

say "8. roll back to the version that served before"
modelbay rollback "journey@$HOST"
modelbay deployments --host "$HOST"
modelbay deployments --host "$HOST" --history
modelbay history journey
