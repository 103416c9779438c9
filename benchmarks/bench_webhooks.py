"""Webhook intake throughput and latency: `casehub serve` receiving signed deliveries over HTTP.

    python benchmarks/bench_webhooks.py [--deliveries 5000] [--connections 4] [--backends sqlite postgresql]

The gateway runs as `casehub serve` in its own process (uvicorn, loopback, access log on, as
deployed), on a fresh SQLite store in a temporary directory and on a fresh PostgreSQL database
when the server answers. A load generator in a second process keeps a few keep-alive
connections busy, each sending its share of the deliveries one after another; every delivery
is signed beforehand (Standard Webhooks), so the clock measures the gateway, not the signing.
A 202 means the delivery is committed, sealed, in the inbox: the run checks at the end that
the inbox holds exactly one row per 202.

The baseline is `GET /healthz` (one `select 1` on the store) over the same connections: what
the gateway costs without verification, sealing and the committed insert.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from casehub.partners import partner

ROOT = Path(__file__).resolve().parent.parent
CASEHUB = Path(sys.executable).with_name("casehub")
PG_ADMIN = os.environ.get("CASEHUB_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PARTNER = "neighborhood_app"
SECRET_ENV = partner(PARTNER).pushing().secret_env
"""Where the gateway reads the partner's webhook secrets: the variable its manifest entry names."""
PATH = f"/webhooks/{PARTNER}"
START_SECONDS = 60.0


def report(n: int) -> bytes:
    """A community app report of a realistic size (~0.9 kB)."""
    event = {
        "type": "report.created",
        "timestamp": "2026-12-01T08:00:00+08:00",
        "data": {
            "reportId": f"WLB{n:010d}",
            "updatedAt": "2026-12-01T08:00:00+08:00",
            "createdAt": "2026-12-01T07:58:12+08:00",
            "communityCode": "420102001001",
            "title": "小区门口路灯不亮",
            "content": "幸福里小区东门外的三盏路灯已经连续一周不亮，晚上出行很不安全，"
            "老人孩子经过时容易摔倒，请尽快安排维修。",
            "category": "市政设施",
            "reporterName": "张明",
            "reporterPhone": "13800138000",
            "address": "武汉市江岸区幸福里小区东门",
            "lng": 114.30521,
            "lat": 30.59276,
            "crs": "GCJ-02",
            "images": [f"https://img.example.cn/{n}/1.jpg"],
        },
    }
    return json.dumps(event, ensure_ascii=False).encode()


# --- the load generator (its own process) --------------------------------------------------------


def load(url: str, mode: str, count: int, connections: int, seconds: float, secret: str) -> dict[str, Any]:
    """Send `count` requests over `connections` keep-alive connections; stop early at `seconds`."""
    from standardwebhooks import Webhook

    host, port = url.removeprefix("http://").split(":")
    if mode == "webhooks":
        signer = Webhook(secret)
        now = datetime.now(UTC)
        stamp = str(int(now.timestamp()))
        requests = []
        for n in range(count):
            body = report(n)
            webhook_id = f"msg_{uuid.uuid4().hex}"
            headers = {
                "content-type": "application/json",
                "webhook-id": webhook_id,
                "webhook-timestamp": stamp,
                "webhook-signature": signer.sign(webhook_id, now, body.decode()),
            }
            requests.append(("POST", PATH, body, headers))
    else:
        requests = [("GET", "/healthz", b"", {})] * count
    shares = [requests[i::connections] for i in range(connections)]
    latencies: list[list[float]] = [[] for _ in range(connections)]
    statuses: list[dict[int, int]] = [{} for _ in range(connections)]
    deadline = time.perf_counter() + seconds
    start = threading.Barrier(connections + 1)

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        start.wait()
        for method, path, body, headers in shares[index]:
            if time.perf_counter() > deadline:
                break
            began = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            answer = conn.getresponse()
            answer.read()
            latencies[index].append(time.perf_counter() - began)
            statuses[index][answer.status] = statuses[index].get(answer.status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = sorted(x for share in latencies for x in share)
    merged: dict[str, int] = {}
    for share in statuses:
        for status, n in share.items():
            merged[str(status)] = merged.get(str(status), 0) + n
    return {
        "requests": len(every),
        "seconds": elapsed,
        "p50_ms": 1000 * every[len(every) // 2],
        "p99_ms": 1000 * every[min(len(every) - 1, int(len(every) * 0.99))],
        "statuses": merged,
    }


def measure(url: str, mode: str, count: int, connections: int, seconds: float, secret: str) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - this script, fixed arguments
        [sys.executable, __file__, "--load", url, mode, str(count), str(connections), str(seconds)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=seconds + 120,
        env={**os.environ, SECRET_ENV: secret},
    )
    if done.returncode != 0:
        raise SystemExit(f"load generator failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the gateway under test ----------------------------------------------------------------------


@contextmanager
def store(backend: str, directory: Path) -> Iterator[str]:
    """A fresh, migrated store; its URL."""
    from sqlalchemy import create_engine, text

    from casehub.store import migrate
    from casehub.store.db import prepare

    if backend == "sqlite":
        url = f"sqlite:///{directory / 'casehub.db'}"
        engine = prepare(create_engine(url))
        migrate(engine)
        engine.dispose()
        yield url
        return
    name = f"casehub_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'create database "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        engine = prepare(create_engine(url))
        migrate(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


def postgres_reachable() -> bool:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN)
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception:  # noqa: BLE001 - any failure means there is no server to measure
        return False
    finally:
        admin.dispose()
    return True


@contextmanager
def gateway(url: str, directory: Path, secret: str) -> Iterator[str]:
    """`casehub serve` on a free loopback port; its base URL once uvicorn says it listens."""
    from casehub.crypto import KeyRing

    ring = directory / "keyring.json"
    ring.write_text(KeyRing.generate().to_json(), encoding="utf-8")
    log = directory / "gateway.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CASEHUB_")},
        "CASEHUB_DB_URL": url,
        "CASEHUB_KEYRING_FILE": str(ring),
        "CASEHUB_HOME": str(directory),
        SECRET_ENV: secret,
    }
    command = [str(CASEHUB), "serve", "--host", "127.0.0.1", "--port", "0"]
    with log.open("w") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=sink)  # noqa: S603 - fixed arguments
    try:
        deadline = time.monotonic() + START_SECONDS
        while (match := re.search(r"Uvicorn running on (http://[\d.]+:\d+)", log.read_text())) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"casehub serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(30)


def inbox_rows(url: str) -> int:
    from sqlalchemy import create_engine, func, select

    from casehub.store.models import InboundWebhook

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(InboundWebhook)).scalar_one())
    finally:
        engine.dispose()


def run(
    backend: str, deliveries: int, connections: int, seconds: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    with tempfile.TemporaryDirectory(prefix="casehub-bench-") as temporary:
        directory = Path(temporary)
        with store(backend, directory) as url, gateway(url, directory, secret) as base:
            measure(base, "webhooks", 1, 1, seconds, secret)  # registers the ring's fingerprints
            baseline = measure(base, "healthz", deliveries, connections, seconds, secret)
            result = measure(base, "webhooks", deliveries, connections, seconds, secret)
            landed = inbox_rows(url) - 1
    accepted = result["statuses"].get("202", 0)
    if accepted != result["requests"] or landed != accepted:
        raise SystemExit(f"{backend}: {result['statuses']} answered, {landed} in the inbox")
    return baseline, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0, help="stop a measurement after this long")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--load", nargs=5, metavar=("URL", "MODE", "COUNT", "CONNECTIONS", "SECONDS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        url, mode, count, connections, seconds = args.load
        result = load(url, mode, int(count), int(connections), float(seconds), os.environ.get(SECRET_ENV, ""))
        print(json.dumps(result))
        return
    print(f"webhook benchmark: {args.deliveries} signed deliveries over {args.connections} keep-alive "
          "connections, casehub serve on loopback; baseline GET /healthz")
    print(f"{'backend':<11}{'route':<16}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for backend in args.backends:
        if backend == "postgresql" and not postgres_reachable():
            print(f"{backend:<11}skipped: no server at {PG_ADMIN.split('@')[-1]}")
            continue
        baseline, result = run(backend, args.deliveries, args.connections, args.seconds)
        for route, figures in (("GET /healthz", baseline), ("POST webhook", result)):
            rate = figures["requests"] / figures["seconds"]
            print(
                f"{backend:<11}{route:<16}{figures['requests']:>9}{rate:>9,.0f}"
                f"{figures['p50_ms']:>9.1f}{figures['p99_ms']:>9.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
