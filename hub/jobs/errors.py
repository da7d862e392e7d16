"""Errors of the jobs pipeline.

JobsError (a :class:`hub.errors.HubError`)
├── UnknownPipeline    a push or command names a pipeline hub.yaml does not declare
├── BadEnvelope        a job that cannot be read (not JSON, wrong version, missing
│                      fields); consumers dead-letter it with this message as the reason
├── BrokerError        the broker (Redis, or the service's memory broker) cannot be
│                      reached or answered badly; wraps the driver's own error
└── JobTimeout         a job ran past the exec timeout (counted as a failed attempt)
"""

from __future__ import annotations

from ..errors import HubError


class JobsError(HubError):
    """Root of the jobs pipeline's errors."""


class UnknownPipeline(JobsError):
    """A pipeline name that hub.yaml ``jobs.pipelines`` does not declare."""


class BadEnvelope(JobsError):
    """A job that cannot be decoded; the message is the dead-letter reason."""


class BrokerError(JobsError):
    """The broker cannot be reached, or answered badly."""


class JobTimeout(JobsError):
    """A job handler ran past its time limit."""
