#!/usr/bin/env bash
# wsproto's own test suite (shipped in its sdist) with wsfast.patch.wsproto() applied.
source "$(dirname "$0")/_common.bash"
VERSION=1.3.2
suite_venv wsproto
python -m pip install -q "wsproto==$VERSION" pytest
python -m pip download -q --no-deps --no-binary :all: "wsproto==$VERSION" -d "$WORK"
tar -xzf "$WORK/wsproto-$VERSION.tar.gz" -C "$WORK"
cd "$WORK/wsproto-$VERSION"
rm -rf src  # the tests must import the installed wsproto
deselect=()
while read -r id; do deselect+=(--deselect "$id"); done < <(suite_excluded wsproto)
suite_run wsproto "wsproto $VERSION" -m pytest -q -p no:cacheprovider tests "${deselect[@]}"
