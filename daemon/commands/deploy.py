"""``pairs-daemon deploy PATH`` and ``deploy --rollback``: move the account to another config.

1. The candidate's promotion gates (``[promotion]``, daemon/core/promotion.py); one that fails
   refuses the deployment (exit 2) unless ``--force``, which is recorded.
2. The plan per pair (shared/handover.py) against what the account trades after its last
   completed session: keep, drop, add, change; a dropped pair that holds follows
   ``[handover] dropped`` (drain or close).
3. Unless ``--dry-run``: a deployment request in the state directory
   (daemon/store/deploy_request.py). The next session run (the service, ``once`` or
   ``replay``) records it as a new generation and hands over in its decision step. The store
   is only read here, so this works while the service runs.

``--rollback`` deploys the generation before the current one again, under the same rules (no
gates: it has traded here), or withdraws a deployment not applied yet.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from daemon.config.research_config import load_config
from daemon.config.settings import DaemonSettings
from daemon.core.promotion import GateResult, check_gates, gates_table
from daemon.core.roster import SessionRoster, config_slots
from daemon.cycle.roster_step import previous_roster
from daemon.store import DB_NAME, Store
from daemon.store.deploy_request import (
    DeployRequest,
    read_request,
    remove_request,
    write_request,
)
from daemon.store.generations import Generation, generations
from shared.config import ProdConfig, dump_config
from shared.errors import StateError
from shared.handover import PlanRow, is_flat, plan_handover


@dataclass(frozen=True, slots=True)
class DeployReport:
    candidate: str
    config_id: str
    gates: list[GateResult]
    forced: bool
    plan: tuple[PlanRow, ...]
    as_of: date | None  # the last completed session the plan was made on
    rule: str
    dry_run: bool
    deployed: bool
    rollback_of: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def gates_passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def to_json(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "config_id": self.config_id,
            "gates": [g.to_json() for g in self.gates],
            "gates_passed": self.gates_passed,
            "forced": self.forced,
            "plan": [row.to_json() for row in self.plan],
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
            "dropped": self.rule,
            "dry_run": self.dry_run,
            "deployed": self.deployed,
            "rollback_of": self.rollback_of,
            "notes": self.notes,
        }

    def lines(self) -> list[str]:
        out = [f"candidate: {self.candidate} (config_id {self.config_id})"]
        if self.gates:
            out += [
                "promotion gates:",
                *("  " + line for line in gates_table(self.gates).split("\n")),
            ]
        as_of = self.as_of or "no session yet"
        out.append(f"plan (as of {as_of}; [handover] dropped = {self.rule}):")
        out += [
            f"  {row.action.value:<7} {row.pair:<14} {row.detail}".rstrip() for row in self.plan
        ]
        out += self.notes
        return out


def _open_store(settings: DaemonSettings) -> Store:
    if not (Path(settings.state_dir) / DB_NAME).exists():
        raise StateError(
            f"no state in {settings.state_dir}: the daemon has not traded here yet, so there "
            "is nothing to hand over; point `config` in the settings at the new config instead"
        )
    return Store.open(settings.state_dir, read_only=True)


def _data_age(store: Store, candidate: ProdConfig) -> int | None:
    """Stored sessions after the candidate's last research session (None: no stored bars)."""
    sessions = list(store.bars([]).index)
    if not sessions:
        return None
    return sum(1 for d in sessions if d > candidate.data.last_session)


def _plan(
    store: Store, current: SessionRoster, candidate: ProdConfig, rule: str
) -> tuple[tuple[PlanRow, ...], date | None]:
    last = store.last_completed_session()
    saved = store.decisions(last) if last is not None else []
    positions = store.expected_positions()
    states = [d.pair_state for d in saved] if len(saved) == len(current.slots) else None

    def holds(slot: Any) -> bool:
        k = current.slots.index(slot)
        if states is None:
            return any(positions.get(s, 0) for s in slot.symbols)
        return not is_flat(states[k], positions, slot)

    incoming = config_slots(candidate)
    plan = plan_handover(current.slots, incoming, holds, "close" if rule == "close" else "drain")
    return plan, last


def _current(store: Store, settings: DaemonSettings) -> SessionRoster:
    return previous_roster(store, load_config(settings.config))


def deploy(
    settings: DaemonSettings, path: Path, *, dry_run: bool, force: bool, now: str
) -> DeployReport:
    candidate = load_config(path)
    store = _open_store(settings)
    try:
        current = _current(store, settings)
        thresholds = settings.promotion.model_dump()
        gates = check_gates(candidate, thresholds, _data_age(store, candidate))
        plan, as_of = _plan(store, current, candidate, settings.handover.dropped)
    finally:
        store.close()
    report = DeployReport(
        str(path),
        candidate.config_id,
        gates,
        force and not all(g.passed for g in gates),
        plan,
        as_of,
        settings.handover.dropped,
        dry_run,
        deployed=False,
    )
    notes = []
    if candidate.config_id == current.config_id:
        notes.append("the account already trades this config: nothing to deploy")
        return _with(report, notes)
    if not report.gates_passed and not force:
        notes.append("refused: a promotion gate failed (see above); --force deploys it anyway")
        return _with(report, notes)
    if dry_run:
        notes.append("dry run: nothing was changed")
        return _with(report, notes)
    request = DeployRequest(
        request_id=uuid.uuid4().hex,
        config=dump_config(candidate),
        source=str(path),
        requested_at=now,
        rule=settings.handover.dropped,
        forced=report.forced,
        gates=[g.to_json() for g in gates],
    )
    written = write_request(settings.state_dir, request)
    notes.append(
        f"deployed: {written.name} written; the next session run hands over to it "
        "(`pairs-daemon status` shows the pending generation)"
    )
    if report.forced:
        notes.append("forced past a failed gate: recorded with the generation")
    return _with(report, notes, deployed=True)


def rollback(settings: DaemonSettings, *, dry_run: bool, now: str) -> DeployReport:
    """Deploy the generation before the current one again (or withdraw a pending one)."""
    store = _open_store(settings)
    try:
        current = _current(store, settings)
        history = generations(store)
        applied = [g for g in history if not g.pending]
        requested = read_request(settings.state_dir)
        if any(g.pending for g in history) or (requested is not None and not requested.withdraw):
            return _withdraw(settings, current, dry_run)
        target = _previous(applied, current.generation)
        plan, as_of = _plan(store, current, target.config, settings.handover.dropped)
    finally:
        store.close()
    report = DeployReport(
        f"generation {target.generation} (rollback)",
        target.config_id,
        [],
        False,
        plan,
        as_of,
        settings.handover.dropped,
        dry_run,
        deployed=False,
        rollback_of=current.generation,
    )
    if dry_run:
        return _with(report, ["dry run: nothing was changed"])
    request = DeployRequest(
        request_id=uuid.uuid4().hex,
        config=dump_config(target.config),
        source=f"rollback to generation {target.generation}",
        requested_at=now,
        rule=settings.handover.dropped,
        rollback_of=current.generation,
    )
    write_request(settings.state_dir, request)
    return _with(
        report,
        [
            f"rolled back: the next session run hands over to generation {target.generation}'s config"
        ],
        deployed=True,
    )


def _previous(applied: list[Generation], current: int) -> Generation:
    earlier = [g for g in applied if g.generation < current]
    if not earlier:
        raise StateError(
            f"generation {current} is the first this state directory traded: there is nothing "
            "to roll back to"
        )
    before = earlier[-1]
    if before.rollback_of is not None:  # rolling back a rollback returns to what it undid
        undone = [g for g in applied if g.generation == before.rollback_of]
        return undone[0] if undone else before
    return before


def _withdraw(settings: DaemonSettings, current: SessionRoster, dry_run: bool) -> DeployReport:
    """A deployment not applied yet is withdrawn: its request file is deleted, or (already
    taken into the store) a withdrawal request removes the pending generation."""
    report = DeployReport(
        "the pending deployment (withdrawn)",
        current.config_id,
        [],
        False,
        (),
        None,
        settings.handover.dropped,
        dry_run,
        deployed=False,
    )
    if dry_run:
        return _with(report, ["dry run: the pending deployment would be withdrawn"])
    remove_request(settings.state_dir)
    write_request(
        settings.state_dir,
        DeployRequest(
            request_id=uuid.uuid4().hex,
            config=dump_config(current.config),
            source="withdrawal",
            requested_at="",
            rule=settings.handover.dropped,
            withdraw=True,
        ),
    )
    notes = [f"withdrawn: the account stays on generation {current.generation}"]
    return _with(report, notes, deployed=True)


def _with(report: DeployReport, notes: list[str], deployed: bool = False) -> DeployReport:
    return replace(report, notes=[*report.notes, *notes], deployed=deployed)
