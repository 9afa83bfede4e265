"""Who sees which case. A caseworker's caseload is the cases assigned to them plus
those a supervisor delegated to them, up to and including the delegation's ``until``
(a UTC date); a supervisor sees every case. Any case outside the caller's caseload is
answered exactly like a case that does not exist (404), so a caseworker cannot learn
that an id or a reference exists. Officers, authorities and services never read a
case through these routes (403, whatever the case): officers have the reporting desk's
view (``registry.api.desk``), services the change feed."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from registry.models import Case, Delegation
from shared.auth import Principal, Role
from shared.db import utcnow
from shared.errors import Forbidden

# When a token holds several roles, the one a request acts as: the widest the route
# accepts. A supervisor who is also a caseworker sees as a supervisor.
_PRECEDENCE = (Role.supervisor, Role.caseworker, Role.officer, Role.service, Role.authority)


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller as a route sees them: ``sub`` and the one role it acts as (recorded
    with every write)."""

    sub: str
    role: Role

    @property
    def sees_every_case(self) -> bool:
        return self.role == Role.supervisor

    def sees(self, case: Case) -> bool:
        """Whether ``case`` is in this actor's caseload (for a supervisor: always)."""
        return (self.sees_every_case or case.caseworker == self.sub
                or any(d.delegate == self.sub for d in case.current_delegations))

    def caseload(self) -> sa.ColumnElement[bool]:
        """The same test as ``sees``, as a SQL condition on ``Case``."""
        if self.sees_every_case:
            return sa.true()
        delegated = sa.select(Delegation.id).where(
            Delegation.case_id == Case.id, Delegation.delegate == self.sub,
            Delegation.until >= utcnow().date())
        return sa.or_(Case.caseworker == self.sub, delegated.exists())


def acting(principal: Principal, allowed: frozenset[Role]) -> Actor:
    """``principal`` acting as the widest of ``allowed`` it holds; 403 if none."""
    for role in _PRECEDENCE:
        if role in allowed and principal.has(role):
            return Actor(sub=principal.sub, role=role)
    raise Forbidden(f"This needs one of the roles: {', '.join(sorted(allowed))}.")
