"""``waymark audit verify``: walk each service's audit chain (``shared.audit``) in its
own database and name the first broken link."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable

from shared.audit import AuditTables, ChainReport, verify
from shared.db import make_engine, make_sessionmaker


def _tables(service: str) -> AuditTables:
    if service == "registry":
        from registry.models import AuditEntry, AuditHead
    elif service == "checkin":
        from checkin.models import AuditEntry, AuditHead
    else:
        from notifications.models import AuditEntry, AuditHead
    return AuditTables(entry=AuditEntry, head=AuditHead)


async def verify_database(service: str, url: str) -> ChainReport:
    """The chain of ``service`` in the database at ``url``, read in one transaction."""
    engine = make_engine(url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            return await verify(session, _tables(service))
    finally:
        await engine.dispose()


def verify_services(databases: Iterable[tuple[str, str]]) -> int:
    """Print one line per service; 0 when every chain holds, 1 otherwise."""
    broken = False
    for service, url in databases:
        report = asyncio.run(verify_database(service, url))
        if report.intact:
            print(f"{service}: {report.entries} entries, chain intact, "
                  f"head {report.head_hash}")
        else:
            broken = True
            print(f"{service}: BROKEN at entry {report.broken_at}: {report.problem} "
                  f"({report.entries} entries hold before it)")
    if broken:
        print("The audit trail was changed outside Waymark: keep the database as it is "
              "and compare with a backup.", file=sys.stderr)
    return 1 if broken else 0
