"""A local Kubernetes API emulator for tests, demos and development without a cluster.

It serves what Kopf, kubectl and the kubernetes client use: discovery (built-in resources
and CRDs, including CRDs created later through the API), list and watch with resource
versions, get/create/update/patch/delete with real resourceVersion, generation, finalizer,
owner and status-subresource semantics, CRD schema validation with pruning and defaults,
server-side Tables for kubectl's columns, a minimal ``/openapi/v3`` so kubectl validates on
the server, and, for tests, fault injection and a request log under ``/_sandbox/``.

    async with Sandbox() as sandbox:             # or: with SandboxThread() as sandbox:
        kubeconfig = sandbox.write_kubeconfig(tmp_path / "kubeconfig")

    python -m dask_plugin_operator.sandbox --kubeconfig PATH [--port N]

Point kubectl at it with ``KUBECONFIG`` and a fresh ``KUBECACHEDIR`` per sandbox (kubectl
caches discovery per server address). The kubernetes client reads ``KUBECONFIG`` only when
imported: load the file explicitly (``new_client_from_config(config_file=...)``).
"""

from .faults import FaultRule, RequestRecord
from .kubeconfig import CONTEXT
from .server import Sandbox, SandboxThread, run_sandbox

__all__ = ["CONTEXT", "FaultRule", "RequestRecord", "Sandbox", "SandboxThread", "run_sandbox"]
