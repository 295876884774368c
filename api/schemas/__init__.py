"""Wire models: what clients send and what they get back (explicit ``*Public`` models).

One module per API area (:mod:`~api.schemas.jobs`, :mod:`~api.schemas.plant`,
:mod:`~api.schemas.callbacks`) and the shared ones (:mod:`~api.schemas.common`); every
model is also importable from here by name.
"""

from api.schemas.callbacks import (
    CallbackCreate,
    CallbackCreated,
    CallbackEvent,
    CallbackPublic,
    CallbackSecret,
)
from api.schemas.common import Message, Problem422, ScheduledOperationPublic
from api.schemas.jobs import (
    EXAMPLE_PROBLEM,
    CancelPublic,
    IncumbentPublic,
    JobAccepted,
    JobCreate,
    JobLinks,
    JobOptions,
    JobPublic,
    JobsPublic,
    JobSummary,
    Progress,
    SchedulePublic,
)
from api.schemas.plant import (
    InboxEvent,
    InboxEvents,
    PlantLinks,
    PlantPublic,
    PlantSchedulePublic,
    RescheduleRequest,
    ScheduleVersion,
    ScheduleVersions,
)

__all__ = [
    "EXAMPLE_PROBLEM",
    "CallbackCreate",
    "CallbackCreated",
    "CallbackEvent",
    "CallbackPublic",
    "CallbackSecret",
    "CancelPublic",
    "InboxEvent",
    "InboxEvents",
    "IncumbentPublic",
    "JobAccepted",
    "JobCreate",
    "JobLinks",
    "JobOptions",
    "JobPublic",
    "JobSummary",
    "JobsPublic",
    "Message",
    "PlantLinks",
    "PlantPublic",
    "PlantSchedulePublic",
    "Problem422",
    "Progress",
    "RescheduleRequest",
    "SchedulePublic",
    "ScheduleVersion",
    "ScheduleVersions",
    "ScheduledOperationPublic",
]
