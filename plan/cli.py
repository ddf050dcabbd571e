"""Offline plan and diff of a stack, with no CLI, plugins, network or credentials.

    python -m plan plan --stack dev [--json FILE]
    python -m plan diff --stack dev --base origin/main
    python -m plan cost --stack dev [--json]
    python -m plan cost-readme [--check]

Both evaluate the real program under the recording engine (plan/engine.py,
the same one the tests use). This is the desired state computed offline: it is
never compared with what runs in the cloud.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi

from components.config import ConfigError
from plan import cost
from plan.engine import PLACEHOLDER_CA_ORG, ROOT, Recording, Resource, Secret, run_program, stack_config, walk

BANNER = ("Offline plan: the desired state computed from the program and the stack config, "
          "under mocks. It is NOT compared with what runs in AWS; `pulumi preview` does that.")
# Key properties shown per resource type (others: --all).
KEY_PROPS = {
    "eks:index:Cluster": ["name", "version", "endpointPublicAccess", "publicAccessCidrs"],
    "eks:index:ManagedNodeGroup": ["instanceTypes", "capacityType", "scalingConfig", "labels", "taints"],
    "aws:rds/instance:Instance": ["instanceClass", "engineVersion", "multiAz", "allocatedStorage",
                                  "maxAllocatedStorage", "backupRetentionPeriod", "deletionProtection",
                                  "caCertIdentifier"],
    "kubernetes:apps/v1:StatefulSet": ["spec.replicas"],
    "kubernetes:core/v1:PersistentVolumeClaim": ["spec.storageClassName", "spec.resources.requests.storage"],
    "awsx:ec2:Vpc": ["cidrBlock", "availabilityZoneNames", "natGateways"],
    "kubernetes:helm.sh/v3:Release": ["chart", "version", "values.dags.gitSync.repo",
                                      "values.dags.gitSync.ref", "values.images.airflow.tag",
                                      "values.scheduler.replicas"],
    "aws:iam/rolePolicy:RolePolicy": ["policy"],
    "aws:s3/bucket:Bucket": ["forceDestroy"],
}


def mask(value: Any) -> Any:
    if isinstance(value, Secret):
        return "[secret]"
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def flatten(resource_inputs: dict[str, Any]) -> dict[str, Any]:
    """path -> masked leaf; IAM policies become one line per action and resource."""
    flat: dict[str, Any] = {}
    for path, value, secret in walk(resource_inputs):
        if secret:
            flat[path] = "[secret]"
        elif path.endswith(("policy", "assumeRolePolicy")) and isinstance(value, str) and value.startswith("{"):
            for i, st in enumerate(json.loads(value).get("Statement", [])):
                for action in st.get("Action", []):
                    for res in st.get("Resource", ["-"]):
                        flat[f"{path}[{i}] {st.get('Effect', 'Allow')} {action}"] = res
        else:
            flat[path] = value
    return flat


def ordered(resources: list[Resource]) -> list[Resource]:
    """Resources in a fixed order. Registration order depends on how the program's
    async work interleaves, so it can change between two runs of the same code."""
    return sorted(resources, key=lambda r: (r.name, r.type, r.urn))


def placeholder_notes(rec: Recording) -> list[str]:
    """What in the plan stands in for data only AWS has: the RDS CA certificate
    pgbouncer verifies the database with (plan/engine.py makes it offline)."""
    notes = []
    for r in ordered(rec.of_type("kubernetes:helm.sh/v3:Release")):
        ca = ((r.plain_inputs.get("values") or {}).get("pgbouncer") or {}).get("ssl", {}).get("ca")
        if isinstance(ca, str) and _is_placeholder(ca):
            notes.append(f"{r.name}: values.pgbouncer.ssl.ca is a PLACEHOLDER certificate made offline "
                         f"({_subject(ca)}); pulumi up uses the RDS CA of database.caCertIdentifier "
                         "from AWS's trust store, checked against the RDS API's thumbprint")
    return notes


def _subject(pem: str) -> str:
    from cryptography import x509
    return x509.load_pem_x509_certificate(pem.encode()).subject.rfc4514_string()


def _is_placeholder(pem: str) -> bool:
    from cryptography import x509
    try:
        subject = x509.load_pem_x509_certificate(pem.encode()).subject
    except ValueError:
        return False
    return [a.value for a in subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)] == [PLACEHOLDER_CA_ORG]


def to_document(rec: Recording, stack: str) -> dict[str, Any]:
    return {
        "note": BANNER,
        "placeholders": placeholder_notes(rec),
        "stack": stack,
        "resources": [{"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent,
                       "protect": r.protect, "inputs": mask(r.inputs)} for r in ordered(rec.resources)],
        "exports": mask(dict(sorted(rec.exports.items()))),
    }


def print_tree(rec: Recording, stack: str, show_all: bool) -> None:
    print(BANNER)
    for note in placeholder_notes(rec):
        print(f"note: {note}")
    print(f"stack {stack}: {len(rec.resources)} resources")
    children: dict[str, list[Resource]] = {}
    for r in ordered(rec.resources):
        children.setdefault(r.parent, []).append(r)
    urns = {r.urn for r in rec.resources}

    def show(r: Resource, depth: int) -> None:
        pad = "  " * depth
        print(f"{pad}+ {r.type} {r.name}" + (" [protected]" if r.protect else ""))
        flat = flatten(r.inputs)
        keys = KEY_PROPS.get(r.type, [])
        for path, value in sorted(flat.items()):
            if show_all or any(path == k or path.startswith(k + ".") or path.startswith(k + "[")
                               for k in keys):
                print(f"{pad}    {path}: {json.dumps(value) if not isinstance(value, str) else value}")
        for c in children.get(r.urn, []):
            show(c, depth + 1)

    for r in ordered([r for r in rec.resources if r.parent not in urns]):
        show(r, 0)
    print("exports:")
    for k, v in sorted(mask(rec.exports).items()):
        print(f"    {k}: {v}")


def diff(old: Recording, new: Recording) -> list[str]:
    """Adds, removes and property-level modifications, keyed by type and name."""
    def index(rec: Recording) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r.type, r.name): flatten(r.inputs) for r in rec.resources}
    a, b = index(old), index(new)
    lines = []
    for key in sorted(b.keys() - a.keys()):
        lines.append(f"+ add    {key[0]} {key[1]}")
    for key in sorted(a.keys() - b.keys()):
        lines.append(f"- remove {key[0]} {key[1]}")
    for key in sorted(a.keys() & b.keys()):
        before, after = a[key], b[key]
        for path in sorted(before.keys() | after.keys()):
            if before.get(path) != after.get(path):
                if path not in before:
                    lines.append(f"~ {key[1]}: gains {path} = {after[path]}")
                elif path not in after:
                    lines.append(f"~ {key[1]}: loses {path} = {before[path]}")
                else:
                    lines.append(f"~ {key[1]}: {path} {before[path]} -> {after[path]}")
    return lines


class PlanError(Exception):
    """A problem the user can fix, printed as one line (no traceback)."""


def git(*args: str, root: Path = ROOT, what: str | None = None) -> str:
    """Runs git; a failure is a PlanError carrying git's own message, after
    ``what`` failed (default: the git command)."""
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise PlanError("git is not installed; plan-diff needs it (install git)") from None
    if done.returncode != 0:
        message = " ".join(done.stderr.strip().splitlines()) or f"exit code {done.returncode}"
        raise PlanError(f"{what or 'git ' + ' '.join(args)}: {message}")
    return done.stdout


def read_stack(stack: str, root: Path = ROOT, config_file: str | None = None) -> dict[str, Any]:
    """The stack's config, or a PlanError naming the stacks that exist."""
    try:
        if config_file:
            return stack_config(stack, root=root, path=Path(config_file))
        return stack_config(stack, root=root)
    except FileNotFoundError:
        if config_file:
            raise PlanError(f"no such config file: {config_file}") from None
        stacks = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml"))
        raise PlanError(f"no stack file Pulumi.{stack}.yaml; stacks here: {', '.join(stacks) or 'none'}; "
                        f"create it with: make init STACK={stack}") from None


def evaluate_revision(rev: str, stack: str) -> Recording | None:
    """Evaluates the program as it is at a git revision (in a temporary worktree).
    None when the stack has no file at that revision (everything is new)."""
    with tempfile.TemporaryDirectory() as tmp:
        git("worktree", "add", "--detach", tmp, rev, what=f"cannot check out BASE={rev}")
        try:
            if not (Path(tmp) / f"Pulumi.{stack}.yaml").exists():
                return None
            saved = {k: v for k, v in sys.modules.items() if k == "components" or k.startswith("components.")}
            for k in saved:
                del sys.modules[k]
            sys.path.insert(0, tmp)
            try:
                return run_program(stack_config(stack, root=Path(tmp)), stack=stack,
                                   program=Path(tmp) / "__main__.py")
            except (pulumi.RunError, ValueError) as exc:
                # The base's own ConfigError class (its components.config, not ours).
                raise PlanError(f"the program at {rev} does not evaluate: {exc}") from None
            finally:
                sys.path.remove(tmp)
                for k in [k for k in sys.modules if k == "components" or k.startswith("components.")]:
                    del sys.modules[k]
                sys.modules.update(saved)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", tmp],
                           check=False, capture_output=True)


def _plan(args: argparse.Namespace) -> int:
    rec = run_program(read_stack(args.stack, config_file=args.config_file), stack=args.stack)
    if args.json:
        text = json.dumps(to_document(rec, args.stack), indent=2, sort_keys=True, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text)
    else:
        print_tree(rec, args.stack, args.all)
    return 0


def _diff(args: argparse.Namespace) -> int:
    head_config = read_stack(args.stack)
    dirty = [line for line in git("status", "--porcelain").splitlines() if line.strip()]
    base = evaluate_revision(args.base, args.stack)
    head = run_program(head_config, stack=args.stack)
    if not args.cost_only:
        print(BANNER)
        print(f"stack {args.stack}: {args.base} -> working tree")
        if dirty:
            shown = ", ".join(line.strip() for line in dirty[:5]) + (", ..." if len(dirty) > 5 else "")
            print(f"note: the working tree has {len(dirty)} uncommitted changes, included above "
                  f"(git status --porcelain: {shown})")
        if base is None:
            print(f"Pulumi.{args.stack}.yaml does not exist at {args.base}: every resource is new")
    base = base or Recording(resources=[], exports={})
    if not args.cost_only:
        lines = diff(base, head)
        print("\n".join(lines) if lines else "no changes")
    # The PR's monthly cost, last: what a reviewer reads in the comment.
    print(f"monthly cost, {args.stack} ({args.base} -> working tree; fixed lines, prices in plan/prices.yaml):")
    print("\n".join(cost.cost_delta(cost.estimate(base, args.stack), cost.estimate(head, args.stack))))
    return 0


def _cost(args: argparse.Namespace) -> int:
    est = cost.estimate(run_program(read_stack(args.stack), stack=args.stack), args.stack)
    print(json.dumps(est.to_json(), indent=2, sort_keys=True) if args.json else cost.format_estimate(est))
    return 0


def _cost_readme(args: argparse.Namespace) -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = replace_cost_section(text, readme_cost_section())
    if args.check:
        if new != text:
            print("README.md's cost tables are stale: run `make cost-readme`", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="plan", description="Offline plan and diff of a stack.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan")
    p.add_argument("--stack", default="dev")
    p.add_argument("--json", metavar="FILE", help="write the plan as JSON ('-' for stdout)")
    p.add_argument("--all", action="store_true", help="show every property")
    p.add_argument("--config-file", metavar="FILE", help="read the stack config from FILE, not Pulumi.<stack>.yaml")
    d = sub.add_parser("diff")
    d.add_argument("--stack", default="dev")
    d.add_argument("--base", default="origin/main")
    d.add_argument("--cost-only", action="store_true", help="print only the monthly cost delta")
    c = sub.add_parser("cost", help="itemised monthly cost estimate of a stack")
    c.add_argument("--stack", default="dev")
    c.add_argument("--json", action="store_true", help="print the estimate as JSON")
    r = sub.add_parser("cost-readme", help="regenerate the README's cost tables")
    r.add_argument("--check", action="store_true", help="exit 1 if the README differs")
    args = parser.parse_args(argv)
    try:
        if args.command == "cost":
            return _cost(args)
        if args.command == "cost-readme":
            return _cost_readme(args)
        return _plan(args) if args.command == "plan" else _diff(args)
    except ConfigError as exc:
        # Same text as `pulumi up` prints: every invalid value, one line each.
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


STACKS = ("dev", "prod")


def readme_cost_section(program: Callable[[str], Recording] | None = None) -> str:
    """The README's cost tables, one per stack, generated from the estimate
    (``program`` evaluates a stack; tests pass their cached recordings)."""
    parts = [cost.README_MARKERS[0]]
    for stack in STACKS:
        rec = program(stack) if program else run_program(stack_config(stack), stack=stack)
        est = cost.estimate(rec, stack)
        extra = cost.allowances(rec) if stack == "prod" else []
        parts += ["", f"**{stack}** (`make cost STACK={stack}`):", "", cost.markdown_table(est, extra)]
    parts += ["", cost.README_MARKERS[1]]
    return "\n".join(parts)


def replace_cost_section(readme: str, section: str) -> str:
    start, end = cost.README_MARKERS
    head, found, rest = readme.partition(start)
    if not found or end not in rest:
        raise SystemExit(f"README.md has no {start} ... {end} section")
    return head + section + rest.split(end, 1)[1]


if __name__ == "__main__":
    sys.exit(main())
