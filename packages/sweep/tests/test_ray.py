"""The Ray backend on a real local cluster (2 CPUs): same results as the local pool, faults handled."""

from __future__ import annotations

import ipaddress
import os
import shutil

import pytest
from conftest import TESTS

ray = pytest.importorskip("ray")

from recosim.sweep import sweep  # noqa: E402
from recosim.sweep.ray_backend import RayBackend, session_root, start_local_cluster  # noqa: E402

WALK = {"grid": {"scale": [0.5, 2.0]}, "fixed": {"horizon": 3, "num-users": 10}, "seeds": 2}


@pytest.fixture(scope="module")
def cluster():
    # Ray's workers inherit the cluster's environment: let them import the probe use case.
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), old) if p)
    try:
        context = start_local_cluster(num_cpus=2)
        yield context
    finally:
        ray.shutdown()
        shutil.rmtree(session_root(), ignore_errors=True)
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def metrics(result) -> dict:
    return {
        r["task_id"]: {k: v for k, v in r.items() if k.startswith("metric.") and k != "metric.pid"}
        for r in result.table.to_pylist()
    }


def test_local_cluster_listens_on_loopback_only_without_dashboard(cluster):
    assert ipaddress.ip_address(cluster.address_info["node_ip_address"]).is_loopback
    assert ipaddress.ip_address(cluster.address_info["gcs_address"].rsplit(":", 1)[0]).is_loopback
    assert not cluster.dashboard_url
    assert ray.cluster_resources()["CPU"] == 2


def test_ray_and_local_give_equal_results_for_equal_seeds(cluster, tmp_path):
    on_ray = sweep("random-walk", **WALK, out=tmp_path / "ray", backend="ray", num_cpus=1, plots=False)
    local = sweep("random-walk", **WALK, out=tmp_path / "local", workers=2, plots=False)
    assert on_ray.table.num_rows == 4 and on_ray.failed == 0
    assert metrics(on_ray) == metrics(local)  # same task ids, same numbers
    assert on_ray.summary.to_pylist() == local.summary.to_pylist()


def test_ray_records_failures_and_retries_lost_workers(cluster, tmp_path, probe):
    logs = tmp_path / "logs"
    logs.mkdir()
    result = sweep(probe, grid={"mode": ["ok", "raise", "crash-once"]}, fixed={"log-dir": str(logs)}, seeds=1,
                   out=tmp_path / "out", backend="ray", max_retries=1, plots=False)
    rows = {r["mode"]: r for r in result.table.to_pylist()}
    assert rows["ok"]["status"] == "ok"
    assert rows["raise"]["status"] == "failed" and rows["raise"]["error"].startswith("ValueError: ")
    assert rows["crash-once"]["status"] == "ok"  # Ray ran it again after its worker was killed
    assert (logs / "crashed-crash-once-1.0-0").exists()


def test_asking_for_more_than_the_cluster_has_is_refused_before_running(cluster):
    from recosim.sweep.plan import SweepConfigError

    with pytest.raises(SweepConfigError, match="asks for 1 GPU but the Ray cluster has 0"):
        RayBackend(num_gpus=1).connect()
