"""Models the tests import into, beside the demo shop's."""

from django.db import models


class Tag(models.Model):
    code = models.CharField(max_length=20, unique=True)
    label = models.CharField(max_length=100)
    weight = models.IntegerField(null=True, blank=True)
    running_total = models.IntegerField(null=True, blank=True)

    def __str__(self):
        return self.code
