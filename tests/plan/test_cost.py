"""The cost estimator (plan/cost.py) on both stacks, on mutated configs and on
hand-made graphs; the PR delta lines; the README's generated tables."""

from __future__ import annotations

import json

import pytest

from plan import cost
from plan.engine import Recording, Resource

P = "airflow-eks:"
HOURS = 730


def est(engine, stack="dev", overrides=None):
    return cost.estimate(engine.program(stack, overrides), stack)


def graph(*resources: tuple[str, str, dict]) -> Recording:
    """A recording by hand: (type, name, inputs) per resource."""
    return Recording([Resource(urn=f"urn:{name}", type=t, name=name, parent="", custom=True,
                               dependencies=[], inputs=inputs) for t, name, inputs in resources], {})


def test_the_price_table_is_us_east_1_and_every_price_has_its_source_and_date():
    prices = cost.load_prices()
    assert prices["region"] == "us-east-1" and prices["hours_per_month"] == HOURS
    for key, entry in prices["prices"].items():
        assert entry["usd"] >= 0 and entry["source"].startswith("https://") and entry["as_of"], key
    for section in ("ec2_on_demand_hour", "ec2_spot_hour", "rds_postgres_hour"):
        assert prices[section]["source"].startswith("https://") and prices[section]["as_of"]


def test_prod_stays_under_500_with_an_alb_and_monitoring(engine):
    rec = engine.program("prod")
    prod = cost.estimate(rec, "prod")
    extra = dict(cost.allowances(rec))
    assert not prod.of_kind("unknown")
    # The ALB is in the graph (the chart's internal ALB Ingress): priced there, no allowance.
    alb = [line for line in prod.of_kind("fixed") if line.label.startswith("load balancer")]
    assert [line.monthly for line in alb] == [16.43]
    # Monitoring is in the graph too (components/monitoring.py): alarms, the
    # dashboard, the allow-listed custom metrics; no allowance left.
    assert extra == {}
    monitoring = [line for line in prod.of_kind("fixed") if line.label.startswith("CloudWatch")]
    assert len([line for line in monitoring if line.label == "CloudWatch alarm"]) == 10
    assert sum(line.monthly for line in monitoring) == pytest.approx(1.00 + 3.00 + 2.40 + 0.30)
    assert prod.fixed_total <= 500
    # The README's hand arithmetic before this estimator ($453.80), plus monitoring's $6.70.
    assert prod.fixed_total == 460.50


def test_without_an_alb_in_the_graph_the_allowance_prices_one(engine):
    rec = engine.program("prod")
    bare = Recording([r for r in rec.resources if r.type != "kubernetes:helm.sh/v3:Release"], {})
    extra = dict(cost.allowances(bare))
    (alb,) = (v for k, v in extra.items() if "ALB" in k)
    assert alb == round(HOURS * (0.0225 + 3 * 0.005 + 0.008), 2)


def test_dev_levers_save_what_the_nat_instance_and_spot_node_should(engine):
    dev = est(engine)
    assert not dev.of_kind("unknown")
    gateway_dev = est(engine, overrides={P + "network.natGateways": "single"})
    nat_instance = sum(line.monthly or 0 for line in dev.lines if line.resource.endswith("nat-asg"))
    assert nat_instance == pytest.approx(HOURS * (0.0042 + 0.005) + 8 * 0.08, abs=0.02)
    assert gateway_dev.fixed_total - dev.fixed_total == pytest.approx(
        HOURS * (0.045 + 0.005) - nat_instance, abs=0.02)
    on_demand = est(engine, overrides={P + "cluster.nodeGroups.system.capacityType": "ON_DEMAND"})
    assert on_demand.fixed_total - dev.fixed_total == pytest.approx(HOURS * (0.0336 - 0.017), abs=0.02)


def test_dev_is_under_100(engine):
    assert est(engine).fixed_total <= 100


def test_the_in_cluster_database_lever_trades_rds_for_its_ebs_volume(engine):
    dev = est(engine)
    rds_dev = est(engine, overrides={P + "database.engine": "rds", P + "database.allocatedStorageGiB": 20})
    (volume,) = [line for line in dev.lines if line.label.startswith("EBS volume")]
    assert (volume.kind, volume.quantity, volume.unit_price) == ("fixed", 10, 0.08)
    rds = sum(line.monthly or 0 for line in rds_dev.of_kind("fixed") if line.label.startswith("RDS"))
    assert rds == pytest.approx(HOURS * 0.016 + 20 * 0.115, abs=0.01)
    # RDS also brings its three alarms (CPU, free storage, connections)
    assert rds_dev.fixed_total - dev.fixed_total == pytest.approx(rds - volume.monthly + 3 * 0.10, abs=0.01)
    assert rds_dev.fixed_total > 100 >= dev.fixed_total


@pytest.mark.parametrize(("request_", "sc", "expected"), [
    ("20Gi", {"provisioner": "ebs.csi.aws.com", "parameters": {"type": "gp3"}}, 1.60),
    ("1Ti", {"provisioner": "ebs.csi.aws.com", "parameters": {"type": "gp3"}}, 81.92),
    ("20G", {"provisioner": "ebs.csi.aws.com", "parameters": {"type": "gp3"}}, None),
    ("20Gi", {"provisioner": "ebs.csi.aws.com", "parameters": {"type": "io2"}}, None),
    ("20Gi", {"provisioner": "efs.csi.aws.com", "parameters": {}}, None),
    ("20Gi", None, None),
])
def test_a_volume_claim_is_priced_from_its_storage_class_or_unknown(request_, sc, expected):
    claim = Resource(urn="urn:claim", type="kubernetes:core/v1:PersistentVolumeClaim", name="claim",
                     parent="", custom=True, dependencies=[],
                     inputs={"spec": {"resources": {"requests": {"storage": request_}}}},
                     property_dependencies={"spec": ["urn:sc"]} if sc else {})
    resources = [claim]
    if sc:
        resources.append(Resource(urn="urn:sc", type="kubernetes:storage.k8s.io/v1:StorageClass",
                                  name="sc", parent="", custom=True, dependencies=[], inputs=sc))
    (line,) = cost.estimate(Recording(resources, {}), "t").lines
    assert line.monthly == expected and line.kind == ("fixed" if expected is not None else "unknown")


def test_an_added_node_raises_the_total_by_that_nodes_price(engine):
    base = est(engine)
    more = est(engine, overrides={P + "cluster.nodeGroups.system.minSize": 2,
                                  P + "cluster.nodeGroups.system.desiredSize": 2})
    spot = cost.load_prices()["ec2_spot_hour"]["types"]
    node = max(spot[t] for t in ("t4g.medium", "m6g.medium", "m7g.medium")) * HOURS + 20 * 0.08
    assert more.fixed_total - base.fixed_total == pytest.approx(node, abs=0.01)


def test_an_unpriced_instance_type_is_unknown_never_zero(engine):
    e = est(engine, overrides={P + "cluster.nodeGroups.tasks.instanceTypes": ["m7g.16xlarge", "m7g.large",
                                                                             "m6g.large"],
                               P + "cluster.nodeGroups.tasks.minSize": 1,
                               P + "cluster.nodeGroups.tasks.desiredSize": 1})
    (unknown,) = e.of_kind("unknown")
    assert unknown.monthly is None and "m7g.16xlarge" in unknown.detail
    assert "1 unknown" in cost.format_estimate(e)


def test_a_resource_type_without_a_rule_is_unknown():
    e = cost.estimate(graph(("aws:elasticache/cluster:Cluster", "cache", {"nodeType": "cache.t4g.micro"}),
                            ("aws:iam/role:Role", "free", {})), "x")
    (line,) = e.lines
    assert line.kind == "unknown" and "no cost rule for aws:elasticache/cluster:Cluster" in line.label


def test_load_balancers_from_aws_resources_and_from_an_alb_ingress_in_chart_values():
    values = {"ingress": {"apiServer": {"enabled": True, "ingressClassName": "alb", "annotations": {
        "alb.ingress.kubernetes.io/scheme": "internet-facing"}}, "web": {"enabled": False}}}
    rec = graph(("awsx:ec2:Vpc", "vpc", {"availabilityZoneNames": ["a", "b"],
                                         "natGateways": {"strategy": "None"}}),
                ("kubernetes:helm.sh/v3:Release", "airflow", {"values": values}),
                ("aws:lb/loadBalancer:LoadBalancer", "nlb", {"loadBalancerType": "network", "internal": True}))
    fixed = {(line.resource, line.label): line.monthly for line in cost.estimate(rec, "x").of_kind("fixed")}
    assert fixed == {("airflow", "load balancer (ALB Ingress)"): 16.43,
                     ("airflow", "load balancer (ALB Ingress) public IPv4"): 7.30,
                     ("nlb", "load balancer"): 16.43}


def test_emr_serverless_idles_at_zero_unless_capacity_is_pre_initialised():
    idle = cost.estimate(graph(("aws:emrserverless/application:Application", "emr", {})), "x")
    assert [(line.kind, line.monthly) for line in idle.lines] == [("fixed", 0.0), ("per-use", 0.0)]
    warm = cost.estimate(graph(("aws:emrserverless/application:Application", "emr",
                                {"initialCapacities": [{"initialCapacityType": "Driver"}]})), "x")
    assert [line.kind for line in warm.lines] == ["unknown"]


def test_the_pr_delta_names_the_change_and_the_monthly_total():
    base = cost.estimate(graph(), "dev")
    head = cost.estimate(graph(("aws:lb/loadBalancer:LoadBalancer", "airflow-alb",
                                {"loadBalancerType": "application", "internal": True})), "dev")
    assert cost.cost_delta(base, head) == [
        "+$16.43/month: load balancer [airflow-alb] (added)",
        "monthly cost delta (dev): +$16.43/month (fixed $0.00 -> $16.43)"]
    assert cost.cost_delta(head, base)[0] == "-$16.43/month: load balancer [airflow-alb] (removed)"


def test_plan_diff_ends_with_the_monthly_delta(engine, capsys, monkeypatch):
    """`make plan-diff` (what the fork PR comment posts): the base revision with
    NAT gateways, the working tree with the NAT instance."""
    from plan import cli
    monkeypatch.setattr(cli, "evaluate_revision", lambda rev, stack: engine.program(
        stack, {P + "network.natGateways": "single"}))
    monkeypatch.setattr(cli, "run_program", lambda config, stack: engine.program(stack))
    assert cli.main(["diff", "--stack", "dev", "--base", "origin/main"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "monthly cost delta (dev): -$29.14/month (fixed $128.61 -> $99.47)"
    assert "-$32.85/month: NAT gateways [airflow-eks-dev-vpc] (removed)" in out
    assert "+$3.07/month: EC2 Auto Scaling group [airflow-eks-dev-nat-asg] (added)" in out
    assert out[0] == cli.BANNER
    assert cli.main(["diff", "--stack", "dev", "--cost-only"]) == 0  # the preview comment's text
    only = capsys.readouterr().out.splitlines()
    assert only[-1] == out[-1] and cli.BANNER not in only and len(only) < len(out)


def test_cost_cli_json_is_the_estimate(engine, capsys, monkeypatch):
    from plan import cli
    monkeypatch.setattr(cli, "run_program", lambda config, stack: engine.program(stack))
    assert cli.main(["cost", "--stack", "dev", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fixedTotal"] == est(engine).fixed_total and doc["region"] == "us-east-1"
    assert sum(line["monthly"] for line in doc["lines"] if line["kind"] == "fixed") == pytest.approx(
        doc["fixedTotal"])


def test_the_readme_cost_tables_are_the_estimators(engine):
    from plan.cli import readme_cost_section
    from plan.engine import ROOT
    readme = (ROOT / "README.md").read_text()
    start, end = cost.README_MARKERS
    generated = readme_cost_section(engine.program)
    assert readme[readme.index(start):readme.index(end) + len(end)] == generated, \
        "README.md's cost tables are stale: run `make cost-readme`"
    # The prose quotes the dev total and its gap to the target: the same figures.
    dev = est(engine).fixed_total
    assert f"Dev is ${dev:.2f} a month fixed" in readme and f"${100 - dev:.2f} under the $100" in readme
    assert f"to ${dev:.2f} a month" in readme
