"""Rasa-side code (runs in .venv-rasa): the custom actions (`actions.py`, what the action server
loads), the classifier (`nlu/`) and the Rasa server's glue (`server/`)."""
