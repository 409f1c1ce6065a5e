"""launcher: dispatch Devin sessions in bulk from YAML manifests, exactly once each."""

__version__ = "0.1.0"
