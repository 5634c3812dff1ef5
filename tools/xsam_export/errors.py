"""The exporter's one user-facing exception."""


class ExportError(Exception):
    """Input the exporter refuses. The message names the file, tensor, field or option concerned."""
