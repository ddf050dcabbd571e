"""Monthly cost of a stack, itemised, from the resource graph the recording engine saw.

    python -m plan cost --stack dev [--json]

The estimate reads the same recording as ``make plan`` (plan/engine.py): one
rule per resource type turns a resource's inputs into priced lines, with the
prices of plan/prices.yaml (one table, us-east-1, each section with its source
and date). pulumi-eks and awsx are remote components: their own inputs are
what a rule sees (the VPC's ``natGateways`` strategy, a managed node group's
types, capacity type, floor and launch template).

Lines are ``fixed`` (paid while the stack idles: in the total), ``per-use``
(priced per unit; shown at the volumes assumed in prices.yaml, never in the
total) or ``unknown``: a type, instance type or class with no price, or a
resource type with no rule. Unknown is never counted as zero; it is listed.

Add a rule for a new resource type with ``@rule("<type token>")``; types that
cost nothing by themselves are listed in ``FREE_TYPES``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from components.config import read_yaml
from plan.engine import REMOTE_PACKAGES, Recording, Resource

PRICES_FILE = Path(__file__).resolve().parent / "prices.yaml"
README_MARKERS = ("<!-- cost-table:start (generated: make cost-readme) -->", "<!-- cost-table:end -->")


@dataclass(frozen=True)
class Line:
    """One priced line of an estimate."""

    label: str
    """What is paid for, e.g. ``EKS control plane``."""
    resource: str
    """Name of the resource the line comes from."""
    kind: str
    """``fixed``, ``per-use`` or ``unknown``."""
    unit_price: float | None
    """USD per unit; None when unknown."""
    unit: str
    """Unit of ``unit_price``, e.g. ``hour``, ``GB-month``."""
    quantity: float
    """Units per month (fixed), or the assumed monthly volume (per-use)."""
    detail: str
    """How the quantity was read from the resource."""

    @property
    def monthly(self) -> float | None:
        return None if self.unit_price is None else round(self.unit_price * self.quantity, 2)


@dataclass(frozen=True)
class Estimate:
    """All lines of one stack."""

    stack: str
    lines: tuple[Line, ...]

    def of_kind(self, kind: str) -> list[Line]:
        return [line for line in self.lines if line.kind == kind]

    @property
    def fixed_total(self) -> float:
        return round(sum(line.monthly or 0.0 for line in self.of_kind("fixed")), 2)

    @property
    def per_use_total(self) -> float:
        return round(sum(line.monthly or 0.0 for line in self.of_kind("per-use")), 2)

    def to_json(self) -> dict[str, Any]:
        prices = load_prices()
        return {"stack": self.stack, "region": prices["region"], "currency": prices["currency"],
                "hoursPerMonth": prices["hours_per_month"], "pricesFile": "plan/prices.yaml",
                "fixedTotal": self.fixed_total, "perUseAtAssumedVolumes": self.per_use_total,
                "unknown": len(self.of_kind("unknown")),
                "lines": [{**asdict(line), "monthly": line.monthly} for line in self.lines]}


@cache
def load_prices(path: Path = PRICES_FILE) -> dict[str, Any]:
    return read_yaml(path)


# ------------------------------------------------------------------ rules

Rule = Callable[[Resource, "Context"], Iterable[Line]]
RULES: dict[str, Rule] = {}

# Types that cost nothing by themselves (their cost, if any, is priced where it
# arises: flow logs on their log group, an ENI's public IP on its owner).
FREE_TYPES = re.compile(r"^(" + "|".join([
    r"aws:iam/.*", r"aws:ec2/(securityGroup|securityGroupRule|defaultSecurityGroup|route|routeTable"
    r"|routeTableAssociation|networkInterface|launchTemplate|flowLog|subnet|internetGateway):.*",
    r"aws:vpc/securityGroup(Ingress|Egress)Rule:.*", r"aws:rds/(subnetGroup|parameterGroup):.*",
    r"aws:s3/bucket(PublicAccessBlock|Policy|Versioning|ServerSideEncryptionConfiguration"
    r"|LifecycleConfiguration|OwnershipControls|Notification)(V2)?:.*",
    r"aws:kms/alias:.*", r"aws:eks/(addon|accessEntry|accessPolicyAssociation|podIdentityAssociation):.*",
    r"aws:secretsmanager/(secretVersion|secretPolicy|secretRotation):.*",
    r"aws:sns/(topic|topicSubscription|topicPolicy):.*", r"aws:cloudwatch/(eventRule|eventTarget):.*",
    # Public ACM certificates are free; a record in an existing zone costs per
    # query (alias queries to AWS resources are free): nothing fixed.
    r"aws:acm/(certificate|certificateValidation):.*", r"aws:route53/record:.*",
    r"random:.*", r"pulumi:providers:.*", r"tls:.*",
    # Kubernetes objects cost only through what AWS creates for them: those
    # kinds (Ingress, Service, a chart's values) have rules below.
    r"kubernetes:(?!networking.k8s.io/v1:Ingress|core/v1:(Service|PersistentVolumeClaim)$"
    r"|helm.sh/v3:Release).*",
    # Server access log delivery is free (the stored logs are priced on their
    # bucket); EKS add-ons cost only through what they run.
    r"aws:s3/bucketLogging(V2)?:.*", r"eks:index:VpcCniAddon",
]) + r")$")


def rule(*types: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for t in types:
            RULES[t] = fn
        return fn
    return register


@dataclass(frozen=True)
class Context:
    """What a rule may read besides its resource."""

    recording: Recording
    prices: Mapping[str, Any]

    @property
    def hours(self) -> int:
        return int(self.prices["hours_per_month"])

    def price(self, key: str) -> float:
        return float(self.prices["prices"][key]["usd"])

    def referenced(self, resource: Resource, prop: str, type_: str) -> Resource | None:
        """The resource of ``type_`` whose output the input ``prop`` takes."""
        index = self.recording.by_urn()
        for urn in resource.property_dependencies.get(prop, []):
            found = index.get(urn)
            if found is not None and found.type == type_:
                return found
        return None


def _fixed(label: str, r: Resource, price: float | None, unit: str, qty: float, detail: str) -> Line:
    return Line(label, r.name, "fixed" if price is not None else "unknown", price, unit, qty, detail)


def _per_use(label: str, r: Resource, price: float, unit: str, qty: float, detail: str) -> Line:
    return Line(label, r.name, "per-use", price, unit, qty, detail)


def _unknown(label: str, r: Resource, why: str) -> Line:
    return Line(label, r.name, "unknown", None, "-", 0, why)


# One resource, one price, nothing read from its inputs: type -> (label, price
# key, unit, detail). A unit per hour is billed every hour of the month.
_FLAT: dict[str, tuple[str, str, str, str]] = {
    "aws:ec2/natGateway:NatGateway": ("NAT gateway", "nat_gateway_hour", "gateway-hour", "{hours} h"),
    "aws:ec2/eip:Eip": ("Elastic IP (public IPv4)", "public_ipv4_hour", "address-hour", "{hours} h"),
    "aws:kms/key:Key": ("KMS customer-managed key", "kms_key_month", "key-month", "1 key"),
    "aws:secretsmanager/secret:Secret": ("Secrets Manager secret", "secretsmanager_secret_month", "secret-month",
                                         "1 secret"),
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": ("CloudWatch custom metric (log metric filter)",
                                                       "cloudwatch_custom_metric_month", "metric-month", "1 metric"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("CloudWatch alarm", "cloudwatch_alarm_month", "alarm-month",
                                               "1 alarm"),
    "aws:cloudwatch/dashboard:Dashboard": ("CloudWatch dashboard", "cloudwatch_dashboard_month", "dashboard-month",
                                           "1 dashboard (the first 3 of an account are free)"),
}


@rule(*_FLAT)
def _flat(r: Resource, ctx: Context) -> Iterator[Line]:
    label, price, unit, detail = _FLAT[r.type]
    yield _fixed(label, r, ctx.price(price), unit, ctx.hours if unit.endswith("-hour") else 1,
                 detail.format(hours=ctx.hours))


@rule("eks:index:Cluster")
def _eks_cluster(r: Resource, ctx: Context) -> Iterator[Line]:
    yield _fixed("EKS control plane", r, ctx.price("eks_cluster_hour"), "hour", ctx.hours,
                 f"Kubernetes {r.inputs.get('version')} (standard support) x {ctx.hours} h")


def _instance_hour(ctx: Context, types: list[str], capacity: str) -> tuple[float | None, str]:
    """Hourly price of one instance: on-demand = the first type (EKS and ASGs
    launch in priority order); spot = the highest of the types' spot prices."""
    if capacity == "SPOT":
        table = ctx.prices["ec2_spot_hour"]["types"]
        missing = [t for t in types if t not in table]
        if missing:
            return None, f"no spot price for {', '.join(missing)} in plan/prices.yaml"
        worst = max(types, key=lambda t: table[t])
        return float(table[worst]), f"spot, the highest of {len(types)} pools ({worst})"
    table = ctx.prices["ec2_on_demand_hour"]["types"]
    if types[0] not in table:
        return None, f"no on-demand price for {types[0]} in plan/prices.yaml"
    return float(table[types[0]]), f"on-demand {types[0]}"


def _root_volume_gib(ctx: Context, r: Resource, prop: str) -> int | None:
    template = ctx.referenced(r, prop, "aws:ec2/launchTemplate:LaunchTemplate")
    if template is None:
        return None
    for mapping in template.plain_inputs.get("blockDeviceMappings") or []:
        size = (mapping.get("ebs") or {}).get("volumeSize")
        if size:
            return int(size)
    return None


@rule("eks:index:ManagedNodeGroup")
def _node_group(r: Resource, ctx: Context) -> Iterator[Line]:
    inputs = r.plain_inputs
    types = list(inputs.get("instanceTypes") or [])
    capacity = str(inputs.get("capacityType") or "ON_DEMAND")
    floor = int((inputs.get("scalingConfig") or {}).get("minSize", 0))
    label = "node group"
    if not types:
        yield _unknown(label, r, "no instanceTypes on the node group")
        return
    hourly, how = _instance_hour(ctx, types, capacity)
    yield _fixed(label, r, hourly, "instance-hour", floor * ctx.hours,
                 f"floor {floor} x {ctx.hours} h, {how}" if hourly is not None else how)
    disk = _root_volume_gib(ctx, r, "launchTemplate")
    if disk is None:
        yield _unknown(f"{label} root volumes", r, "no launch template volume size")
    else:
        yield _fixed(f"{label} root volumes", r, ctx.price("ebs_gp3_gb_month"), "GB-month",
                     floor * disk, f"floor {floor} x {disk} GB gp3")
    if hourly is not None:
        maximum = int((inputs.get("scalingConfig") or {}).get("maxSize", floor))
        if maximum > floor:
            yield _per_use(f"{label} above its floor", r, hourly, "instance-hour", 0,
                           f"up to {maximum - floor} more nodes, each ${hourly * ctx.hours:.2f}/month")


@rule("aws:autoscaling/group:Group")
def _asg(r: Resource, ctx: Context) -> Iterator[Line]:
    inputs = r.plain_inputs
    label = "EC2 Auto Scaling group"
    template = ctx.referenced(r, "launchTemplate", "aws:ec2/launchTemplate:LaunchTemplate")
    if template is None or inputs.get("mixedInstancesPolicy"):
        yield _unknown(label, r, "only single launch template groups are priced")
        return
    lt = template.plain_inputs
    count = int(inputs.get("desiredCapacity", inputs.get("minSize", 0)))
    capacity = "SPOT" if (lt.get("instanceMarketOptions") or {}).get("marketType") == "spot" else "ON_DEMAND"
    hourly, how = _instance_hour(ctx, [str(lt.get("instanceType"))], capacity)
    yield _fixed(label, r, hourly, "instance-hour", count * ctx.hours, f"{count} x {ctx.hours} h, {how}")
    disk = _root_volume_gib(ctx, r, "launchTemplate")
    if disk is not None:
        yield _fixed(f"{label} root volume", r, ctx.price("ebs_gp3_gb_month"), "GB-month", count * disk,
                     f"{count} x {disk} GB gp3")
    if any(str(nic.get("associatePublicIpAddress")) == "true" for nic in lt.get("networkInterfaces") or []):
        yield _fixed(f"{label} public IPv4", r, ctx.price("public_ipv4_hour"), "address-hour",
                     count * ctx.hours, f"{count} address x {ctx.hours} h")


@rule("awsx:ec2:Vpc")
def _vpc(r: Resource, ctx: Context) -> Iterator[Line]:
    inputs = r.plain_inputs
    strategy = str((inputs.get("natGateways") or {}).get("strategy", "OnePerAz"))
    azs = len(inputs.get("availabilityZoneNames") or []) or int(inputs.get("numberOfAvailabilityZones", 3))
    count = {"None": 0, "Single": 1, "OnePerAz": azs}.get(strategy)
    if count is None:
        yield _unknown("NAT gateways", r, f"unknown NAT strategy {strategy}")
        return
    if count == 0:
        return
    yield _fixed("NAT gateways", r, ctx.price("nat_gateway_hour"), "gateway-hour", count * ctx.hours,
                 f"{count} ({strategy}) x {ctx.hours} h")
    yield _fixed("NAT gateways' public IPv4", r, ctx.price("public_ipv4_hour"), "address-hour",
                 count * ctx.hours, f"{count} addresses x {ctx.hours} h")
    gb = float(ctx.prices["assumed_usage"]["nat_gb_per_month"])
    yield _per_use("NAT gateway data processing", r, ctx.price("nat_gateway_gb"), "GB", gb,
                   f"{gb:g} GB/month assumed")


@rule("aws:ec2/instance:Instance")
def _instance(r: Resource, ctx: Context) -> Iterator[Line]:
    hourly, how = _instance_hour(ctx, [str(r.plain_inputs.get("instanceType"))], "ON_DEMAND")
    yield _fixed("EC2 instance", r, hourly, "instance-hour", ctx.hours, f"{ctx.hours} h, {how}")


@rule("aws:rds/instance:Instance")
def _rds(r: Resource, ctx: Context) -> Iterator[Line]:
    inputs = r.plain_inputs
    cls = str(inputs.get("instanceClass"))
    multi_az = bool(inputs.get("multiAz"))
    table = ctx.prices["rds_postgres_hour"]["classes"]
    copies = 2 if multi_az else 1
    layout = "Multi-AZ (x2)" if multi_az else "single-AZ"
    if cls in table:
        yield _fixed("RDS PostgreSQL instance", r, float(table[cls]) * copies, "hour", ctx.hours,
                     f"{cls} {layout} x {ctx.hours} h")
    else:
        yield _unknown("RDS PostgreSQL instance", r, f"no price for {cls} in plan/prices.yaml")
    storage = int(inputs.get("allocatedStorage", 0))
    price = ctx.price("rds_gp3_gb_month_multi_az" if multi_az else "rds_gp3_gb_month")
    yield _fixed("RDS storage", r, price, "GB-month", storage, f"{storage} GB gp3 {layout}")
    ceiling = int(inputs.get("maxAllocatedStorage") or storage)
    if ceiling > storage:
        yield _per_use("RDS storage autoscaling", r, price, "GB-month", 0,
                       f"up to {ceiling - storage} GB more, ${price * (ceiling - storage):.2f}/month at the ceiling")


_EBS_PRICES = {"gp3": "ebs_gp3_gb_month"}
_BINARY_UNITS = {"Gi": 1, "Ti": 1024}


@rule("kubernetes:core/v1:PersistentVolumeClaim")
def _volume_claim(r: Resource, ctx: Context) -> Iterator[Line]:
    """An EBS volume the CSI driver creates for the claim, priced by its StorageClass's type."""
    label = "EBS volume (PersistentVolumeClaim)"
    spec = r.plain_inputs.get("spec") or {}
    request = str(((spec.get("resources") or {}).get("requests") or {}).get("storage", ""))
    size = re.fullmatch(r"(\d+)(Gi|Ti)", request)
    if size is None:
        yield _unknown(label, r, f"storage request {request!r} is not whole Gi or Ti")
        return
    gib = int(size[1]) * _BINARY_UNITS[size[2]]
    storage_class = ctx.referenced(r, "spec", "kubernetes:storage.k8s.io/v1:StorageClass")
    sc = storage_class.plain_inputs if storage_class is not None else {}
    volume_type = (sc.get("parameters") or {}).get("type")
    if sc.get("provisioner") != "ebs.csi.aws.com" or volume_type not in _EBS_PRICES:
        yield _unknown(label, r, "its StorageClass is not in the graph as an EBS CSI class of a priced type")
        return
    yield _fixed(label, r, ctx.price(_EBS_PRICES[volume_type]), "GB-month", gib,
                 f"{gib} GiB {volume_type} (EBS bills GiB as GB)")


def _load_balancer(label: str, r: Resource, ctx: Context, kind: str, public_ips: int) -> Iterator[Line]:
    hour, unit = ("alb_hour", "alb_lcu_hour") if kind == "application" else ("nlb_hour", "nlb_nlcu_hour")
    yield _fixed(label, r, ctx.price(hour), "hour", ctx.hours, f"{kind} x {ctx.hours} h")
    if public_ips:
        yield _fixed(f"{label} public IPv4", r, ctx.price("public_ipv4_hour"), "address-hour",
                     public_ips * ctx.hours, f"{public_ips} addresses (one per AZ) x {ctx.hours} h")
    yield _per_use(f"{label} capacity units", r, ctx.price(unit), "LCU-hour", ctx.hours,
                   f"1 LCU average x {ctx.hours} h assumed")


@rule("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
def _aws_lb(r: Resource, ctx: Context) -> Iterator[Line]:
    inputs = r.plain_inputs
    kind = str(inputs.get("loadBalancerType") or "application")
    public = 0 if inputs.get("internal") else len(inputs.get("subnets") or inputs.get("subnetMappings") or [])
    yield from _load_balancer("load balancer", r, ctx, kind, public)


def _alb_groups(value: Any) -> Iterator[tuple[str, bool]]:
    """(group, internet-facing) of every ALB Ingress described in a chart's values
    (``enabled`` with ``ingressClassName: alb``) or in an Ingress object's spec."""
    if isinstance(value, dict):
        annotations = value.get("annotations") or {}
        if value.get("ingressClassName") == "alb" and value.get("enabled", True) is not False:
            group = annotations.get("alb.ingress.kubernetes.io/group.name", "")
            yield group, annotations.get("alb.ingress.kubernetes.io/scheme") == "internet-facing"
        for v in value.values():
            yield from _alb_groups(v)
    elif isinstance(value, list):
        for v in value:
            yield from _alb_groups(v)


@rule("kubernetes:networking.k8s.io/v1:Ingress", "kubernetes:helm.sh/v3:Release")
def _ingress(r: Resource, ctx: Context) -> Iterator[Line]:
    """The AWS Load Balancer Controller makes one ALB per Ingress group (or per
    ungrouped Ingress)."""
    inputs = r.plain_inputs
    if r.type.endswith("Ingress"):
        spec = dict(inputs.get("spec") or {})
        spec["annotations"] = (inputs.get("metadata") or {}).get("annotations") or {}
        found = list(_alb_groups(spec))
    else:
        found = list(_alb_groups(inputs.get("values") or {}))
    # Ingresses of one group share an ALB; each ungrouped one has its own.
    groups = {f"group {group}" if group else (f"#{i + 1}" if len(found) > 1 else ""): public
              for i, (group, public) in enumerate(found)}
    azs = len(ctx.recording.one("awsx:ec2:Vpc").plain_inputs.get("availabilityZoneNames") or []) \
        if ctx.recording.of_type("awsx:ec2:Vpc") else 2
    for group, public in sorted(groups.items()):
        yield from _load_balancer(f"load balancer (ALB Ingress{' ' + group if group else ''})", r, ctx,
                                  "application", azs if public else 0)
    if r.type.endswith("Release"):
        yield from _statsd_metrics(r, ctx)


def _statsd_metrics(r: Resource, ctx: Context) -> Iterator[Line]:
    """Airflow's StatsD names that the release's allow-list lets through: each is
    one CloudWatch custom metric (no tags, so no extra dimension combinations)."""
    from components.monitoring import AIRFLOW_METRICS
    env = {e.get("name"): e.get("value") for e in (r.plain_inputs.get("values") or {}).get("env") or []}
    if str(env.get("AIRFLOW__METRICS__STATSD_ON")) != "True":
        return
    allow = str(env.get("AIRFLOW__METRICS__METRICS_ALLOW_LIST") or "")
    names = [n for n in AIRFLOW_METRICS if any(re.findall(e, n) for e in allow.split(",") if e)] \
        if allow else None
    if names is None:
        yield _unknown("CloudWatch custom metrics (Airflow StatsD)", r, "no metrics_allow_list: unbounded")
        return
    yield _fixed("CloudWatch custom metrics (Airflow StatsD)", r, ctx.price("cloudwatch_custom_metric_month"),
                 "metric-month", len(names), f"{len(names)} allow-listed names, one series each")


@rule("kubernetes:core/v1:Service")
def _service(r: Resource, ctx: Context) -> Iterator[Line]:
    spec = r.plain_inputs.get("spec") or {}
    if spec.get("type") == "LoadBalancer":
        yield from _load_balancer("load balancer (Service)", r, ctx, "network", 0)


def _log_kind(r: Resource) -> str:
    name = str(r.plain_inputs.get("name") or r.name)
    if name.startswith("/aws/eks/"):
        return "eks-control-plane"
    if name.startswith("/aws/rds/"):
        return "rds"
    if "flow-log" in r.name:
        return "vpc-flow-logs"
    return "other"


@rule("aws:cloudwatch/logGroup:LogGroup")
def _log_group(r: Resource, ctx: Context) -> Iterator[Line]:
    kind = _log_kind(r)
    gb = float(ctx.prices["assumed_usage"]["log_gb_per_month"][kind])
    retention = r.plain_inputs.get("retentionInDays")
    yield _per_use(f"CloudWatch Logs ingestion ({kind})", r, ctx.price("cloudwatch_logs_ingest_gb"), "GB", gb,
                   f"{gb:g} GB/month assumed; kept {retention} days")


@rule("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
def _bucket(r: Resource, ctx: Context) -> Iterator[Line]:
    gb = float(ctx.prices["assumed_usage"]["bucket_gb"])
    yield _per_use("S3 Standard storage", r, ctx.price("s3_standard_gb_month"), "GB-month", gb,
                   f"{gb:g} GB assumed")


@rule("aws:emrserverless/application:Application")
def _emr_serverless(r: Resource, ctx: Context) -> Iterator[Line]:
    if r.plain_inputs.get("initialCapacities"):
        yield _unknown("EMR Serverless pre-initialized capacity", r,
                       "pre-initialized workers bill while the application is started")
        return
    yield _fixed("EMR Serverless application (idle)", r, 0.0, "month", 1,
                 "no pre-initialized capacity: $0 while no job runs")
    yield _per_use("EMR Serverless workers", r, ctx.price("emr_serverless_vcpu_hour_arm64"), "vCPU-hour", 0,
                   f"plus ${ctx.price('emr_serverless_gb_hour_arm64')}/GB-hour, only while jobs run")


# ----------------------------------------------------------- estimating


def estimate(recording: Recording, stack: str, prices: Mapping[str, Any] | None = None) -> Estimate:
    ctx = Context(recording, prices or load_prices())
    lines: list[Line] = []
    for r in recording.resources:
        fn = RULES.get(r.type)
        if fn is not None:
            lines.extend(fn(r, ctx))
        elif FREE_TYPES.match(r.type):
            continue
        elif not r.custom and r.type.split(":", 1)[0] not in REMOTE_PACKAGES:
            continue  # a local component: its children are recorded and priced themselves
        else:
            lines.append(_unknown(f"no cost rule for {r.type}", r, "add a rule in plan/cost.py"))
    # Registration order depends on when outputs resolve: sort for stable output.
    return Estimate(stack, tuple(sorted(lines, key=lambda line: (line.resource, line.label))))


def allowances(rec: Recording, prices: Mapping[str, Any] | None = None) -> list[tuple[str, float]]:
    """What prices.yaml's ``allowances`` add for resources not in the graph yet:
    an ALB unless one is priced, monitoring unless alarms are."""
    prices = prices or load_prices()
    ctx = Context(rec, prices)
    est = estimate(rec, "-", prices)
    out = []
    if not any(line.label.startswith("load balancer") for line in est.lines):
        azs = len(rec.one("awsx:ec2:Vpc").plain_inputs.get("availabilityZoneNames") or [])
        alb = prices["allowances"]["alb"]
        monthly = ctx.hours * (ctx.price("alb_hour") + azs * ctx.price("public_ipv4_hour")
                               + float(alb["lcu"]) * ctx.price("alb_lcu_hour"))
        out.append((f"{alb['label']} ({azs} public IPv4)", round(monthly, 2)))
    if not any(line.label == "CloudWatch alarm" for line in est.lines):
        mon = prices["allowances"]["monitoring"]
        monthly = (mon["alarms"] * ctx.price("cloudwatch_alarm_month")
                   + mon["custom_metrics"] * ctx.price("cloudwatch_custom_metric_month")
                   + mon["dashboards"] * ctx.price("cloudwatch_dashboard_month"))
        out.append((f"{mon['label']}: {mon['alarms']} alarms, {mon['custom_metrics']} metrics, "
                    f"{mon['dashboards']} dashboard", round(monthly, 2)))
    return out


def money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:,.2f}"


def signed(value: float) -> str:
    return f"{'+' if value >= 0 else '-'}${abs(value):,.2f}"


def format_estimate(est: Estimate) -> str:
    prices = load_prices()
    out = [f"Monthly cost estimate, stack {est.stack}: {prices['region']}, {prices['hours_per_month']} h/month, "
           "prices from plan/prices.yaml (see each section's source and date)."]
    sections = (("fixed", "fixed (paid while idle)"),
                ("per-use", "per-use (NOT in the total; at the volumes assumed in plan/prices.yaml)"),
                ("unknown", "unknown (no price: NOT counted, NOT zero)"))
    for kind, title in sections:
        lines = est.of_kind(kind)
        if not lines:
            continue
        out.append(f"{title}:")
        for line in lines:
            price = "" if line.unit_price is None else f"  ${line.unit_price:g}/{line.unit}"
            out.append(f"  {money(line.monthly):>10}  {line.label} [{line.resource}]: {line.detail}{price}")
    out.append(f"fixed total: {money(est.fixed_total)}/month"
               + (f" + {len(est.of_kind('unknown'))} unknown" if est.of_kind("unknown") else ""))
    out.append(f"per-use at the assumed volumes: ~{money(est.per_use_total)}/month")
    return "\n".join(out)


def cost_delta(base: Estimate, head: Estimate) -> list[str]:
    """Monthly delta lines for a PR: one per changed line, then the total."""
    def keyed(est: Estimate) -> dict[tuple[str, str], Line]:
        return {(line.resource, line.label): line for line in est.lines if line.kind != "per-use"}
    a, b = keyed(base), keyed(head)
    out = []
    for key in sorted(a.keys() | b.keys()):
        before, after = a.get(key), b.get(key)
        if before is not None and after is not None and before.monthly == after.monthly \
                and before.detail == after.detail:
            continue
        line = after or before
        assert line is not None
        if (before and before.kind == "unknown") or (after and after.kind == "unknown"):
            out.append(f"?/month: {line.label} [{line.resource}]: unknown ({line.detail})")
            continue
        change = (after.monthly if after else 0.0) - (before.monthly if before else 0.0)  # type: ignore[operator]
        what = "added" if before is None else "removed" if after is None else \
            f"{before.detail} -> {after.detail}" if before.detail != after.detail else "changed"
        out.append(f"{signed(change)}/month: {line.label} [{line.resource}] ({what})")
    total = head.fixed_total - base.fixed_total
    out.append(f"monthly cost delta ({head.stack}): {signed(total)}/month "
               f"(fixed {money(base.fixed_total)} -> {money(head.fixed_total)})")
    return out


def markdown_table(est: Estimate, extra: list[tuple[str, float]] = ()) -> str:  # type: ignore[assignment]
    rows = ["| item | resource | how | $/month |", "|---|---|---|---:|"]
    for line in est.of_kind("fixed") + est.of_kind("unknown"):
        price = "" if line.unit_price is None else f" at ${line.unit_price:g}/{line.unit}"
        rows.append(f"| {line.label} | `{line.resource}` | {line.detail}{price} | {money(line.monthly)} |")
    rows.append(f"| **fixed total** | | | **{money(est.fixed_total)}** |")
    for label, monthly in extra:
        rows.append(f"| allowance: {label} | | plan/prices.yaml `allowances` | {money(monthly)} |")
    if extra:
        total = round(est.fixed_total + sum(m for _, m in extra), 2)
        rows.append(f"| **with allowances** | | | **{money(total)}** |")
    rows.append(f"| per-use, not in the total | | at the volumes assumed in plan/prices.yaml "
                f"| ~{money(est.per_use_total)} |")
    return "\n".join(rows)
