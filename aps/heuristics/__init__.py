"""Constructive schedulers and the arithmetic they share.

Dispatching rules (:mod:`.dispatch`), the feasibility witness (:mod:`.witness`) and the
right-shift repair (:mod:`.repair`) build schedules one operation at a time; they read
calendars, stock and precedences through :mod:`.placement`, :mod:`.stock` and
:mod:`.graph`. Every backend uses them for its first incumbent or its hint.
"""

from aps.kernels import configure

configure()
