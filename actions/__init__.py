"""Rasa-side code (runs in .venv-rasa): custom actions, the brain input channel, the tracker store."""
