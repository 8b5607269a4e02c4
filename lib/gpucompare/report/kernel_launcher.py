"""The report's kernels start here (``python -m gpucompare.report.kernel_launcher -f CONNECTION``):
ipykernel's own launcher (``ipykernel_launcher``), without the debugger.

Why: ipykernel imports debugpy (pydevd) as it creates its kernel, to serve Jupyter's visual
debugger: ~0.25 s of CPU in every kernel a build or a preview starts, a quarter of a kernel's
start with the library imported (profiled with py-spy, timed in docs/performance.md). Nobody
debugs a report's kernel, and ipykernel is built to run without debugpy: where ``import
debugpy`` fails, its ``kernel_info`` reply leaves ``debugger`` out of the supported features and
it runs code exactly as before. ``None`` in :data:`sys.modules` is Python's documented way to
make an import fail. Nothing else differs from ``ipykernel_launcher``.
"""

import sys

if __name__ == "__main__":
    # As ipykernel_launcher: the working directory is no place to import ipykernel from.
    if sys.path[0] == "":
        del sys.path[0]
    sys.modules.setdefault("debugpy", None)

    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
