"""Who may do what in routing: the caller's identity and the user the gateway acts for (issue 10).

Routing is where the data lives, so it enforces region ownership itself, whatever the gateway
checked before. The caller comes from the service token (`incidents_common.identity`), never from a
body field:

* the **operator** (its own token, no user) may do everything, in every region;
* the **api-gateway** must name the user it acts for; without one every route answers 403;
* a **user** reads only its regions (federal: all; global SLA policies: everyone) and writes by
  role: a regional admin the directory, rules and SLA policies of its regions; an official acts on
  the incidents assigned to it with OFFICIAL_ACTIONS; federal and integration users only read.
  Global SLA policies and the deadline scan are the operator's. (The full matrix: README.md.)

An object of another region answers 404 exactly like a missing one (the same error type and text);
a list of another region is empty. A 403 never reveals an object the caller cannot see: it is about
the role, or about an object the caller sees (its region's incident not assigned to the official,
a global SLA policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from incidents_common.events import IncidentAction
from incidents_common.identity import Caller, CallerDep
from routing.errors import NotAllowed, UnknownIncident

FEDERAL = "federal"
REGIONAL_ADMIN = "regional_admin"
OFFICIAL = "official"
INTEGRATION = "integration"

# Officials act only on incidents assigned to them and cannot hand them to someone else, close,
# reject or reopen them. The gateway applies the same list (api_gateway.incidents.actions.OFFICIAL_ACTIONS);
# this one is the authority.
OFFICIAL_ACTIONS: frozenset[IncidentAction] = frozenset(
    {
        IncidentAction.take,
        IncidentAction.interim_answer,
        IncidentAction.reply,
        IncidentAction.resolve,
        IncidentAction.redirect,
    }
)
ACTOR_MAX = 300  # routing_incident_history.actor


@dataclass(frozen=True)
class Access:
    """The verified caller of one request and what it may touch."""

    caller: Caller

    @property
    def is_operator(self) -> bool:
        return self.caller.is_operator

    @property
    def role(self) -> str | None:
        return None if self.caller.user is None else self.caller.user.role

    @property
    def regions(self) -> frozenset[str] | None:
        """The regions this caller may read; None means all (the operator, a federal user)."""
        user = self.caller.user
        if user is None:
            return None
        if user.regions is None:
            # Only a federal user covers every region; any other role without regions covers none.
            return None if user.role == FEDERAL else frozenset()
        return user.regions

    @property
    def actor(self) -> str:
        """Who is recorded in the audit log: the official, else the user, else the identity."""
        return self.caller.actor[:ACTOR_MAX]

    def can_see(self, region_code: str | None) -> bool:
        regions = self.regions
        return regions is None or (region_code is not None and region_code in regions)

    # -- writes --------------------------------------------------------------------------------

    def require_operator(self, what: str) -> None:
        if not self.is_operator:
            raise NotAllowed(f"only the operator may {what}")

    def require_directory_writer(self) -> None:
        """The operator, or a regional admin (its regions are checked per object)."""
        if self.is_operator:
            return
        role = self.role
        if role == REGIONAL_ADMIN:
            return
        if role == FEDERAL:
            raise NotAllowed("federal users read the directory, rules and SLA policies but do not change them")
        raise NotAllowed(f"role {role} may not change the directory, rules or SLA policies")

    def require_write_in(self, region_code: str | None, *, what: str = "objects") -> None:
        """A new object in `region_code` (None: a global object, the operator's alone)."""
        self.require_directory_writer()
        if self.is_operator:
            return
        if region_code is None:
            raise NotAllowed(f"global {what} (without a region) are managed by the operator")
        if not self.can_see(region_code):
            raise NotAllowed(f"region {region_code} is not one of yours")

    # -- posts awaiting a decision --------------------------------------------------------------

    def require_post_placer(self, target_region: str | None) -> None:
        """Who decides on a post routing could not place: the operator; the federal level (posts no
        region was found for are its triage); a regional admin, in its regions."""
        if self.is_operator or self.role == FEDERAL:
            return
        if self.role != REGIONAL_ADMIN:
            raise NotAllowed(f"role {self.role} may not decide on posts awaiting a decision")
        if target_region is not None and not self.can_see(target_region):
            raise NotAllowed(f"region {target_region} is not one of yours")

    # -- incident actions ----------------------------------------------------------------------

    def require_incident_actor(self, action: IncidentAction) -> None:
        """Refuse by role before anything is looked up (so a 403 says nothing about an incident)."""
        if self.is_operator:
            return
        role = self.role
        if role == REGIONAL_ADMIN:
            return
        if role == OFFICIAL:
            if action not in OFFICIAL_ACTIONS:
                raise NotAllowed(f"officials may not {action.value}")
            return
        raise NotAllowed(f"role {role} may not act on incidents")

    def check_incident(self, incident_region: str, assignee_id: str | None, *, incident_id: str) -> None:
        """After the incident is loaded (and locked): 404 outside the regions, 403 not one's own."""
        if not self.can_see(incident_region):
            raise UnknownIncident(f"no incident {incident_id!r}")
        if self.role == OFFICIAL and not self.is_operator:
            official_id = self.caller.user.official_id if self.caller.user else None
            if not official_id or assignee_id != official_id:
                raise NotAllowed("officials act only on incidents assigned to them")


async def get_access(caller: CallerDep) -> Access:
    """The router-level guard: the gateway must say for whom it acts (403 otherwise)."""
    if caller.user is None and not caller.is_operator:
        raise NotAllowed(f"{caller.identity} must name the user it acts for")
    return Access(caller)


AccessDep = Annotated[Access, Depends(get_access)]
GUARDED = [Depends(get_access)]
