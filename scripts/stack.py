"""First run of a stack: ``make init`` writes the values that have no safe
default into Pulumi.<stack>.yaml; ``make up`` refuses while a placeholder is left.

    python scripts/stack.py init STACK [--region R] [--repo URL] [--cidrs A,B | --cidrs private]
    python scripts/stack.py check STACK

``init`` creates the file from Pulumi.dev.yaml (``--template prod`` for a
production-shaped stack) or updates an existing one, asking on a terminal for
what the arguments do not give. Values are checked with the program's own rules
(components/config.py), and the file is then parsed as ``pulumi up`` would.
Lines are edited in place, so the file's comments stay.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# components.config (and pulumi-aws with it) is imported only by `init`: `check`
# runs first in every `make up` and stays fast.
PROJECT = "airflow-eks"
REGION = "aws:region"
REPO = f"{PROJECT}:dags.repo"
CIDRS = f"{PROJECT}:cluster.publicAccessCidrs"
AZS = f"{PROJECT}:network.availabilityZones"
SECRET_KEYS = (f"{PROJECT}:dags.sshPrivateKey", f"{PROJECT}:dags.httpsToken")
# The values the shipped stack files hold until someone sets theirs: the example
# repository and the documentation ranges of RFC 5737 / RFC 3849, which are
# never anyone's egress address.
PLACEHOLDER_REPO = "https://github.com/airflow-eks/airflow-eks.git"
UI_HOSTNAME = f"{PROJECT}:ui.hostname"
UI_ZONE = f"{PROJECT}:ui.hostedZoneId"
# Names reserved for examples (RFC 2606), and the stack files' example zone id.
EXAMPLE_NAME = re.compile(r"(.*\.)?(example\.(com|net|org)|[^.]+\.(example|test|invalid))\.?", re.I)
DOCUMENTATION_NETS = tuple(ipaddress.ip_network(n) for n in
                           ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))


class StackError(Exception):
    """A problem printed as one line."""


def stack_file(stack: str, directory: Path = ROOT) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", stack):
        raise StackError(f"invalid stack name {stack!r}: letters, digits, '.', '_' and '-' only")
    return directory / f"Pulumi.{stack}.yaml"


def placeholders(config: dict) -> list[str]:
    """One message per placeholder value still set."""
    found = []
    if config.get(REPO) == PLACEHOLDER_REPO:
        found.append(f"{REPO} = {PLACEHOLDER_REPO} (the example repository): set your DAG repository")
    for cidr in config.get(CIDRS) or []:
        try:
            net = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            continue
        if any(net.version == doc.version and net.subnet_of(doc) for doc in DOCUMENTATION_NETS):  # type: ignore[arg-type]
            found.append(f"{CIDRS} has {cidr} (a documentation range, nobody's address): "
                         "set your CI runners' / VPN egress CIDRs, or private")
    ui_fix = (f"set yours with pulumi config set {UI_HOSTNAME} <name> and {UI_ZONE} <zone id>, "
              f"or pulumi config set {PROJECT}:ui.exposure portForward")
    if EXAMPLE_NAME.fullmatch(str(config.get(UI_HOSTNAME) or "x")):
        found.append(f"{UI_HOSTNAME} = {config[UI_HOSTNAME]} (a name reserved for examples): {ui_fix}")
    if "EXAMPLE" in str(config.get(UI_ZONE) or ""):
        found.append(f"{UI_ZONE} = {config[UI_ZONE]} (an example id): {ui_fix}")
    return found


# ------------------------------------------------------------- validation

def check_region(value: str) -> str:
    from components.config import AWS_REGIONS
    if value not in AWS_REGIONS:
        raise StackError(f"{REGION} = {value!r}: expected an AWS region such as us-east-1")
    return value


def check_repo(value: str) -> str:
    from components.config import _git_host, without_userinfo
    value = value.strip()
    if without_userinfo(value) != value and value.startswith("https://"):
        raise StackError(f"{REPO}: no credentials in the URL; after init, set a token with "
                         f"pulumi config set --secret {PROJECT}:dags.httpsToken <token> --stack <stack>")
    if not (re.fullmatch(r"https://[^/\s@]+/\S+", value) or _git_host(value)):
        raise StackError(f"{REPO} = {value!r}: expected an https://, ssh:// or git@host:path Git URL")
    if value == PLACEHOLDER_REPO:
        raise StackError(f"{REPO}: {PLACEHOLDER_REPO} is the example placeholder; give your repository")
    return value


def check_cidrs(value: str) -> list[str]:
    from components.config import public_cidr_problem
    if value.strip() in ("private", "[]", "none"):
        return []
    cidrs = [c.strip() for c in value.split(",") if c.strip()]
    problem = public_cidr_problem(cidrs) if cidrs else "expected CIDRs such as 198.18.7.0/24, or private"
    if problem:
        raise StackError(f"{CIDRS} = {cidrs!r}: {problem}")
    if placeholders({CIDRS: cidrs}):
        raise StackError(f"{CIDRS}: documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, "
                         "2001:db8::/32) are placeholders; give your egress CIDRs")
    return cidrs


# ------------------------------------------------------- in-place editing

def set_value(lines: list[str], key: str, value: object) -> list[str]:
    """Replaces ``  key: ...`` (and a block list under it) or appends it.
    Values are written as JSON, which YAML reads as the same value."""
    if isinstance(value, list):
        new = [f"  {key}:\n"] + [f"    - {json.dumps(v)}\n" for v in value] if value else [f"  {key}: []\n"]
    else:
        new = [f"  {key}: {json.dumps(value)}\n"]
    for i, line in enumerate(lines):
        if re.match(rf"  {re.escape(key)}:(\s|$)", line):
            end = i + 1
            while end < len(lines) and re.match(r"    (- |\S)", lines[end]):
                end += 1
            start = i - 1 if i and lines[i - 1].startswith("  # PLACEHOLDER") else i
            return lines[:start] + new + lines[end:]
    return lines + new


def ask(prompt: str, current: str | None, check: Callable[[str], object]) -> object:
    while True:
        shown = f" [{current}]" if current else ""
        answer = input(f"{prompt}{shown}: ").strip() or (current or "")
        try:
            return check(answer)
        except StackError as exc:
            print(f"  {exc}", file=sys.stderr)


def init(args: argparse.Namespace) -> int:
    import yaml

    from components.config import ConfigError, parse_stack_config

    path = stack_file(args.stack, args.dir)
    created = not path.exists()
    if created:
        template = stack_file(args.template, args.dir)
        text = template.read_text().replace(f"Stack: {args.template}", f"Stack: {args.stack}")
        text = re.sub(r"\A(#.*\n)+", f"# {args.stack}: created by make init from Pulumi.{args.template}.yaml.\n",
                      text)
    else:
        text = path.read_text()
    config = (yaml.safe_load(text) or {}).get("config") or {}
    interactive = sys.stdin.isatty() and not args.no_input

    values: dict[str, object] = {}
    todo = [(REGION, args.region, check_region, "AWS region", config.get(REGION)),
            (REPO, args.repo, check_repo, "Git repository with your DAGs (https://, ssh:// or git@host:path)",
             None if config.get(REPO) == PLACEHOLDER_REPO else config.get(REPO)),
            (CIDRS, args.cidrs, check_cidrs,
             "CIDRs allowed on the public API endpoint (your CI runners' / VPN egress, comma-separated; "
             "'private' for none)",
             None if placeholders({CIDRS: config.get(CIDRS) or []}) else
             (",".join(config.get(CIDRS) or []) or ("private" if CIDRS in config else None)))]
    missing = []
    for key, given, check, prompt, current in todo:
        if given is not None:
            values[key] = check(given)
        elif interactive:
            values[key] = ask(prompt, current, check)
        elif current is None:
            missing.append(key)
    if missing:
        flags = {REGION: "REGION=us-east-1", REPO: "REPO=<git url>", CIDRS: "CIDRS=<cidr,...>|private"}
        raise StackError(f"Pulumi.{args.stack}.yaml needs {', '.join(missing)}; run "
                         f"make init STACK={args.stack} {' '.join(flags[k] for k in missing)}")

    lines = text.splitlines(keepends=True)
    for key, value in values.items():
        lines = set_value(lines, key, value)
    region = values.get(REGION)
    if region and region != config.get(REGION):
        count = max(2, len(config.get(AZS) or []))
        lines = set_value(lines, AZS, [f"{region}{z}" for z in "abcd"[:count]])
    new_text = "".join(lines)

    # Parse it as `pulumi up` would (zones and instance types are checked there,
    # against the region).
    raw = {k: v if isinstance(v, str) else json.dumps(v)
           for k, v in ((yaml.safe_load(new_text) or {}).get("config") or {}).items()}
    later = []  # secrets are set with the CLI, never written here
    try:
        parse_stack_config(raw, stack=args.stack)
    except ConfigError as exc:
        others = [e for e in exc.errors if e.key not in SECRET_KEYS]
        if others:
            raise StackError(f"the stack would not deploy: {ConfigError.of(others, args.stack)}") from None
        later = sorted({e.key for e in exc.errors})
    path.write_text(new_text)
    print(f"{'created' if created else 'updated'} {path.name}: "
          + ", ".join(f"{k} = {v}" for k, v in values.items()))
    if region and region != config.get(REGION):
        print(f"  {AZS} set to {region}a.. ; pulumi preview checks them against the region's zones")
    for key in later:
        value = "< deploy-key-file" if key.endswith("sshPrivateKey") else "<token>"
        print(f"then set the secret: pulumi config set --secret {key} --stack {args.stack} {value}")
    print(f"next: make up STACK={args.stack}")
    return 0


def check(args: argparse.Namespace) -> int:
    import yaml

    path = stack_file(args.stack, args.dir)
    if not path.exists():
        raise StackError(f"no stack file {path.name}; create it with: make init STACK={args.stack}")
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    found = placeholders(config)
    for message in found:
        init_sets = not message.startswith(f"{PROJECT}:ui.")  # init asks for the rest
        print(f"error: {path.name} still has a placeholder: {message}"
              + (f"; run make init STACK={args.stack}" if init_sets else ""), file=sys.stderr)
    return 1 if found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    i = sub.add_parser("init", help="create or update Pulumi.<stack>.yaml")
    i.add_argument("stack")
    i.add_argument("--region")
    i.add_argument("--repo")
    i.add_argument("--cidrs")
    i.add_argument("--template", default="dev", help="stack file to start from (dev or prod)")
    i.add_argument("--no-input", action="store_true", help="never prompt")
    c = sub.add_parser("check", help="refuse placeholders left in Pulumi.<stack>.yaml")
    c.add_argument("stack")
    for command in (i, c):
        command.add_argument("--dir", type=Path, default=ROOT, help="where the stack files are")
    args = parser.parse_args(argv)
    try:
        return init(args) if args.command == "init" else check(args)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (EOFError, KeyboardInterrupt):
        print("\nerror: stopped; nothing was written", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
