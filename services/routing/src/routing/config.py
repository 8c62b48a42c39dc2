"""Routing settings (env prefix ROUTING_)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from incidents_common.settings import ServiceSettings, service_config


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
    # Saturdays the government moved a working day to: `holidays` knows the days off but not these.
    extra_working_days: list[date] = Field(
        default_factory=lambda: [date(2024, 4, 27), date(2024, 11, 2), date(2024, 12, 28), date(2025, 11, 1)],
        description="Moved working days (working Saturdays) that the holidays package does not know",
    )
