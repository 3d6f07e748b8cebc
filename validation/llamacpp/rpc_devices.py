"""Simulated devices for the llama.cpp harnesses: one ggml-rpc-server per
device on 127.0.0.1, each reporting a chosen memory (the harness patch of
build_fit.sh reads $GPUMEM_RPC_MEM_MIB). Used by fit_matrix.py and
pipeline_matrix.py.

    with rpc_devices(BIN, [8000, 4000]) as endpoints:   # ["127.0.0.1:PORT", ...]
        ... llama.cpp --rpc ",".join(endpoints) ...
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc, timeout=20.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"rpc-server on {port} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"rpc-server on {port} did not listen")


@contextlib.contextmanager
def rpc_devices(bin_dir: str, mibs: list[int]):
    """Starts a server per entry of `mibs` (MiB it reports), yields their
    endpoints in order, and stops them all afterwards."""
    servers, endpoints = [], []
    try:
        for mib in mibs:
            port = free_port()
            env = dict(os.environ, GPUMEM_RPC_MEM_MIB=str(mib))
            p = subprocess.Popen([os.path.join(bin_dir, "ggml-rpc-server"), "-H", "127.0.0.1", "-p", str(port),
                                  "-t", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            servers.append(p)
            wait_port(port, p)
            endpoints.append(f"127.0.0.1:{port}")
        yield endpoints
    finally:
        for p in servers:
            p.terminate()
        for p in servers:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
