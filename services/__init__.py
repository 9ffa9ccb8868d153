"""sigstack's services. Each talks to the others over HTTP only; shared glue is in ``runtime``."""
