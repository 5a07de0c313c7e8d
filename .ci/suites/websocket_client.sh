#!/usr/bin/env bash
# websocket-client's own test suite (shipped in its sdist), its local echo server running, with
# wsfast.patch.websocket_client() applied.
source "$(dirname "$0")/_common.bash"
VERSION=1.9.2
suite_venv websocket_client
python -m pip install -q "websocket-client==$VERSION" pytest websockets python-socks
python -m pip download -q --no-deps --no-binary :all: "websocket-client==$VERSION" -d "$WORK"
tar -xzf "$WORK/websocket_client-$VERSION.tar.gz" -C "$WORK"
src=$WORK/websocket_client-$VERSION
port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export LOCAL_WS_SERVER_PORT=$port
python "$src/websocket/tests/echo-server.py" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
python - "$port" <<'PY'
import socket, sys, time
for _ in range(200):  # the echo server is up once it accepts a connection
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        break
    except OSError:
        time.sleep(0.05)
else:
    sys.exit("the echo server did not start")
PY
cd "$WORK"
printf '[pytest]\n' > pytest.ini  # not the repository's pytest settings
mv "$src/websocket/tests" "$WORK/tests_websocket"  # run the tests against the installed package
deselect=()
while read -r id; do deselect+=(--deselect "$id"); done < <(suite_excluded websocket_client)
suite_run websocket_client "websocket-client $VERSION" -m pytest -q -p no:cacheprovider \
  --import-mode=importlib tests_websocket "${deselect[@]}"
