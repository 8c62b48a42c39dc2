"""Routing settings (env prefix ROUTING_)."""

from __future__ import annotations

from datetime import date
from typing import Literal, Self

from pydantic import Field, model_validator

from incidents_common.settings import ServiceSettings, service_config

SOURCE = "/services/routing"
"""The CloudEvents `source` of every event routing publishes."""


class Settings(ServiceSettings):
    model_config = service_config("ROUTING_")

    service_name: str = "routing"
    port: int = 8003

    seed_demo: bool = Field(default=True, description="Load the demo directory at startup when the directory is empty")
    not_fixed_action: Literal["reopen", "flag"] = Field(
        default="reopen",
        description=(
            "What the complainant's «not fixed» under a published reply does to an answered, resolved or closed "
            "incident: reopen it (new clocks), or flag it for the region's curator"
        ),
    )
    deadline_scan_seconds: float = Field(default=30.0, gt=0, description="Seconds between deadline scans")
    deadline_scanner_enabled: bool = Field(default=True, description="Run the periodic deadline scanner")
    warning_share: float = Field(default=0.8, gt=0, lt=1, description="Share of a clock used when a warning fires")
    cluster_window_hours: float = Field(default=72.0, gt=0, description="A post joins incidents active this recently")
    cluster_threshold: float = Field(default=0.35, gt=0, le=1, description="Similarity at which a post joins")
    sla_first_reaction_hours: float = Field(default=8.0, gt=0, description="Fallback first-reaction clock (h)")
    sla_final_days: float = Field(default=10.0, gt=0, description="Fallback final-answer clock (working days)")
    sla_interim_days: float = Field(default=7.0, gt=0, description="Fallback final clock after an interim answer")
    critical_round_the_clock: bool = Field(
        default=True,
        description="A critical incident's clocks count every hour of every day (a danger to life does not wait "
        "for Monday); false: the assignee's working hours, as for the rest",
    )
    # Saturdays the government moved a working day to: `holidays` knows the days off but not these.
    extra_working_days: list[date] = Field(
        default_factory=lambda: [date(2024, 4, 27), date(2024, 11, 2), date(2024, 12, 28), date(2025, 11, 1)],
        description="Moved working days (working Saturdays) that the holidays package does not know",
    )
    # Surge alerts (routing.surges): complaints of one town and category counted in buckets; an alert
    # when the last window's count is both large and improbable given the place's history.
    surge_enabled: bool = Field(default=True, description="Count complaints per town and category; raise surge alerts")
    surge_bucket_minutes: int = Field(
        default=10, gt=0, le=1440, description="Complaints are counted in buckets of this many minutes"
    )
    surge_window_minutes: int = Field(
        default=60, gt=0, le=10080, description="A surge is counted over the last window (a whole number of buckets)"
    )
    surge_min_count: int = Field(default=10, ge=1, description="No alert below this many complaints in the window")
    surge_p_threshold: float = Field(
        default=1e-4,
        gt=0,
        lt=1,
        description="Alert when P(X >= count) under Poisson(baseline) is below this (with at least the minimum count)",
    )
    surge_cooldown_minutes: int = Field(
        default=180, ge=0, description="After an alert, no other alert for the same town and category for this long"
    )
    surge_history_days: float = Field(
        default=14.0, gt=0, description="The baseline is the place's mean per window over this much history"
    )
    surge_baseline_floor: float = Field(
        default=0.5,
        gt=0,
        description="The smallest baseline (complaints per window): a place without history needs a real crowd",
    )

    @model_validator(mode="after")
    def _window_is_whole_buckets(self) -> Self:
        if self.surge_window_minutes % self.surge_bucket_minutes:
            raise ValueError(
                f"surge_window_minutes ({self.surge_window_minutes}) must be a multiple of "
                f"surge_bucket_minutes ({self.surge_bucket_minutes})"
            )
        return self
