"""Named leases in the database: one holder at a time, on any machine (`Lease`)."""

from __future__ import annotations

import datetime
import os
import socket
import uuid
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from garnizon.common.models import Lease as LeaseRow


@dataclass(frozen=True)
class Lease:
    """This process's hold on the work called `name`."""

    name: str
    owner: str  # host:pid:random, unique to this holder
    seconds: float

    @classmethod
    def acquire(cls, name: str, seconds: float) -> Lease | None:
        """The work for this process (one compare-and-set UPDATE), or None while
        another holder's lease has not expired."""
        LeaseRow.objects.get_or_create(name=name)
        lease = cls(name, f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}", seconds)
        now = timezone.now()
        taken = LeaseRow.objects.filter(
            Q(lease_until__isnull=True) | Q(lease_until__lt=now), name=name
        ).update(owner=lease.owner, lease_until=lease._until(now), acquired_at=now)
        return lease if taken == 1 else None

    def renew(self) -> bool:
        """Extend the lease; False when it expired and another holder took the work."""
        now = timezone.now()
        return (
            LeaseRow.objects.filter(name=self.name, owner=self.owner, lease_until__gte=now).update(
                lease_until=self._until(now)
            )
            == 1
        )

    def release(self) -> None:
        LeaseRow.objects.filter(name=self.name, owner=self.owner).update(lease_until=None)

    def _until(self, now: datetime.datetime) -> datetime.datetime:
        return now + datetime.timedelta(seconds=self.seconds)


def lease_holder(name: str) -> LeaseRow | None:
    """The row of a lease held now (its owner and since when), or None when it is free."""
    return LeaseRow.objects.filter(name=name, lease_until__gte=timezone.now()).first()
