"""A new kernel's start, up to its first answer, without jupyter_client's fixed waits: a forked
kernel (:mod:`gpucompare.report.forkserver`) listens ~0.1 s after it is asked for, and the waits
built into the client's connection and handshake (~0.3 s) were most of its start.
"""

from __future__ import annotations

import functools
import queue
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import KernelManager
from jupyter_core.utils import run_sync

#: Seconds between two looks for a starting kernel's socket files.
SOCKETS_CHECK_S = 0.005


class KernelDied(RuntimeError):
    """The kernel's process ended while a message from it was awaited."""


def next_message(km: KernelManager, get, until: float, alive_check_s: float):
    """The next message that ``get`` (a client's ``get_shell_msg`` or ``get_iopub_msg``) returns
    before the monotonic time ``until``, else None; :class:`KernelDied` as soon as the kernel's
    process is found gone (looked for every ``alive_check_s`` seconds of silence)."""
    while (left_s := until - time.monotonic()) > 0:
        try:
            return run_sync(get)(timeout=min(alive_check_s, left_s))
        except queue.Empty:
            if not km.is_alive():
                raise KernelDied("the kernel died") from None
    return None


def wait_for_sockets(km: KernelManager, timeout_s: float) -> None:
    """Wait until the kernel listens on its Unix sockets (their files exist), so that the client
    connects once. Connected earlier, ZeroMQ retries only every 100 ms, and the first status
    messages of the kernel are lost to a subscription not yet made, which costs jupyter_client's
    handshake another 0.2 s: ~0.3 s in all, as long as a forked kernel takes to start. Nothing to
    wait for over TCP (the client's own wait for the kernel's answer stays the rule)."""
    if km.transport != "ipc":
        return
    files = [
        Path(f"{km.ip}-{port}")
        for port in (km.shell_port, km.iopub_port, km.stdin_port, km.control_port, km.hb_port)
    ]
    deadline = time.monotonic() + timeout_s
    while not all(f.exists() for f in files):
        if time.monotonic() > deadline or not km.is_alive():
            return  # the client's wait for the kernel's answer reports it
        time.sleep(SOCKETS_CHECK_S)


@functools.cache
def _welcomes() -> bool:
    """Whether this interpreter's ipykernel greets a new subscriber of its output channel
    (``iopub_welcome``, ipykernel 7; the pool's kernels run this interpreter's ipykernel)."""
    try:
        return int(version("ipykernel").split(".")[0]) >= 7
    except (PackageNotFoundError, ValueError):
        return False


def handshake(
    km: KernelManager, kc: AsyncKernelClient, timeout_s: float, alive_check_s: float
) -> None:
    """Wait until the kernel answers, as jupyter_client's ``wait_for_ready`` does, without its
    fixed cost: after the answer, that method reads the output channel until it has been silent
    for 0.2 s, and it makes sure the output channel is connected by waiting up to 0.2 s more for
    a status message, which a subscription made a moment too late loses. Here the kernel's
    greeting to a new subscriber (``iopub_welcome``, ipykernel 7) says the channel is connected,
    and its output for the request ends with its ``idle`` status, so nothing is waited for that
    will not come. The kernel's death is noticed within ``alive_check_s`` seconds. Without the
    greeting (an older ipykernel), ``wait_for_ready`` as before."""
    deadline = time.monotonic() + timeout_s

    def next_msg(get, until: float, what: str):
        try:
            return next_message(km, get, until, alive_check_s)
        except KernelDied:
            raise KernelDied(f"Kernel died before {what}") from None

    if not _welcomes():
        run_sync(kc.wait_for_ready)(timeout=timeout_s)
        return
    while (msg := next_msg(kc.get_iopub_msg, deadline, "greeting")) is not None:
        if msg["msg_type"] == "iopub_welcome":
            break
    else:
        raise RuntimeError(f"Kernel didn't respond in {timeout_s} seconds")
    reply = None
    while reply is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout_s} seconds")
        # Asked again every second, as jupyter_client does.
        kc.kernel_info()
        until = min(deadline, time.monotonic() + 1.0)
        while (msg := next_msg(kc.get_shell_msg, until, "replying to kernel_info")) is not None:
            if msg["msg_type"] == "kernel_info_reply":
                reply = msg
                break
    kc._handle_kernel_info_reply(reply)  # the protocol version, as wait_for_ready does
    while (msg := next_msg(kc.get_iopub_msg, deadline, "its idle status")) is not None:
        if (
            msg["msg_type"] == "status"
            and msg["content"].get("execution_state") == "idle"
            and msg["parent_header"].get("msg_id") == reply["parent_header"].get("msg_id")
        ):
            return
    raise RuntimeError(f"Kernel didn't respond in {timeout_s} seconds")
