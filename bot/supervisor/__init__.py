"""The supervisors' page: the city's figures (`bot report`) with charts, and one call's context by
its id, behind the voice studio's login (docs/operations.md)."""
