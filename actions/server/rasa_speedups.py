"""One measured fix to Rasa 3.6.21's per-turn cost, applied when the brain channel is loaded.

Rasa validates every action-server response with `jsonschema.validate(result, schema)`, which
re-checks the schema itself against the JSON-Schema meta-schema on every call: py-spy showed
59 % of a turn's server time there (35 ms -> see docs/benchmarks.md). We validate the same
responses against the same schema with a validator compiled once. Rasa is pinned
(requirements/rasa.lock), and the patch refuses to apply to any other version.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Dict, Text

import rasa
from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction

log = logging.getLogger(__name__)
PATCHED_VERSION = "3.6.21"


@functools.lru_cache(maxsize=1)
def _response_validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)  # once, instead of on every action call
    return cls(schema)


def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    error = best_match(_response_validator().iter_errors(result))
    if error is not None:
        error.message += ". Failed to validate Action server response from API."
        raise error
    return True


def apply() -> bool:
    if rasa.__version__ != PATCHED_VERSION:
        log.warning("rasa %s is not %s: response validation left as is", rasa.__version__, PATCHED_VERSION)
        return False
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[assignment]
    return True


__all__ = ["apply", "ValidationError"]
