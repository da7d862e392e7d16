"""Errors of the hub runtime.

HubError
├── ConfigError        hub.yaml is wrong: names the file, the key and what was expected
├── AppImportError     the application named by ``app:`` cannot be imported
├── PoolError          the worker pool cannot do what was asked (bad transition,
│   │                  a worker that cannot start)
│   └── ControlError   the running service's control socket cannot be reached
└── JobsError          the jobs pipelines (hub.jobs.errors: UnknownPipeline, BadEnvelope,
                       BrokerError, JobTimeout)
"""


class HubError(Exception):
    """Root of the hub runtime's errors."""


class ConfigError(HubError):
    """A config file that cannot be used; the message names file, key and expected value."""


class AppImportError(HubError):
    """The ``app:`` of hub.yaml does not name an importable :class:`hub.App`."""


class PoolError(HubError):
    """The worker pool cannot do what was asked."""


class ControlError(PoolError):
    """The running service's control socket cannot be reached or answered badly."""
