#!/usr/bin/env bash
# System packages for the deployment tests, installed when missing (Debian/Ubuntu):
#   redis-server  the pub/sub hub's tests and benchmarks/hub_fanout.py (tests start it themselves)
#   iproute2      ip netns / veth for the dead-peer tests (tests/_netns.py)
#   iptables      drops the silent peer's packets (nftables and tc netem are the fallbacks)
# Then checks that this machine can make a network namespace and drop packets in it.
# Exit status 0 when everything works; the caller then sets WSFAST_REQUIRE_NETNS=1 (and
# WSFAST_REQUIRE_PEERS=1) so that a missing piece fails the tests instead of skipping them.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "deploy_deps: not root and no sudo: cannot install or use network namespaces" >&2
    exit 1
  fi
fi

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deploy_deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
redis-server --version

# the Debian package starts a system-wide redis-server on 6379; the tests start their own on
# free ports and do not need it
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
  $SUDO systemctl stop redis-server || true
fi

# a namespace, a veth pair and a DROP rule inside it, then everything removed again
ns="wsfci$$"
cleanup() {
  $SUDO ip link del "${ns}h" >/dev/null 2>&1 || true
  $SUDO ip netns del "$ns" >/dev/null 2>&1 || true
}
trap cleanup EXIT
$SUDO ip netns add "$ns"
$SUDO ip link add "${ns}h" type veth peer name "${ns}p"
$SUDO ip link set "${ns}p" netns "$ns"
$SUDO ip netns exec "$ns" iptables -I INPUT -j DROP
$SUDO ip netns exec "$ns" iptables -D INPUT -j DROP
echo "deploy_deps: network namespaces, veth and iptables work here"
