"""Glue inside the Rasa server: the brain input channel (`channel`, named in credentials.yml) and
its memory of each call's turns before, for the safety net (`unanswered`), the process-wide
tracker store (`tracker_store`, named in the endpoints file) and the action-reply
validation speed-up (`rasa_speedups`, applied by the channel)."""
