"""Devices behind a TVM RPC tracker: the address, the pool as the tracker sees it, sessions.

Imports only TVM's RPC client (runtime side), never the compiler: ``devices`` and the remote
Session work without it. Every wait is bounded: an unreachable tracker, a key that no device
serves, or a device that never frees up ends in one ``DeviceError`` line naming the tracker,
the key and what was found.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import DeviceError

#: Seconds to wait for the tracker's socket, and for a free device with the key.
CONNECT_TIMEOUT_S = 10.0
DEVICE_WAIT_S = 60.0


@dataclass(frozen=True, slots=True)
class Tracker:
    """The address of a TVM RPC tracker."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """One device key in the tracker's pool: devices registered, free, busy, requests queued."""

    key: str
    total: int
    free: int
    pending: int

    @property
    def busy(self) -> int:
        return max(0, self.total - self.free)


@dataclass(frozen=True, slots=True)
class Pool:
    """The pool as the tracker sees it."""

    tracker: Tracker
    keys: tuple[KeyStatus, ...]
    servers: tuple[tuple[str, str, int], ...]  # (key, host, port) of every registered server

    def status(self, key: str) -> KeyStatus:
        for item in self.keys:
            if item.key == key:
                return item
        return KeyStatus(key, 0, 0, 0)

    def describe(self) -> str:
        """``key 'a': 2 free, 1 busy; key 'b': ...`` or ``no devices registered``."""
        if not self.keys:
            return "no devices registered"
        return "; ".join(f"key '{k.key}': {k.free} free, {k.busy} busy" for k in self.keys)


@dataclass(frozen=True, slots=True)
class DeviceLabel:
    """Which device a session landed on: labels every timing measured there."""

    key: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.key}@{self.host}:{self.port}"


def message(exc: BaseException) -> str:
    """The last line of an exception's text, where TVM and RPC errors put the cause."""
    lines = str(exc).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__


def parse_tracker(text: str) -> Tracker:
    """``HOST:PORT`` (IPv6 as ``[::1]:9190``) -> Tracker."""
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DeviceError(
            f"RPC tracker address '{text}' is malformed; pass HOST:PORT, e.g. 127.0.0.1:9190"
        )
    return Tracker(host, int(port))


def address(tracker: str, key: str | None) -> tuple[Tracker, str]:
    """``--rpc-tracker`` and ``--rpc-key`` checked together -> (Tracker, key)."""
    if not key:
        raise DeviceError(
            f"--rpc-tracker {tracker} needs --rpc-key KEY (the device key to use; "
            f"'tvmforge devices --rpc-tracker {tracker}' lists them)"
        )
    return parse_tracker(tracker), key


def _probe(tracker: Tracker, timeout_s: float) -> None:
    """Fail fast when nothing listens (TVM's own connect retries for a minute)."""
    try:
        with socket.create_connection((tracker.host, tracker.port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise DeviceError(
            f"RPC tracker {tracker} is unreachable ({exc.strerror or exc}); start one with "
            f"'python -m tvm.exec.rpc_tracker --host {tracker.host} --port {tracker.port}' "
            "or fix --rpc-tracker"
        ) from exc


@contextlib.contextmanager
def _tracker_session(tracker: Tracker, timeout_s: float) -> Iterator[object]:
    from tvm import rpc

    _probe(tracker, timeout_s)
    try:
        session = rpc.connect_tracker(tracker.host, tracker.port)
    except Exception as exc:  # noqa: BLE001 - any handshake failure means "not a tracker"
        raise DeviceError(
            f"{tracker} does not answer as a TVM RPC tracker ({exc}); check --rpc-tracker"
        ) from exc
    try:
        yield session
    finally:
        session.close()


def pool(tracker: Tracker, timeout_s: float = CONNECT_TIMEOUT_S) -> Pool:
    """The tracker's pool: keys with devices total/free/pending, and the registered servers."""
    with _tracker_session(tracker, timeout_s) as session:
        summary = session.summary()
    servers = []
    for item in summary.get("server_info", []):
        key = str(item["key"]).split(":", 1)[-1]
        host, port = item["addr"]
        servers.append((key, str(host), int(port)))
    keys = []
    for key, queue in sorted(summary.get("queue_info", {}).items()):
        total = sum(1 for k, _, _ in servers if k == key)
        keys.append(KeyStatus(key, max(total, queue["free"]), queue["free"], queue["pending"]))
    return Pool(tracker, tuple(keys), tuple(servers))


def free_devices(tracker: Tracker, key: str, wait_s: float = DEVICE_WAIT_S) -> int:
    """The number of free devices with ``key``, waiting up to ``wait_s`` for the first one."""
    import time

    deadline = time.monotonic() + wait_s
    while True:
        found = pool(tracker)
        free = found.status(key).free
        if free > 0:
            return free
        if time.monotonic() >= deadline:
            raise DeviceError(
                f"no free device with key '{key}' on RPC tracker {tracker} after {wait_s:.0f} s "
                f"(found: {found.describe()}); start a server with --tracker {tracker} "
                f"--key {key}, or fix --rpc-key"
            )
        time.sleep(1.0)


@contextlib.contextmanager
def device_session(
    tracker: Tracker, key: str, *, wait_s: float = DEVICE_WAIT_S, session_timeout_s: float = 600
) -> Iterator[tuple[object, DeviceLabel]]:
    """An RPC session on one free device with ``key``, and the label naming that device.

    Raises:
        DeviceError: tracker unreachable, or no device with ``key`` free within ``wait_s``.
    """
    from tvm import rpc
    from tvm.rpc import base

    free_devices(tracker, key, wait_s)
    with _tracker_session(tracker, wait_s) as tsession:
        tsession._sock.settimeout(wait_s)  # the REQUEST answer comes when a device frees up
        try:
            base.sendjson(tsession._sock, [base.TrackerCode.REQUEST, key, "", 1])
            answer = base.recvjson(tsession._sock)
        except OSError as exc:
            raise DeviceError(
                f"no device with key '{key}' on RPC tracker {tracker} became free within "
                f"{wait_s:.0f} s ({pool(tracker).describe()}); retry later or add devices"
            ) from exc
        host, port, matchkey = answer[1]
        try:
            session = rpc.connect(host, port, matchkey, session_timeout=session_timeout_s)
        except Exception as exc:  # noqa: BLE001 - the device went away between match and connect
            raise DeviceError(
                f"device {key}@{host}:{port} (via tracker {tracker}) refused the session: {exc}"
            ) from exc
    try:
        yield session, DeviceLabel(key, str(host), int(port))
    finally:  # hand the device back to the pool now, not when the session is collected
        with contextlib.suppress(Exception):
            session.get_function("CloseRPCConnection")()
