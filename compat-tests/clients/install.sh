#!/usr/bin/env bash
# Installs the real RocketMQ clients the compat tests drive, from the public registries,
# into DEST (CI passes "$PWD/.clients", which is git-ignored). Idempotent.
#   py-cpp1/    venv with PyPI rocketmq==0.4.4 (Apache C++ client 1.x)
#   py-cpp2/    venv with PyPI rocketmq-python-cvs==2.1.0.3 (Apache C++ client 2.1)
#   node/       npm ali-ons@3.12.0
#   rust-target/ the rust-driver built against crates.io rocketmq-client-rust 1.0.0
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
