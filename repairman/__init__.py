"""repairman for actors: ask for maintenance from Python (repairman.actor) or from
kubectl (`kubectl repairman`, repairman.plugin). See docs/actors.md."""

from repairman.actor import (
    MaintenanceError,
    MaintenanceRefused,
    MaintenanceTimeout,
    Request,
    file_request,
    maintenance,
)

__all__ = [
    "MaintenanceError",
    "MaintenanceRefused",
    "MaintenanceTimeout",
    "Request",
    "file_request",
    "maintenance",
]
