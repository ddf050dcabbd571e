#!/usr/bin/env bash
# What `make up` needs before it installs anything: one line per missing
# prerequisite, with its fix; exit 1 when any is missing.
#
#   scripts/prereqs.sh PULUMI_VERSION PULUMI_PATH
#
# PULUMI_PATH is the CLI make would use (on PATH, or .tools/pulumi/pulumi);
# when it is absent, curl and a checksum tool must be there to download it.
set -uo pipefail

pulumi_version=${1:?usage: prereqs.sh PULUMI_VERSION PULUMI_PATH}
pulumi=${2:?usage: prereqs.sh PULUMI_VERSION PULUMI_PATH}
python=${PYTHON:-python3}
missing=0
need() { # need WHAT FIX
  echo "missing: $1; fix: $2" >&2
  missing=1
}

if ! command -v "$python" >/dev/null; then
  need "Python 3.11 or newer ($python)" "install it (apt-get install python3 python3-venv; brew install python@3.11) or run make up PYTHON=/path/to/python3.11"
elif ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  need "Python 3.11 or newer ($python is $("$python" -c 'import platform; print(platform.python_version())' 2>/dev/null))" \
    "install Python 3.11+ and run make up PYTHON=/path/to/python3.11"
elif ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  need "the venv module of $python" "apt-get install python3-venv (Debian/Ubuntu)"
fi

command -v make >/dev/null || need "make" "apt-get install make; on macOS: xcode-select --install"

if [ ! -x "$pulumi" ]; then
  command -v curl >/dev/null || need "curl (to download the Pulumi CLI ${pulumi_version})" \
    "apt-get install curl, or install Pulumi ${pulumi_version} yourself and put it on PATH"
  command -v sha256sum >/dev/null || command -v shasum >/dev/null ||
    need "sha256sum or shasum (to verify the Pulumi CLI download)" "apt-get install coreutils"
  command -v tar >/dev/null || need "tar (to unpack the Pulumi CLI)" "apt-get install tar"
fi

# AWS credentials: the AWS CLI's own check when it is installed; otherwise
# whether any source the AWS SDK reads is configured.
if command -v aws >/dev/null; then
  if ! err=$(aws sts get-caller-identity --output text 2>&1 >/dev/null); then
    need "AWS credentials that work (aws sts get-caller-identity: $(echo "$err" | tr '\n' ' ' | sed 's/ *$//'))" \
      "aws configure, aws sso login, or export AWS_PROFILE / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
  fi
elif [ -z "${AWS_ACCESS_KEY_ID:-}${AWS_PROFILE:-}${AWS_WEB_IDENTITY_TOKEN_FILE:-}${AWS_CONTAINER_CREDENTIALS_FULL_URI:-}${AWS_CONTAINER_CREDENTIALS_RELATIVE_URI:-}" ] &&
  [ ! -f "${AWS_SHARED_CREDENTIALS_FILE:-$HOME/.aws/credentials}" ] && [ ! -f "${AWS_CONFIG_FILE:-$HOME/.aws/config}" ]; then
  need "AWS credentials (no AWS CLI to check them, and no AWS_* variable or ~/.aws file)" \
    "install the AWS CLI and run aws configure (or aws sso login), or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
fi

exit $missing
