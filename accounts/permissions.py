"""What each role may do: the default permission table (organisations may override it).

Permissions are named ``area.action``. :data:`DEFAULT_PERMISSIONS` is the
table shipped with the server; docs/CARE.md shows it and the permission-matrix
test checks every role against every action. Per-organisation overrides are
stored in ``org_role_permissions`` and applied by
:class:`accounts.orgs.OrgService` (``allowed``).
"""

from __future__ import annotations

from accounts.roles import ROLES

PERMISSIONS: tuple[str, ...] = (
    "consult.start",  # open a consult (now or scheduled) with a patient
    "meeting.schedule",  # schedule, reschedule, cancel meetings; quick support; invite links
    "meeting.join",  # join meetings one is invited to
    "recording.start",  # start/stop recording a call
    "recording.view",  # list and play recordings
    "accounts.manage",  # create, disable, reset passwords of accounts in the organisation
    "orgs.manage",  # create organisations, set role permissions, duty desk, API keys, webhooks
    "stats.view",  # service records and statistics, CSV export
    "sos.raise",  # raise an SOS for oneself
    "sos.receive",  # be rung by SOS calls (as a contact or the duty desk)
    "sos.log",  # read the SOS log of the organisation
    "care.manage",  # link elders with family members and a primary doctor
)

_CLINICIAN = frozenset(
    {
        "consult.start",
        "meeting.schedule",
        "meeting.join",
        "recording.start",
        "sos.receive",
        "sos.log",
    }
)
DEFAULT_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "doctor": _CLINICIAN | {"recording.view", "stats.view"},
    "nurse": _CLINICIAN | {"care.manage"},
    "psychologist": _CLINICIAN,
    "staff": frozenset(
        {
            "meeting.schedule",
            "meeting.join",
            "recording.start",
            "sos.receive",
            "sos.log",
            "stats.view",
            "care.manage",
        }
    ),
    "family": frozenset({"meeting.join", "sos.receive"}),
    "elder": frozenset({"consult.start", "meeting.join", "sos.raise"}),
    "guest": frozenset(),
}
assert set(DEFAULT_PERMISSIONS) == set(ROLES), "every role needs a row"


def default_allows(role: str, permission: str) -> bool:
    """Whether ``role`` has ``permission`` in the shipped table."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    return permission in DEFAULT_PERMISSIONS.get(role, frozenset())
