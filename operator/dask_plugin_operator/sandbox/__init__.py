"""A local Kubernetes API emulator for tests, demos and development without a cluster.

It serves the parts of the API that Kopf, kubectl and the kubernetes client use: discovery,
CRDs (installed at start or created later), list and watch with resource versions,
get/create/update/patch/delete with real resourceVersion, generation, finalizer and status
subresource semantics, schema validation with pruning and defaults, Tables for kubectl's
printer columns, and fault injection plus a request log for tests.

    async with Sandbox() as sandbox:
        sandbox.write_kubeconfig(path)
"""

from .faults import FaultRule, RequestRecord
from .kubeconfig import CONTEXT
from .server import Sandbox, SandboxThread, run_sandbox

__all__ = ["CONTEXT", "FaultRule", "RequestRecord", "Sandbox", "SandboxThread", "run_sandbox"]
