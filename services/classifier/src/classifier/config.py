"""Settings of the classifier service (environment prefix CLASSIFIER_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from incidents_common.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("CLASSIFIER_")

    service_name: str = "classifier"
    port: int = 8002
    model_path: str = Field(
        default="",
        description="The active model file; empty means the one shipped in the package (classifier/data/model.joblib)",
    )
    candidates_dir: str = Field(
        default="var/classifier-models", description="Where `train` keeps every model it builds, activated or not"
    )
    model_reload_seconds: float = Field(
        default=10.0,
        description="How often the service checks the model file and swaps in a newly activated model (0: never)",
    )
    max_batch: int = Field(default=1000, description="Most posts accepted by POST /v1/classify/batch")
    max_text_chars: int = Field(default=20_000, description="Longer texts are cut before classification")

    def resolved_model_path(self) -> Path:
        from classifier.bundle import default_model_path

        return Path(self.model_path) if self.model_path else default_model_path()
