"""Models the tests import into and record events in, beside the demo shop's."""

from django.db import models


class Tag(models.Model):
    code = models.CharField(max_length=20, unique=True)
    label = models.CharField(max_length=100)
    weight = models.IntegerField(null=True, blank=True)
    running_total = models.IntegerField(null=True, blank=True)

    def __str__(self):
        return self.code


class Counter(models.Model):
    """A named number that workers increment, for flaky test steps."""

    name = models.CharField(max_length=100, unique=True)
    value = models.IntegerField(default=0)


class Event(models.Model):
    """Something a signal receiver or a handler saw, in the order it saw it."""

    name = models.CharField(max_length=100)
    step = models.CharField(max_length=100, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["pk"]
