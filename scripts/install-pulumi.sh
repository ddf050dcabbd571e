#!/usr/bin/env bash
# Installs the pinned Pulumi CLI into DEST (default .tools/pulumi), verified
# against the sha256 Pulumi publishes for the release, all or nothing.
#
#   scripts/install-pulumi.sh VERSION [DEST]
#
# The archive and Pulumi's checksums file (pulumi-<version>-checksums.txt,
# lines "<sha256>  <archive>") are downloaded into a temporary directory beside
# DEST; the archive's sha256 must match its line, and the pinned value in
# PULUMI_SHA256 when that is set. Only then is the extracted CLI moved to DEST
# in one rename. On any failure the temporary directory is removed, DEST is
# left as it was, and one line names the manual install.
#
# PULUMI_DOWNLOAD_BASE overrides https://get.pulumi.com/releases/sdk (tests use
# a file:// directory; a mirror works too).
set -euo pipefail

version=${1:?usage: install-pulumi.sh VERSION [DEST]}
dest=${2:-.tools/pulumi}
base=${PULUMI_DOWNLOAD_BASE:-https://get.pulumi.com/releases/sdk}
manual="install Pulumi ${version} yourself (https://www.pulumi.com/docs/iac/download-install/: brew install pulumi/tap/pulumi on macOS, or curl -fsSL https://get.pulumi.com | sh -s -- --version ${version}), put it on PATH, and run make up again"

fail() {
  echo "error: could not install the Pulumi CLI ${version}: $1; ${manual}" >&2
  exit 1
}

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) fail "no Pulumi CLI build for $(uname -s) in this installer" ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) fail "no Pulumi CLI build for $(uname -m)" ;;
esac
archive="pulumi-v${version}-${os}-${arch}.tar.gz"
sums="pulumi-${version}-checksums.txt"

if command -v sha256sum >/dev/null; then
  sha256() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null; then # macOS
  sha256() { shasum -a 256 "$1" | cut -d' ' -f1; }
else
  fail "neither sha256sum nor shasum is installed to verify the download"
fi

parent=$(dirname "$dest")
created_parent=""
[ -d "$parent" ] || created_parent=1
mkdir -p "$parent"
tmp=$(mktemp -d "${parent}/.pulumi-download.XXXXXX")
# On failure nothing stays behind, not even a .tools/ this run created.
trap 'rm -rf "$tmp"; [ -z "$created_parent" ] || rmdir "$parent" 2>/dev/null || true' EXIT

fetch() { # fetch URL FILE: curl's own message on failure
  local err
  if ! err=$(curl -fsSL --retry 2 -o "$2" "$1" 2>&1); then
    fail "download of $1 failed (${err:-curl failed})"
  fi
}
fetch "${base}/${archive}" "${tmp}/${archive}"
fetch "${base}/${sums}" "${tmp}/${sums}"

expected=$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1 }' "${tmp}/${sums}")
[ -n "$expected" ] || fail "${sums} has no line for ${archive}"
actual=$(sha256 "${tmp}/${archive}")
[ "$actual" = "$expected" ] || fail "sha256 of ${archive} is ${actual}, ${sums} says ${expected}"
if [ -n "${PULUMI_SHA256:-}" ] && [ "$actual" != "$PULUMI_SHA256" ]; then
  fail "sha256 of ${archive} is ${actual}, the pinned PULUMI_SHA256 is ${PULUMI_SHA256}"
fi

mkdir "${tmp}/x"
tar -xzf "${tmp}/${archive}" -C "${tmp}/x" 2>/dev/null || fail "${archive} is not a readable tar.gz"
[ -x "${tmp}/x/pulumi/pulumi" ] || fail "${archive} has no pulumi/pulumi executable"
rm -rf "$dest"
mv "${tmp}/x/pulumi" "$dest"
echo "installed Pulumi CLI ${version} (${os}-${arch}, sha256 ${actual} verified) in ${dest}"
