"""A deployment on its way into the store: ``deploy_request.json`` in the state directory.

``pairs-daemon deploy`` cannot write the store while the service holds the state directory's
lock, and it must not wait for it: it writes this file (atomically: a temporary file renamed
over it) and the next session the daemon runs takes it into the store as a pending generation
before anything else (:func:`daemon.cycle.roster_step.take_deploy_request`), then deletes it.
The request carries an id, so a crash between the store's commit and the file's removal does
not record it twice.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shared.errors import StateError

REQUEST_NAME = "deploy_request.json"


@dataclass(frozen=True, slots=True)
class DeployRequest:
    request_id: str
    config: str  # the config's JSON text as deployed
    source: str  # where it was deployed from (a path, or "rollback to generation N")
    requested_at: str
    rule: str  # [handover] dropped at the time of the deploy
    forced: bool = False
    gates: list[dict[str, Any]] = field(default_factory=list)
    rollback_of: int | None = None
    withdraw: bool = False  # remove the pending generation instead of adding one


def write_request(state_dir: Path, request: DeployRequest) -> Path:
    path = Path(state_dir) / REQUEST_NAME
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(asdict(request), fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def read_request(state_dir: Path) -> DeployRequest | None:
    path = Path(state_dir) / REQUEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StateError(
            f"cannot read the deployment request {path} ({exc}); delete it and run "
            "`pairs-daemon deploy` again"
        ) from None
    try:
        return DeployRequest(**data)
    except TypeError as exc:
        raise StateError(
            f"the deployment request {path} is not one this version writes ({exc}); delete it "
            "and run `pairs-daemon deploy` again"
        ) from None


def remove_request(state_dir: Path) -> None:
    (Path(state_dir) / REQUEST_NAME).unlink(missing_ok=True)
