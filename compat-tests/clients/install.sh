#!/usr/bin/env bash
# Installs the real RocketMQ clients the compat tests drive, from the public registries,
# into DEST (CI passes "$PWD/.clients", which is git-ignored). Idempotent.
#   py-cpp1/    venv with PyPI rocketmq==0.4.4 (Apache C++ client 1.x)
#   py-cpp2/    venv with PyPI rocketmq-python-cvs==2.1.0.3 (Apache C++ client 2.1)
#   node/       npm ali-ons@3.12.0
#   rust-target/ the rust-driver built against crates.io rocketmq-client-rust 1.0.0
#   py-5x/      venv with PyPI rocketmq-python-client==5.1.2 (5.x gRPC client)
#   node-5x/    npm rocketmq-client-nodejs@1.0.8 (5.x gRPC client)
# RMQD_CLIENTS_5X_ONLY=1 installs only the two 5.x clients.
set -euo pipefail
DEST="${1:?usage: install.sh DEST}"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$DEST"
DEST="$(cd "$DEST" && pwd)"

venv() {
  local dir="$1" pkg="$2"
  if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "import rocketmq.client" 2>/dev/null; then
    echo "  $pkg: already installed in $dir"
    return
  fi
  echo "  $pkg -> $dir"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$pkg"
}

install_5x() {
  echo "5.x gRPC clients"
  local py="$DEST/py-5x"
  if [ -x "$py/bin/python" ] && "$py/bin/python" -c "import rocketmq.v5" 2>/dev/null \
    && [ "$("$py/bin/pip" show rocketmq-python-client 2>/dev/null | sed -n 's/^Version: //p')" = "5.1.2" ]; then
    echo "  rocketmq-python-client: already installed in $py"
  else
    echo "  rocketmq-python-client==5.1.2 -> $py"
    rm -rf "$py"
    python3 -m venv "$py"
    "$py/bin/pip" install --quiet --disable-pip-version-check "rocketmq-python-client==5.1.2"
  fi
  local node="$DEST/node-5x"
  if [ -f "$node/node_modules/rocketmq-client-nodejs/package.json" ] \
    && grep -q '"version": "1.0.8"' "$node/node_modules/rocketmq-client-nodejs/package.json"; then
    echo "  rocketmq-client-nodejs: already installed"
  else
    mkdir -p "$node"
    (cd "$node" && npm install --silent --no-audit --no-fund --prefix "$node" rocketmq-client-nodejs@1.0.8 >/dev/null)
    echo "  rocketmq-client-nodejs@1.0.8 -> $node"
  fi
}

if [ "${RMQD_CLIENTS_5X_ONLY:-}" = "1" ]; then
  install_5x
  exit 0
fi

echo "python clients"
venv "$DEST/py-cpp1" "rocketmq==0.4.4"
venv "$DEST/py-cpp2" "rocketmq-python-cvs==2.1.0.3"

echo "node client"
if [ -d "$DEST/node/node_modules/ali-ons" ]; then
  echo "  ali-ons: already installed"
else
  mkdir -p "$DEST/node"
  (cd "$DEST/node" && npm install --silent --no-audit --no-fund --prefix "$DEST/node" ali-ons@3.12.0 >/dev/null)
  echo "  ali-ons@3.12.0 -> $DEST/node"
fi

echo "rust client (first build takes several minutes)"
CARGO_TARGET_DIR="$DEST/rust-target" cargo build --quiet --manifest-path "$HERE/rust-driver/Cargo.toml"
echo "  rust-driver -> $DEST/rust-target/debug/rust-driver"

install_5x
