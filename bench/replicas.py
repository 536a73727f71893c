"""SendFeedback acknowledged per second: SQLite against PostgreSQL, on 1 and 3 replicas.

    python3 bench/replicas.py [--rounds 3] [--duration 5s] [--streams 12] [--window 32]

Builds the release server and bench/load if missing, starts a throwaway PostgreSQL
cluster (initdb and pg_ctl from Debian's postgresql package, run as the postgres user
when this runs as root) with its default durability (fsync and synchronous_commit on:
an acknowledged feedback is on disk, as with SQLite's synchronous=FULL), then runs in
each round, in a rotating order:

- SQLite, 1 replica (SQLite is one process's store: replicas cannot share it);
- PostgreSQL, 1 replica;
- PostgreSQL, 3 replicas on the one database.

Every configuration gets the same load: --streams SendFeedback streams in all, each with
--window feedbacks in flight, spread evenly over the replicas (one bench/load process per
replica, run at once; their acknowledged/s are summed). Each run starts on an empty
database. The report gives the median over rounds and each configuration's ratio to
SQLite's run of the same round. Everything runs on this machine's cores together: the
servers, PostgreSQL and the load.
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, wait_for_port  # noqa: E402  (shared with bench/run.py)

SERVER = ROOT / "target/release/grpc-showcase"
LOAD = ROOT / "target/release/load"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A PostgreSQL cluster in a temporary directory."""

    def __init__(self):
        candidates = [Path(p) for p in os.environ.get("PATH", "").split(":")]
        candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        found = next((d for d in candidates if (d / "initdb").is_file() and (d / "pg_ctl").is_file()), None)
        if found is None:
            raise SystemExit("initdb and pg_ctl not found: install Debian's postgresql package")
        self.bin = (found / "initdb").resolve().parent
        self.dir = Path(tempfile.mkdtemp(prefix="grpc-showcase-pg-bench"))
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            subprocess.run(["chown", "-R", "postgres:postgres", self.dir], check=True)
        self.port = free_port()
        self.run("initdb", "--auth=trust", "--username=postgres", "-D", str(self.dir / "data"))
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self.run("pg_ctl", "start", "-w", "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-o", options)

    def run(self, program, *args):
        subprocess.run([*self.as_user, self.bin / program, *args], check=True, stdout=subprocess.DEVNULL)

    def fresh_database(self):
        """An empty database `bench`; returns its URL."""
        for sql in ("DROP DATABASE IF EXISTS bench", "CREATE DATABASE bench"):
            subprocess.run(
                ["psql", f"postgres://postgres@127.0.0.1:{self.port}/postgres", "-q", "-c", sql],
                check=True,
            )
        return f"postgres://postgres@127.0.0.1:{self.port}/bench"

    def stop(self):
        self.run("pg_ctl", "stop", "-m", "fast", "-D", str(self.dir / "data"))
        shutil.rmtree(self.dir, ignore_errors=True)


def run_config(store, replicas, cluster, args):
    """Acknowledged/s summed over the replicas, and the worst p50 and p99 (ms)."""
    data = Path(tempfile.mkdtemp(prefix="grpc-showcase-feedback-bench"))
    location = f"sqlite:{data}/feedback.sqlite3" if store == "SQLite" else cluster.fresh_database()
    servers, ports = [], []
    try:
        for _ in range(replicas):
            port = free_port()
            servers.append(
                subprocess.Popen(
                    [SERVER, "--listen", f"127.0.0.1:{port}", "--feedback-store", location, "--log-level", "warn"],
                    cwd=ROOT,
                )
            )
            ports.append(port)
        for port, server in zip(ports, servers):
            wait_for_port(port, server)
        streams = args.streams // replicas
        loads = [
            subprocess.Popen(
                [LOAD, "--addr", f"http://127.0.0.1:{port}", "--rpc", "feedback",
                 "--concurrency", str(streams), "--window", str(args.window),
                 "--duration", args.duration, "--warmup", "1s"],
                cwd=ROOT, stdout=subprocess.PIPE, text=True,
            )
            for port in ports
        ]
        total, p50, p99 = 0.0, 0.0, 0.0
        for load in loads:
            out, _ = load.communicate()
            if load.returncode != 0:
                raise SystemExit(f"load failed:\n{out}")
            total += float(re.search(r"requests/s (\d+)", out).group(1))
            latency = re.search(r"p50 ([\d.]+)\s+p90 [\d.]+\s+p99 ([\d.]+)", out)
            p50, p99 = max(p50, float(latency.group(1))), max(p99, float(latency.group(2)))
        return total, p50, p99
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait()
        shutil.rmtree(data, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", default="5s")
    parser.add_argument("--streams", type=int, default=12, help="SendFeedback streams in all (a multiple of 3)")
    parser.add_argument("--window", type=int, default=32)
    args = parser.parse_args()
    if not SERVER.exists() or not LOAD.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "grpc-showcase", "--bin", "grpc-showcase"], cwd=ROOT, check=True)
        subprocess.run(["cargo", "build", "--release", "-p", "grpc-showcase-bench", "--bin", "load"], cwd=ROOT, check=True)

    configs = [("SQLite", 1), ("PostgreSQL", 1), ("PostgreSQL", 3)]
    results = {config: [] for config in configs}
    cluster = Cluster()
    try:
        for round_ in range(args.rounds):
            order = configs[round_ % len(configs):] + configs[: round_ % len(configs)]
            for config in order:
                result = run_config(*config, cluster, args)
                results[config].append(result)
                print(f"round {round_ + 1} {config[0]} x{config[1]}: {result[0]:,.0f} acknowledged/s, "
                      f"p50 {result[1]:.2f} ms, p99 {result[2]:.2f} ms", file=sys.stderr)
    finally:
        cluster.stop()

    print(f"\n{args.streams} streams in all, {args.window} in flight each, {args.duration} per run, "
          f"{args.rounds} rounds (medians)\n")
    print("| store | replicas | acknowledged/s | ratio to SQLite | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    sqlite = results[configs[0]]
    for config, runs in results.items():
        ratios = [run[0] / base[0] for run, base in zip(runs, sqlite)]
        print(f"| {config[0]} | {config[1]} | {statistics.median(r[0] for r in runs):,.0f} | "
              f"{statistics.median(ratios):.2f}x ({min(ratios):.2f} to {max(ratios):.2f}) | "
              f"{statistics.median(r[1] for r in runs):.2f} | {statistics.median(r[2] for r in runs):.2f} |")


if __name__ == "__main__":
    main()
