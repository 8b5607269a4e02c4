"""A forked kernel's stand-in process: ``python -S fork_launcher.py SERVER -f CONNECTION ...``.

The kernel manager (jupyter_client) starts this script as it would start a kernel; the script asks
the fork server (:mod:`gpucompare.report.forkserver`) listening on the Unix socket ``SERVER`` for a
kernel, handing it its arguments, working directory, environment and standard streams, and then
stands for that kernel until it ends:

* a signal sent to this process (an interrupt, a termination) is passed on to the kernel;
* when this process dies, even by SIGKILL, the kernel sees its connection close and exits;
* when the kernel ends, this process exits.

So the kernel manager's view (a child process to poll, signal, kill and wait for) is the same as
with a kernel it started itself. Run with ``-S`` and importing the standard library only, it
starts in ~10 ms; it must not import the package (nothing but this file's path is needed).
"""

import contextlib
import json
import os
import signal
import socket
import struct
import sys

#: Signals passed on to the kernel (SIGKILL cannot be caught: the closed connection does that).
RELAYED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1)
#: The name the kernel sees as its program (``sys.argv[0]``), as ipykernel's own launcher.
KERNEL_ARGV0 = "gpucompare-forked-kernel"


# The same as gpucompare.report.forkserver._exactly: this script runs without site-packages and
# must not import the package (module docstring), so it keeps its own copy.
def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the fork server closed the connection")
        data += chunk
    return data


def main(argv: list[str]) -> int:
    server, kernel_args = argv[0], argv[1:]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(server)
    request = json.dumps(
        {
            "op": "fork",
            "argv": [KERNEL_ARGV0, *kernel_args],
            "cwd": os.getcwd(),
            "env": dict(os.environ),
        }
    ).encode("utf-8", "surrogateescape")
    framed = struct.pack("!I", len(request)) + request
    sent = socket.send_fds(sock, [framed], [0, 1, 2])
    sock.sendall(framed[sent:])
    (pid,) = struct.unpack("!i", _exactly(sock, 4))

    def relay(signum, _frame) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    for signum in RELAYED:
        signal.signal(signum, relay)
    # The kernel holds the other end; it closes when the kernel's process ends.
    while sock.recv(4096):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
