"""Values of the organisation API: validation of ids, roles, names and kinds, and wire forms."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.flow_errors import FlowError
from accounts.models import User
from accounts.org_models import ORG_KINDS, Organisation, OrgMember
from accounts.principal import Principal
from accounts.roles import ROLES

MAX_ORG_NAME = 200
MAX_ID = 64


@dataclass(frozen=True)
class OrgActor:
    """A caller of the admin API: the principal with its *current* role, and global-admin status."""

    principal: Principal
    global_admin: bool

    @property
    def user_id(self) -> str:
        """The caller's user id."""
        return self.principal.user_id


@dataclass(frozen=True)
class Membership:
    """One of a user's organisations and the user's role there."""

    org_id: str
    org_name: str
    org_kind: str
    role: str
    duty_desk: bool

    def public(self) -> dict[str, object]:
        """The wire form."""
        return {
            "org_id": self.org_id,
            "name": self.org_name,
            "kind": self.org_kind,
            "role": self.role,
            "duty_desk": self.duty_desk,
        }


def org_public(org: Organisation) -> dict[str, str]:
    """The wire form of an organisation: ``{id, name, kind}``."""
    return {"id": org.id, "name": org.name, "kind": org.kind}


def check_id(value: object, what: str) -> str:
    """``value`` as an id string; FlowError ``bad_request`` otherwise."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID:
        raise FlowError("bad_request", f"{what} must be a non-empty id")
    return value


def check_role(value: object) -> str:
    """``value`` as a role; FlowError ``bad_request`` otherwise."""
    if not isinstance(value, str) or value not in ROLES:
        raise FlowError("bad_request", f"role must be one of {', '.join(ROLES)}")
    return value


def check_name(value: object) -> str:
    """``value`` stripped, as an organisation name; FlowError ``bad_request`` otherwise."""
    name = value.strip() if isinstance(value, str) else ""
    if not name or len(name) > MAX_ORG_NAME:
        raise FlowError("bad_request", f"name must be 1-{MAX_ORG_NAME} characters")
    return name


def check_kind(value: object) -> str:
    """``value`` as an organisation kind; FlowError ``bad_request`` otherwise."""
    if not isinstance(value, str) or value not in ORG_KINDS:
        raise FlowError("bad_request", f"kind must be one of {', '.join(ORG_KINDS)}")
    return value


def member_public(member: OrgMember, user: User) -> dict[str, object]:
    """The wire form of a membership with its account."""
    return {
        "user_id": user.id,
        "name": user.name,
        "display_name": user.display_name,
        "role": member.role,
        "duty_desk": bool(member.duty_desk),
        "disabled": bool(user.disabled),
    }
