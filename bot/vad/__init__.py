"""Voice activity detection (`base.Vad`, `silero`) and the turn detector built on it (`turns`)."""
