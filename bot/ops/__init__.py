"""Running the gateway as a service: Prometheus metrics, JSON-lines logs (docs/operations.md)."""
