"""Step time of one simulation with its population on 1 device and split over N (JAX, host CPU devices).

    python benchmarks/sharding.py [--users 200000] [--steps 50] [--devices 4]

Each device count runs in a child process started with
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (the flag must be set
before JAX starts). The model is a population of drifting users with a mean
across them (so the sharded program communicates every step). Prints the
compiled step time (median of 3 timed runs, compilation excluded) per device
count and whether the sharded numbers equal the unsharded ones. On a GPU or TPU
host, the devices are the accelerators instead (leave the flag alone with
``--real-devices``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = """
import json, statistics, sys, time
import numpy as np
import jax
from recosim.core import Entity, FieldSpec, Value, ValueSpec, Variable, get_backend, value
from recosim.jax.runtime import JaxRuntime

users, steps, devices = {users}, {steps}, {devices}

class Crowd(Entity):
    def __init__(self):
        super().__init__(name="crowd")
    def initial(self):
        B = get_backend()
        return Value(x=B.tfd.Normal(B.np.zeros(users, dtype="float32"), 1.0))
    def step(self, previous, mean):
        B = get_backend()
        pull = 0.9 * previous.get("x") + 0.1 * mean.get("m")
        return Value(x=B.tfd.Normal(pull, 0.5))

def model():
    crowd = Crowd()
    x = Variable("users", ValueSpec(x=FieldSpec((users,), "float32")))
    m = Variable("mean", ValueSpec(m=FieldSpec((), "float32")))
    average = lambda v: Value(m=get_backend().np.mean(v.get("x")))
    x.initial_value = value(crowd.initial)
    x.value = value(crowd.step, (x.previous, m.previous))
    m.initial_value = value(average, (x,))
    m.value = value(average, (x,))
    return [x, m]

shard = None if devices == 1 else {{"population": users, "devices": devices}}
rt = JaxRuntime(model(), seed=0, shard=shard, compile_cache="off")
t0 = time.perf_counter()
out = jax.block_until_ready(rt.execute(steps))
first = time.perf_counter() - t0
times = []
for _ in range(3):
    t0 = time.perf_counter()
    out = jax.block_until_ready(rt.execute(steps))
    times.append(time.perf_counter() - t0)
x = np.asarray(out["users"].get("x"))
print(json.dumps({{"devices": devices, "visible": len(jax.devices()), "platform": jax.devices()[0].platform,
                   "first_s": first, "step_ms": 1000 * statistics.median(times) / steps,
                   "checksum": float(np.sum(x, dtype=np.float64)), "x_head": x[:4].tolist()}}))
"""


def run(users: int, steps: int, devices: int, real: bool) -> dict:
    env = dict(os.environ)
    if not real:
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
        env.setdefault("JAX_PLATFORMS", "cpu")
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(users=users, steps=steps, devices=devices)],
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"devices={devices}: the child failed:\n{out.stderr[-3000:]}")
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return got | {"wall_s": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--devices", type=int, default=4, help="the sharded run's device count (compared with 1)")
    parser.add_argument("--real-devices", action="store_true", help="use the visible accelerators, not host devices")
    args = parser.parse_args(argv)
    if args.users % args.devices:
        parser.error(f"--users {args.users} does not split evenly over --devices {args.devices}")
    one = run(args.users, args.steps, 1, args.real_devices)
    many = run(args.users, args.steps, args.devices, args.real_devices)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.users} users, {args.steps} steps, {one['platform']}, 1-minute load average {load:.1f}")
    print("| devices | ms per step | first call s (compile + run) |")
    print("|---|---|---|")
    for r in (one, many):
        print(f"| {r['devices']} | {r['step_ms']:.2f} | {r['first_s']:.2f} |")
    head = max(abs(a - b) for a, b in zip(one["x_head"], many["x_head"]))
    gap = abs(one["checksum"] - many["checksum"])
    # the mean feeds back into every user, so the sum's order of addition reaches them: float rounding
    print(f"largest difference of the first users: {head:.3g}; |sum difference| over all users: {gap:.3g}")
    if one["platform"] == "cpu" and not args.real_devices:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        print(
            f"host devices share this machine's {cores} core(s): splitting the users over {args.devices} of them "
            "adds a cross-device sum every step without adding any arithmetic units, so it is not expected to be "
            "faster here; on several GPUs each device brings its own"
        )
    return 0 if head <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
