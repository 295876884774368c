"""APS core: the scheduling model, CP-SAT solving and an independent validator.

The core knows nothing of HTTP, Celery or databases; the service packages build on it.
"""

from aps.model import (
    Job,
    Lag,
    Machine,
    Material,
    MaterialFlow,
    Mode,
    Objective,
    ObjectiveTerm,
    Operation,
    Problem,
    Receipt,
    SetupMatrix,
    TimeBase,
    WeightedTerm,
    Window,
)
from aps.result import Incumbent, Result, ScheduledOperation, SolveStatus
from aps.solve import solve
from aps.validate import ScheduleInvalidError, Violation, assert_valid, validate

__all__ = [
    "Incumbent",
    "Job",
    "Lag",
    "Machine",
    "Material",
    "MaterialFlow",
    "Mode",
    "Objective",
    "ObjectiveTerm",
    "Operation",
    "Problem",
    "Receipt",
    "Result",
    "ScheduleInvalidError",
    "ScheduledOperation",
    "SetupMatrix",
    "SolveStatus",
    "TimeBase",
    "Violation",
    "WeightedTerm",
    "Window",
    "assert_valid",
    "solve",
    "validate",
]
__version__ = "0.1.0"
