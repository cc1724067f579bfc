"""The brain: the one place that talks to Rasa (server processes, client, training)."""
