from django.db import models


class Sequence(models.Model):
    """A named gapless counter (register numbers, case numbers, audit sequence).

    Incremented by one atomic upsert inside the caller's transaction, so a
    rolled-back registration gives its number back and concurrent writers
    queue on the row lock instead of colliding.
    """

    name = models.CharField(max_length=200, unique=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"
