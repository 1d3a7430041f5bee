"""OpenAPI paths of organisations, memberships, role permissions, accounts and care contacts."""

from __future__ import annotations

from accounts.org_models import CONTACT_RELATIONS, ORG_KINDS
from accounts.permissions import PERMISSIONS
from api.openapi.common import (
    ID,
    ROLE_NAMES,
    Json,
    array,
    boolean,
    enum,
    integer,
    json_body,
    no_content,
    nullable,
    obj,
    ok,
    operation,
    path_param,
    query_param,
    ref,
    string,
    text,
)

TAG = "organisations"
ACCOUNTS = "accounts"
ORG_ID = path_param("org_id", "Organisation id.", string(minLength=1, maxLength=64))
USER_ID = path_param("user_id", "User id.", string(minLength=1, maxLength=64))
ROLE = path_param("role", "A role.", enum(ROLE_NAMES))
ELDER_ID = path_param("elder_id", "The elder's user id.", string(minLength=1, maxLength=64))
ORG_ERRORS = {400: ["bad_request"], 403: ["permission_denied"], 404: ["org_not_found"]}
ACCOUNT_ERRORS = {400: ["bad_request"], 403: ["permission_denied"], 404: ["user_not_found"]}
PERMISSION_MAP = obj(
    {p: boolean() for p in PERMISSIONS}, additionalProperties=boolean()
)

SCHEMAS: Json = {
    "Organisation": obj(
        {"id": ID, "name": string(), "kind": enum(ORG_KINDS)}, ["id", "name", "kind"]
    ),
    "OrgMember": obj(
        {
            "user_id": ID,
            "name": string(),
            "display_name": string(),
            "role": enum(ROLE_NAMES),
            "duty_desk": boolean(),
            "disabled": boolean(),
        },
        ["user_id", "name", "display_name", "role", "duty_desk", "disabled"],
    ),
    "RolePermissions": obj(
        {
            "role": enum(ROLE_NAMES),
            "permissions": PERMISSION_MAP,
            "overrides": obj({}, additionalProperties=boolean()),
        },
        ["role", "permissions", "overrides"],
        description="The effective permissions of a role and the organisation's overrides.",
    ),
    "Account": obj(
        {
            "id": ID,
            "name": string(),
            "display_name": string(),
            "role": nullable(enum(ROLE_NAMES)),
            "disabled": boolean(),
            "global_admin": boolean(),
            "duty_desk": boolean(),
            "memberships": array(ref("Membership")),
            "password": string(description="only when the server generated it (shown once)"),
        },
        ["id", "name", "display_name", "role", "disabled", "global_admin"],
    ),
    "CareContacts": obj(
        {
            "elder_id": ID,
            "contacts": array(
                obj(
                    {
                        "contact_id": ID,
                        "name": string(),
                        "display_name": string(),
                        "relation": enum(CONTACT_RELATIONS),
                        "tier": integer(minimum=1, maximum=10),
                        "disabled": boolean(),
                    },
                    ["contact_id", "name", "display_name", "relation", "tier", "disabled"],
                )
            ),
        },
        ["elder_id", "contacts"],
    ),
}

CONTACT = obj(
    {
        "contact_id": text(64),
        "relation": enum(CONTACT_RELATIONS),
        "tier": integer(minimum=1, maximum=10, default=1),
    },
    ["contact_id", "relation"],
)


def paths() -> dict[str, Json]:
    """Path items of this area."""
    org = ok(ref("Organisation"))
    member = ok(ref("OrgMember"))
    account = ok(ref("Account"))
    role_perms = ok(ref("RolePermissions"))
    contacts = ok(ref("CareContacts"))
    member_errors = {**ORG_ERRORS, 404: ["org_not_found", "user_not_found"], 409: ["conflict"]}
    return {
        "/api/v1/orgs": {
            "get": operation(
                "listOrgs",
                "The caller's organisations with the caller's role (global admin: all)",
                tag=TAG,
                responses={
                    200: ok(
                        obj(
                            {
                                "orgs": array(
                                    {
                                        "allOf": [
                                            ref("Organisation"),
                                            obj({"role": nullable(enum(ROLE_NAMES))}, ["role"]),
                                        ]
                                    }
                                ),
                                "global_admin": boolean(),
                            },
                            ["orgs", "global_admin"],
                        )
                    )
                },
            ),
            "post": operation(
                "createOrg",
                "Create an organisation (global admins)",
                tag=TAG,
                body=json_body(
                    obj({"name": text(200), "kind": enum(ORG_KINDS, default="hospital")}, ["name"])
                ),
                responses={201: org},
                errors={403: ["permission_denied"], 409: ["conflict"]},
            ),
        },
        "/api/v1/orgs/{org_id}": {
            "get": operation(
                "getOrg", "One organisation (its members, global admins)", tag=TAG,
                params=[ORG_ID], responses={200: org}, errors=ORG_ERRORS,
            ),
            "patch": operation(
                "updateOrg",
                "Rename or re-kind an organisation (orgs.manage)",
                tag=TAG,
                params=[ORG_ID],
                body=json_body(
                    obj(
                        {"name": nullable(text(200)), "kind": nullable(enum(ORG_KINDS))},
                        minProperties=1,
                        description="null leaves a field as it is",
                    )
                ),
                responses={200: org},
                errors={**ORG_ERRORS, 409: ["conflict"]},
            ),
            "delete": operation(
                "deleteOrg", "Delete an organisation (global admins)", tag=TAG,
                params=[ORG_ID], responses={204: no_content()},
                errors={**ORG_ERRORS, 409: ["conflict"]},
            ),
        },
        "/api/v1/orgs/{org_id}/members": {
            "get": operation(
                "listOrgMembers", "The members (orgs.manage or accounts.manage)", tag=TAG,
                params=[ORG_ID],
                responses={200: ok(obj({"members": array(ref("OrgMember"))}, ["members"]))},
                errors=ORG_ERRORS,
            ),
            "post": operation(
                "addOrgMember",
                "Add an existing account (orgs.manage)",
                tag=TAG,
                params=[ORG_ID],
                body=json_body(
                    obj(
                        {
                            "user_id": text(64),
                            "name": string(description="sign-in name, instead of user_id"),
                            "role": enum(ROLE_NAMES),
                            "duty_desk": nullable(boolean(default=False)),
                        },
                        ["role"],
                    )
                ),
                responses={201: member},
                errors=member_errors,
            ),
        },
        "/api/v1/orgs/{org_id}/members/{user_id}": {
            "patch": operation(
                "updateOrgMember",
                "Change a member's role or duty-desk flag (orgs.manage)",
                tag=TAG,
                params=[ORG_ID, USER_ID],
                body=json_body(
                    obj(
                        {"role": nullable(enum(ROLE_NAMES)), "duty_desk": nullable(boolean())},
                        minProperties=1,
                        description="null leaves a field as it is",
                    )
                ),
                responses={200: member},
                errors=member_errors,
            ),
            "delete": operation(
                "removeOrgMember", "Remove a member (orgs.manage)", tag=TAG,
                params=[ORG_ID, USER_ID], responses={204: no_content()}, errors=member_errors,
            ),
        },
        "/api/v1/orgs/{org_id}/permissions": {
            "get": operation(
                "orgPermissionTable", "Every role's effective permissions (orgs.manage)",
                tag=TAG, params=[ORG_ID],
                responses={
                    200: ok(
                        obj(
                            {"roles": obj({}, additionalProperties=ref("RolePermissions"))},
                            ["roles"],
                        )
                    )
                },
                errors=ORG_ERRORS,
            )
        },
        "/api/v1/orgs/{org_id}/roles/{role}/permissions": {
            "get": operation(
                "getRolePermissions", "One role's permissions (orgs.manage)", tag=TAG,
                params=[ORG_ID, ROLE], responses={200: role_perms}, errors=ORG_ERRORS,
            ),
            "put": operation(
                "setRolePermissions",
                "Grant (true), revoke (false) or reset (null) permissions (orgs.manage)",
                tag=TAG,
                params=[ORG_ID, ROLE],
                body=json_body(
                    obj(
                        {p: nullable(boolean()) for p in PERMISSIONS},
                        minProperties=1,
                        additionalProperties=False,
                    )
                ),
                responses={200: role_perms},
                errors=ORG_ERRORS,
            ),
        },
        "/api/v1/accounts": {
            "get": operation(
                "listAccounts",
                "Accounts of the organisation acted for (global admins: all or ?org_id)",
                tag=ACCOUNTS,
                params=[
                    query_param("org_id", "Only this organisation.", string(maxLength=64),
                                empty_ok=True),
                    query_param("q", "Name search.", string(maxLength=100), empty_ok=True),
                    query_param("limit", "1-500 (default 100).", integer(minimum=1, maximum=500)),
                    query_param("offset", "Skip this many.", integer(minimum=0, maximum=999999)),
                ],
                responses={200: ok(obj({"accounts": array(ref("Account"))}, ["accounts"]))},
                errors=ORG_ERRORS,
            ),
            "post": operation(
                "createAccount",
                "Create an account and its membership (accounts.manage)",
                tag=ACCOUNTS,
                description="Without `password` one is generated and answered once.",
                body=json_body(
                    obj(
                        {
                            "name": string(pattern="^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$"),
                            "role": enum(ROLE_NAMES),
                            "password": nullable(
                                string(minLength=1, description="at most 1024 bytes; "
                                       "null or left out: generate one")
                            ),
                            "display_name": nullable(text(128)),
                            "org_id": nullable(text(64)),
                            "duty_desk": boolean(default=False),
                            "global_admin": boolean(default=False),
                        },
                        ["name", "role"],
                    )
                ),
                responses={201: account},
                errors={
                    400: ["bad_name", "bad_password", "bad_display_name"],
                    403: ["permission_denied"],
                    404: ["org_not_found"],
                    409: ["user_exists"],
                },
            ),
        },
        "/api/v1/accounts/{user_id}": {
            "get": operation(
                "getAccount", "One account with its memberships (accounts.manage)",
                tag=ACCOUNTS, params=[USER_ID], responses={200: account}, errors=ACCOUNT_ERRORS,
            ),
            "patch": operation(
                "updateAccount",
                "Rename, disable or enable an account (accounts.manage)",
                tag=ACCOUNTS,
                params=[USER_ID],
                body=json_body(
                    obj({"display_name": text(128), "disabled": boolean()}, minProperties=1)
                ),
                responses={200: account},
                errors={**ACCOUNT_ERRORS, 400: ["bad_request", "bad_display_name"]},
            ),
        },
        "/api/v1/accounts/{user_id}/disable": {
            "post": operation(
                "disableAccount", "Disable an account (never one's own)", tag=ACCOUNTS,
                params=[USER_ID], responses={200: account}, errors=ACCOUNT_ERRORS,
            )
        },
        "/api/v1/accounts/{user_id}/enable": {
            "post": operation(
                "enableAccount", "Re-enable an account", tag=ACCOUNTS,
                params=[USER_ID], responses={200: account}, errors=ACCOUNT_ERRORS,
            )
        },
        "/api/v1/accounts/{user_id}/password": {
            "post": operation(
                "resetPassword",
                "Set a password, or generate one (answered once)",
                tag=ACCOUNTS,
                params=[USER_ID],
                body=json_body(
                    obj(
                        {
                            "password": nullable(
                                string(minLength=1, description="at most 1024 bytes; "
                                       "null or left out: generate one")
                            )
                        }
                    ),
                    required=False,
                ),
                responses={
                    200: ok(
                        obj(
                            {"reset": boolean(), "password": string(description="if generated")},
                            ["reset"],
                        )
                    )
                },
                errors={**ACCOUNT_ERRORS, 400: ["bad_request", "bad_password"]},
            )
        },
        "/api/v1/elders/{elder_id}/contacts": {
            "get": operation(
                "getCareContacts",
                "An elder's care contacts (care.manage in the elder's organisation, the elder)",
                tag=TAG, params=[ELDER_ID], responses={200: contacts}, errors=ACCOUNT_ERRORS,
            ),
            "put": operation(
                "setCareContacts",
                "Replace an elder's care contacts (care.manage)",
                tag=TAG,
                params=[ELDER_ID],
                body=json_body(
                    {
                        "anyOf": [
                            array(CONTACT, maxItems=50),
                            obj({"contacts": array(CONTACT, maxItems=50)}, ["contacts"]),
                        ]
                    }
                ),
                responses={200: contacts},
                errors=ACCOUNT_ERRORS,
            ),
        },
    }
