"""Operations: request ids, JSON logs and the Prometheus metrics of the service.

Nothing is re-exported here: ``api.errors`` imports :mod:`api.observability.request_ids`, and the
metrics route imports ``api.auth``, which imports ``api.errors``; importing both from this
package would make that a cycle.
"""
