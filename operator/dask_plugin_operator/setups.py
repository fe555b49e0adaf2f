"""What a plugin's setups on one scheduler add up to, and what that means for its state.

Two sources tell how setups went: the answer to a registration (the workers present at
that moment) and the reports the loaders leave on the scheduler (every worker, nanny or
scheduler that set the plugin up, including workers that joined later). Both are reduced
here to counts and a verdict, so a registration and a later check word them alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .scheduler import SchedulerIdentity, SetupReport
from .spec import PluginKind
from .status import ClusterState


@dataclass(frozen=True)
class SetupTally:
    """How many setups went well and badly, and the first error in address order.

    ``unreported`` counts members that said nothing yet: still setting up, stuck there,
    or running a loader that does not report.
    """

    ok: int
    failed: int
    first_error: str | None
    unreported: int = 0

    @property
    def decisive(self) -> bool:
        """Whether the tally alone tells the state: a failure, or every member heard."""
        return self.failed > 0 or self.unreported == 0


@dataclass(frozen=True)
class Verdict:
    """A plugin's state on one cluster, with the reason and message that explain it."""

    state: ClusterState
    reason: str
    message: str


def tally_reports(
    kind: PluginKind, identity: SchedulerIdentity, reports: Mapping[str, SetupReport]
) -> SetupTally:
    """Count the reports of the processes that are members now.

    Reports of workers that left are ignored: a failure there no longer matters.
    """
    members = identity.members(kind)
    current = {address: report for address, report in reports.items() if address in members}
    failed = {address: report for address, report in current.items() if not report.ok}
    first_error = None
    if failed:
        first_error = failed[min(failed)].error or "setup failed"
    return SetupTally(ok=len(current) - len(failed), failed=len(failed),
                      first_error=first_error, unreported=len(members) - len(current))


def judge(
    kind: PluginKind, identity: SchedulerIdentity, tally: SetupTally, done: str
) -> Verdict:
    """The state a tally leaves; ``done`` opens the message of a success ("Registered")."""
    if tally.failed:
        return Verdict("Failed", "SetupFailed",
                       f"Setup failed on {tally.failed} of "
                       f"{_count(tally.ok + tally.failed, kind)}: {tally.first_error}")

    without_nanny = identity.workers - identity.nannies
    if kind == "nanny" and identity.workers > 0 and without_nanny > 0:
        if without_nanny == identity.workers:
            words = "no worker of this cluster runs under a nanny, so the nanny plugin " \
                    "runs nowhere"
        else:
            words = (f"{without_nanny} of {identity.workers} workers run without a nanny, "
                     "so the nanny plugin does not run there")
        return Verdict("NotApplied", "NotApplied", f"Registered, but {words}.")

    where = "the scheduler" if kind == "scheduler" else _count(tally.ok, kind)
    return Verdict("Registered", "Registered", f"{done}; set up on {where}.")


def _count(number: int, kind: PluginKind) -> str:
    noun = {"worker": "worker", "nanny": "nanny", "scheduler": "scheduler"}[kind]
    if number == 1:
        return f"1 {noun}"
    return f"{number} " + ("nannies" if noun == "nanny" else f"{noun}s")
