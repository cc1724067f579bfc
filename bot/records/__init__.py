"""Call records in a database: SQLAlchemy models (`schema`), Alembic migrations shipped in
`migrations/` and applied at start (`store.migrate`), the writer the gateway hands records to
(`store.RecordStore`: a thread, never the event loop; a spool file while the database is down)
and the city's figures (`report`). docs/operations.md."""
