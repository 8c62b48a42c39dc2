"""What the handlers get from the app: its settings and the models loaded at start-up (typed dependencies)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from classifier.config import Settings
from classifier.model import Classifier
from classifier.reactions.model import ReactionModel
from classifier.replies import ReplyModel
from incidents_common.app import app_state
from incidents_common.problems import ServiceUnavailable


async def classifier_of(request: Request) -> Classifier:
    """The active model (main.py swaps in a newly activated one)."""
    classifier: Classifier | None = request.app.state.classifier
    if classifier is None:
        raise ServiceUnavailable("the model is not loaded yet")
    return classifier


async def replies_of(request: Request) -> ReplyModel:
    model: ReplyModel | None = request.app.state.replies
    if model is None:
        raise ServiceUnavailable("no reply-quality model: run `python -m classifier train-replies`")
    return model


async def reactions_of(request: Request) -> ReactionModel:
    model: ReactionModel | None = request.app.state.reactions
    if model is None:
        raise ServiceUnavailable("no reactions model: run `python -m classifier train-reactions`")
    return model


SettingsDep = Annotated[Settings, Depends(app_state("settings", Settings))]
ClassifierDep = Annotated[Classifier, Depends(classifier_of)]
RepliesDep = Annotated[ReplyModel, Depends(replies_of)]
ReactionsDep = Annotated[ReactionModel, Depends(reactions_of)]
