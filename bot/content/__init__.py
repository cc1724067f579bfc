"""The editors' knowledge base: load (with line numbers), validate, and build Rasa's files."""
