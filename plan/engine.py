"""A recording engine: runs the real Pulumi program under ``pulumi.runtime`` mocks.

No CLI, no plugins, no network, no credentials. Every resource registration
is recorded with its type, name, parent, dependencies and inputs (secrets
flagged), and every invoke is answered with a deterministic, realistic
value: an IAM policy document is rendered to JSON, a bucket gets a name, a
cluster gets an OIDC issuer. The tests (``tests/conftest.py``) and the offline
plan (``plan/cli.py``) both use this one implementation.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import json
import re
import runpy
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.config import read_yaml

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
MOCK_SECRET_PREFIX = "mocksecret"
# What the mocked Route 53 zone and ALB lookups answer (the stack files use example.com).
MOCK_HOSTED_ZONE = "example.com"
MOCK_ALB_ZONE_ID = "Z35SXDOTRQ7X7K"
REMOTE_PACKAGES = ("awsx", "eks")
_SECRET_SIG = "4dabf18193072939515e22adb298388d"
# The mocked region offers zones a-f (us-east-1 has a-f) and the instance types
# that look real: a known size of a family. `us-east-1z` and `t4g.medum` are not.
MOCK_ZONE_LETTERS = "abcdef"
MOCK_INSTANCE_TYPE = re.compile(
    r"[a-z]+[0-9][a-z0-9-]*\.(nano|micro|small|medium|large|xlarge|[0-9]+xlarge|metal(-[0-9]+xl)?)")
# What the offline plan uses for a `secure:` value of a stack file (it cannot
# decrypt): shaped like a deploy key, so that the key's shape check passes.
# (Split so that secret scanners do not take this placeholder for a key.)
_KEY = "PRIVATE" + " KEY-----"
OFFLINE_SECRET = (f"-----BEGIN OFFLINE PLAN {_KEY}\n"
                  "encrypted in the stack file; not decrypted offline\n"
                  f"-----END OFFLINE PLAN {_KEY}")
_SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"
# The RDS CA bundle the program reads when it runs here (it would download
# AWS's otherwise): placeholder CAs made at runtime, one per identifier, whose
# thumbprints the mocked aws.rds.getCertificate answers. They are built from
# fixed Ed25519 seeds, so every run gives the same bytes (a deterministic plan).
CA_BUNDLE_KEY = "airflow-eks:database.caBundleFile"
PLACEHOLDER_CA_ORG = "OFFLINE PLAN PLACEHOLDER, not an RDS CA"


@dataclass(frozen=True)
class Secret:
    """A value that the program marked secret. Plans print it masked."""

    value: Any

    def __repr__(self) -> str:
        return "[secret]"


@dataclass
class Resource:
    """One registered resource, as the engine saw it."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    dependencies: list[str]
    inputs: dict[str, Any]
    """Inputs with secret values wrapped in :class:`Secret`."""
    outputs: dict[str, Any] = field(default_factory=dict)
    protect: bool = False
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    """Input name -> URNs of the resources whose outputs that input takes."""
    aliases: list[dict[str, Any]] = field(default_factory=list)
    """The aliases the program gave it (``{"spec": {"name": ...}}`` or ``{"urn": ...}``)."""

    @property
    def plain_inputs(self) -> dict[str, Any]:
        """Inputs with secrets unwrapped."""
        return unwrap(self.inputs)


@dataclass
class Recording:
    """What one evaluation of the program registered and exported."""

    resources: list[Resource]
    exports: dict[str, Any]
    """Stack exports, secrets wrapped in :class:`Secret`."""
    error: BaseException | None = None
    """The exception the program stopped with, when the caller asked to catch it."""

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name_suffix: str = "") -> Resource:
        found = [r for r in self.of_type(type_) if r.name.endswith(name_suffix)]
        if len(found) != 1:
            raise LookupError(f"{len(found)} resources of {type_} ending {name_suffix!r}")
        return found[0]

    def by_urn(self) -> dict[str, Resource]:
        return {r.urn: r for r in self.resources}

    def ancestors_and_deps(self, resource: Resource) -> set[str]:
        """URNs this resource waits for: its dependencies, transitively."""
        index, seen, todo = self.by_urn(), set(), list(resource.dependencies)
        while todo:
            urn = todo.pop()
            if urn in seen:
                continue
            seen.add(urn)
            dep = index.get(urn)
            if dep is not None:
                todo.extend(dep.dependencies)
                # Waiting for a component means waiting for all its children.
                todo.extend(r.urn for r in self.resources if r.parent == urn)
        return seen


def unwrap(value: Any) -> Any:
    if isinstance(value, Secret):
        return unwrap(value.value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any, bool]]:
    """Yields (path, leaf value, is_secret) for every leaf."""
    def go(v: Any, p: str, secret: bool) -> Iterator[tuple[str, Any, bool]]:
        if isinstance(v, Secret):
            yield from go(v.value, p, True)
        elif isinstance(v, dict):
            for k, item in v.items():
                yield from go(item, f"{p}.{k}" if p else str(k), secret)
        elif isinstance(v, list):
            for i, item in enumerate(v):
                yield from go(item, f"{p}[{i}]", secret)
        else:
            yield p, v, secret
    yield from go(value, path, False)


def _from_struct(value: Any) -> Any:
    """Protobuf-JSON of serialized inputs to Python, wrapping secrets."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIG) == _SECRET_VALUE:
            return Secret(_from_struct(value.get("value")))
        if _SECRET_SIG in value:  # a resource reference or another special value
            if "urn" in value:
                return {"$ref": value["urn"]}
            return {k: _from_struct(v) for k, v in value.items() if k != _SECRET_SIG}
        return {k: _from_struct(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_struct(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _digest(*parts: str, n: int = 8) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


# ----------------------------------------------------------- mock behaviour


def render_policy_document(args: Mapping[str, Any]) -> str:
    """aws:iam/getPolicyDocument rendered as AWS would read it."""
    statements = []
    for s in args.get("statements") or []:
        st: dict[str, Any] = {}
        if s.get("sid"):
            st["Sid"] = s["sid"]
        st["Effect"] = s.get("effect") or "Allow"
        for key, out in (("actions", "Action"), ("notActions", "NotAction"),
                         ("resources", "Resource"), ("notResources", "NotResource")):
            if s.get(key):
                st[out] = list(s[key])
        if s.get("principals"):
            principals: dict[str, list[str]] = {}
            for p in s["principals"]:
                principals.setdefault(p["type"], []).extend(p["identifiers"])
            st["Principal"] = "*" if principals == {"*": ["*"]} else principals
        if s.get("conditions"):
            cond: dict[str, dict[str, list[str]]] = {}
            for c in s["conditions"]:
                cond.setdefault(c["test"], {})[c["variable"]] = list(c["values"])
            st["Condition"] = cond
        statements.append(st)
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def mock_outputs(typ: str, name: str, inputs: Mapping[str, Any], region: str) -> dict[str, Any]:
    """Provider-computed outputs the program reads, deterministic per name."""
    arn_name = inputs.get("name") or name
    if typ == "awsx:ec2:Vpc":
        azs = inputs.get("availabilityZoneNames") or ["a", "b"]
        return {"vpcId": f"vpc-{_digest(name)}",
                "privateSubnetIds": [f"subnet-private-{i}" for i in range(len(azs))],
                "publicSubnetIds": [f"subnet-public-{i}" for i in range(len(azs))]}
    if typ == "eks:index:Cluster":
        issuer = f"oidc.eks.{region}.amazonaws.com/id/{_digest(name, n=32).upper()}"
        kubeconfig = {"apiVersion": "v1", "kind": "Config", "clusters": [{
            "name": inputs.get("name", name),
            "cluster": {"server": f"https://{_digest(name, n=32).upper()}.gr7.{region}.eks.amazonaws.com"}}]}
        return {"kubeconfigJson": json.dumps(kubeconfig),
                "oidcProviderArn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer}",
                "oidcProviderUrl": f"https://{issuer}",
                "oidcIssuer": issuer,
                "clusterSecurityGroupId": f"sg-cluster-{_digest(name)}"}
    if typ == "aws:iam/role:Role":
        return {"arn": f"arn:aws:iam::{ACCOUNT}:role/{name}-{_digest(name, n=7)}",
                "name": f"{name}-{_digest(name, n=7)}"}
    if typ == "aws:kms/key:Key":
        key_id = f"{_digest(name, n=8)}-0000-4000-8000-{_digest(name, 'k', n=12)}"
        return {"arn": f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}", "keyId": key_id}
    if typ == "aws:s3/bucket:Bucket":
        bucket = f"{name}-bucket-{_digest(name, n=7)}"
        return {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}
    if typ == "aws:rds/instance:Instance":
        address = f"{inputs.get('identifier', name)}.c{_digest(name, n=10)}.{region}.rds.amazonaws.com"
        port = int(inputs.get("port", 5432))
        return {"address": address, "port": port, "endpoint": f"{address}:{port}"}
    if typ == "random:index/randomPassword:RandomPassword":
        length = int(inputs.get("length", 32))
        return {"result": (MOCK_SECRET_PREFIX + _digest(name, n=64))[:length]}
    if typ == "random:index/randomBytes:RandomBytes":
        raw = hashlib.sha256(f"{MOCK_SECRET_PREFIX}/{name}".encode()).digest()
        return {"base64": base64.b64encode(raw).decode(), "hex": raw.hex()}
    if typ == "random:index/randomId:RandomId":
        raw = hashlib.sha256(f"randomid/{name}".encode()).digest()[:int(inputs.get("byteLength", 8))]
        return {"hex": raw.hex(), "b64Url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
                "dec": str(int.from_bytes(raw, "big"))}
    if typ == "aws:ec2/launchTemplate:LaunchTemplate":
        return {"latestVersion": 1, "arn": f"arn:aws:ec2:{region}:{ACCOUNT}:launch-template/lt-{_digest(name)}"}
    if typ == "aws:acm/certificate:Certificate":
        domain = inputs.get("domainName", name)
        return {"arn": f"arn:aws:acm:{region}:{ACCOUNT}:certificate/{_digest(name, n=8)}-0000-4000-8000-{_digest(name, 'c', n=12)}",
                "domainValidationOptions": [{
                    "domainName": domain, "resourceRecordType": "CNAME",
                    "resourceRecordName": f"_{_digest(domain, n=32)}.{domain}.",
                    "resourceRecordValue": f"_{_digest(domain, 'v', n=32)}.acm-validations.aws."}]}
    if typ == "aws:route53/record:Record":
        return {"fqdn": str(inputs.get("name", name)).rstrip(".")}
    if typ == "aws:ec2/networkInterface:NetworkInterface":
        return {"arn": f"arn:aws:ec2:{region}:{ACCOUNT}:network-interface/eni-{_digest(name, n=17)}"}
    if typ == "aws:sns/topic:Topic":
        return {"arn": f"arn:aws:sns:{region}:{ACCOUNT}:{arn_name}"}
    if typ == "aws:cloudwatch/logGroup:LogGroup":
        return {"arn": f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{arn_name}"}
    if typ == "aws:emrserverless/application:Application":
        # The shape IAM matches job runs against: .../applications/<id>/jobruns/<run>.
        return {"arn": f"arn:aws:emr-serverless:{region}:{ACCOUNT}:/applications/{name}-id"}
    if typ.startswith("aws:") and "arn" not in inputs:
        return {"arn": f"arn:aws:mock:{region}:{ACCOUNT}:{name}"}
    return {}


@functools.cache
def placeholder_ca(identifier: str, region: str) -> Any:
    """A self-signed CA certificate standing for RDS CA ``identifier`` of
    ``region``; the same bytes on every call (fixed key seed, serial and dates;
    Ed25519 signatures are deterministic)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.x509.oid import NameOID
    seed = hashlib.sha256(f"airflow-eks offline plan {identifier} {region}".encode()).digest()
    key = Ed25519PrivateKey.from_private_bytes(seed)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, PLACEHOLDER_CA_ORG),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"placeholder {identifier} {region}")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(int.from_bytes(seed[:8], "big") | 1)
            .not_valid_before(datetime.datetime(2021, 1, 1, tzinfo=datetime.UTC))
            .not_valid_after(datetime.datetime(2121, 1, 1, tzinfo=datetime.UTC))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, None))


def placeholder_ca_bundle(region: str) -> Path:
    """A file of the placeholder CAs of every RDS CA identifier of ``region``."""
    import tempfile

    from cryptography.hazmat.primitives.serialization import Encoding

    from components.config import RDS_CA_IDENTIFIERS
    pem = b"".join(placeholder_ca(i, region).public_bytes(Encoding.PEM) for i in RDS_CA_IDENTIFIERS)
    path = Path(tempfile.gettempdir()) / f"airflow-eks-offline-plan-{region}-rds-ca-bundle.pem"
    if not path.is_file() or path.read_bytes() != pem:
        tmp = path.with_name(f"{path.name}.{_digest(str(id(pem)))}")
        tmp.write_bytes(pem)
        tmp.replace(path)
    return path


def mock_call(token: str, args: Mapping[str, Any], region: str) -> dict[str, Any]:
    if token == "aws:rds/getCertificate:getCertificate":
        from components.rds_ca import thumbprint
        identifier = str(args.get("id") or "rds-ca-rsa2048-g1")
        cert = placeholder_ca(identifier, str(args.get("region") or region))
        return {"id": identifier, "arn": f"arn:aws:rds:{region}::cert:{identifier}", "certificateType": "CA",
                "customerOverride": False, "customerOverrideValidTill": "",
                "thumbprint": thumbprint(cert), "validFrom": "2021-01-01T00:00:00Z",
                "validTill": "2121-01-01T00:00:00Z", "region": region}
    if token == "aws:iam/getPolicyDocument:getPolicyDocument":
        return {"json": render_policy_document(args), "id": "policy", "minifiedJson": ""}
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/mock", "userId": "MOCK",
                "id": ACCOUNT}
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws",
                "reverseDnsPrefix": "com.amazonaws"}
    if token == "aws:ec2/getRouteTable:getRouteTable":
        # The route table awsx gives a subnet (strategy None: no default route).
        subnet = str(args.get("subnetId", ""))
        table = f"rtb-{_digest(subnet)}"
        return {"routeTableId": table, "id": table, "subnetId": subnet, "routes": [],
                "associations": [{"subnetId": subnet, "routeTableId": table, "main": False}]}
    if token == "aws:index/getRegion:getRegion":
        return {"name": region, "region": region, "id": region}
    if token == "aws:route53/getZone:getZone":
        # Every hosted zone answers as MOCK_HOSTED_ZONE (the stack files' example domain).
        zone_id = args.get("zoneId") or "Z0MOCK"
        return {"zoneId": zone_id, "name": MOCK_HOSTED_ZONE, "id": zone_id, "privateZone": False,
                "arn": f"arn:aws:route53:::hostedzone/{zone_id}", "nameServers": []}
    if token == "aws:elb/getServiceAccount:getServiceAccount":
        # us-east-1's Elastic Load Balancing account (the ALB access-log writer).
        return {"arn": "arn:aws:iam::127311923021:root", "id": "127311923021", "region": region}
    if token == "aws:lb/getLoadBalancer:getLoadBalancer":
        # The ALB the Load Balancer Controller created (found by name).
        lb = args.get("name") or "alb"
        return {"name": lb, "id": lb, "zoneId": MOCK_ALB_ZONE_ID, "arnSuffix": f"app/{lb}/{_digest(lb, n=16)}",
                "dnsName": f"internal-{lb}-{_digest(lb)}.{region}.elb.amazonaws.com",
                "arn": f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:loadbalancer/app/{lb}/{_digest(lb, n=16)}"}
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        names = [f"{args.get('region') or region}{z}" for z in MOCK_ZONE_LETTERS]
        return {"names": names, "zoneIds": [f"use1-az{i + 1}" for i in range(len(names))],
                "groupNames": names, "id": region}
    if token == "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
        asked = [v for f in args.get("filters") or [] if f.get("name") == "instance-type"
                 for v in f.get("values") or []]
        offered = sorted(t for t in asked if MOCK_INSTANCE_TYPE.fullmatch(t))
        return {"instanceTypes": offered, "locations": [region] * len(offered),
                "locationTypes": ["region"] * len(offered), "id": region}
    raise NotImplementedError(f"the recording engine has no answer for invoke {token}")


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, region: str):
        self.region = region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        computed = mock_outputs(args.typ, args.name, args.inputs, self.region)
        # A remote component's outputs are not its inputs (awsx's Vpc takes a
        # natGateways config and returns NatGateway resources): echo nothing.
        remote = args.typ.split(":", 1)[0] in REMOTE_PACKAGES
        outputs = computed if remote else {**args.inputs, **computed}
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        return mock_call(args.token, args.args, self.region), []


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: _Mocks):
        super().__init__(mocks)
        self.records: list[Resource] = []

    # Without resource references the SDK sends a referenced resource as its
    # URN/ID; deserializing a reference here would start a read of that
    # resource on the monitor thread's event loop, which the mock engine
    # cannot await.
    def SupportsFeature(self, request):  # noqa: N802  # pyright: ignore[reportIncompatibleMethodOverride]
        if request.id == "resourceReferences":
            return type("SupportsFeatureResponse", (object,), {"hasSupport": False})
        return super().SupportsFeature(request)

    def GetDeploymentInfo(self, request):  # noqa: N802
        info = super().GetDeploymentInfo(request)
        features = [f for f in info.supportedFeatures
                    if f != resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES]
        return resource_pb2.DeploymentInfo(supportedFeatures=features)

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = _from_struct(json_format.MessageToDict(request.object))
            self.records.append(Resource(
                urn=response.urn, type=request.type, name=request.name, parent=request.parent,
                custom=bool(request.custom), dependencies=list(request.dependencies),
                inputs=inputs,
                outputs=_from_struct(json_format.MessageToDict(response.object)),
                protect=bool(request.protect),
                property_dependencies={key: list(deps.urns)
                                       for key, deps in request.propertyDependencies.items()},
                aliases=[json_format.MessageToDict(a) for a in request.aliases],
            ))
        return response


class StackSettings(dict[str, Any]):
    """A stack's raw config (full keys to values, as the CLI hands them to the
    program) and which of its keys are secrets (``secret_keys``)."""

    secret_keys: tuple[str, ...] = ()


def stack_config(stack: str, overrides: Mapping[str, Any] | None = None,
                 root: Path = ROOT, path: Path | None = None) -> StackSettings:
    """Config of Pulumi.<stack>.yaml as the CLI hands it to the program:
    full keys, JSON strings for lists and maps, overrides applied.

    A ``secure:`` value of the file, or an override wrapped in :class:`Secret`,
    is a secret key (the offline plan cannot decrypt: it gets OFFLINE_SECRET).
    ``path`` reads another file instead. Raises FileNotFoundError when there is none."""
    doc = read_yaml(path or root / f"Pulumi.{stack}.yaml") or {}
    config = dict(doc.get("config") or {})
    config.update(overrides or {})
    settings, secret = StackSettings(), []
    for key, value in config.items():
        if isinstance(value, Secret):
            secret.append(key)
            value = value.value
        elif isinstance(value, dict) and set(value) == {"secure"}:
            secret.append(key)
            value = OFFLINE_SECRET
        settings[key] = value if isinstance(value, str) else json.dumps(value)
    settings.secret_keys = tuple(sorted(secret))
    return settings


async def _resolve_exports(outputs: Mapping[str, Any]) -> dict[str, Any]:
    resolved = {}
    for key, value in outputs.items():
        out = pulumi.Output.from_input(value)
        plain, secret = await out.future(), await out.is_secret()
        resolved[key] = Secret(plain) if secret else plain
    return resolved


def evaluate(body: Callable[[], Any], config: Mapping[str, Any], *, stack: str,
             project: str = "airflow-eks", secret_keys: tuple[str, ...] = (),
             catch: type[BaseException] | tuple[type[BaseException], ...] = ()) -> Recording:
    """Runs ``body`` (a program, or code that builds components) under the
    recording engine, drains it, and returns what was registered and exported.

    An exception of a ``catch`` type is returned in ``Recording.error`` with
    whatever was registered before it; any other is raised."""
    region = str(config.get("aws:region", "us-east-1"))
    # Keys given here, and those a stack file or a Secret override marks (StackSettings).
    secret_keys = tuple(sorted({*secret_keys, *getattr(config, "secret_keys", ())}))
    # Never the network: the RDS CA comes from the placeholder bundle, whose
    # thumbprints the mocks answer (a stack's own caBundleFile would not match
    # them). The in-cluster database has no CA to fetch.
    if config.get("airflow-eks:database.engine") != "inCluster":
        config = {**config, CA_BUNDLE_KEY: str(placeholder_ca_bundle(region))}
    mocks = _Mocks(region)
    monitor = _RecordingMonitor(mocks)
    pulumi_settings.reset_options()
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(dict(config), list(secret_keys))
    # Same reset as pulumi.runtime.test() (attributes set by the SDK at runtime).
    pulumi_settings.SETTINGS.rpc_manager.clear()  # pyright: ignore[reportAttributeAccessIssue]
    pulumi_settings.SETTINGS.outputs.clear()  # pyright: ignore[reportAttributeAccessIssue]

    exports: dict[str, Any] = {}

    def run() -> None:
        body()
        root_stack = pulumi_settings.get_root_resource()
        outputs = getattr(root_stack, "outputs", {}) or {}
        exports.update(_sync_await(_resolve_exports(outputs)))

    try:
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
    error: BaseException | None = None
    try:
        _sync_await(run_pulumi_func(run))
    except catch as exc:  # type: ignore[misc]
        error = exc
    return Recording(resources=monitor.records, exports=exports, error=error)


def run_program(config: Mapping[str, Any], *, stack: str, program: Path = ROOT / "__main__.py",
                **kwargs: Any) -> Recording:
    """Evaluates the Pulumi program once under the recording engine."""
    program_dir = str(program.resolve().parent)
    if program_dir not in sys.path:
        sys.path.insert(0, program_dir)
    return evaluate(lambda: runpy.run_path(str(program), run_name="__main__"), config,
                    stack=stack, **kwargs)
