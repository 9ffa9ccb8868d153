"""RFC 6962 Certificate Transparency log: a personality on ``services.tlog`` (``log``), its HTTP API
(``api``), app factory (``app``) and ``sigstack serve ctlog`` (``serve``)."""
