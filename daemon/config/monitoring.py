"""``[monitoring]`` settings: when tracking and lateness become a warning or critical."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class MonitoringSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # |paper - model| equity, in basis points of the model's equity, that raises the
    # tracking_difference alert (warning) and makes `check` critical.
    tracking_warning_bps: float = Field(default=50.0, gt=0)
    tracking_critical_bps: float = Field(default=200.0, gt=0)
    # A session counts as due this long after its scheduled run time (schedule.run_at).
    late_after_minutes: int = Field(default=120, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> MonitoringSettings:
        if self.tracking_critical_bps < self.tracking_warning_bps:
            raise ValueError(
                "monitoring.tracking_critical_bps must be >= monitoring.tracking_warning_bps"
            )
        return self
