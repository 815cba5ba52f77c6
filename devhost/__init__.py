"""Local development host: serves a ``func.FunctionApp`` over HTTP without Core Tools.

Azure Functions Core Tools (``func start``) cannot be installed everywhere, so this package
serves the SAME ``function_app.app`` functions for development (``make run``) and for the
end-to-end tests. It is development tooling, left out of the published package (.funcignore),
and it emulates only what the app uses, refusing the rest when it starts (``StartupError``):

* HTTP triggers behind ``extensions.http.routePrefix`` of host.json (default ``api``), with
  the route forms of ``devhost.routes``; a request is handed over and answered as the Python
  worker does (``devhost.worker``); an exception in a function is answered 500 with a generic
  JSON body and its traceback logged;
* timer triggers on NCRONTAB schedules (``devhost.timer``);
* queue triggers on Azure Queue storage (Azurite locally) with host.json
  ``extensions.queues``: batches, polling back-off, retries after ``visibilityTimeout`` and
  ``<queue>-poison`` at ``maxDequeueCount`` (``devhost.queues``); connection strings only,
  identity-based connections are refused;
* HTTP/1.1 through h11 with keep-alive, pipelining and bounded workers (``devhost.server``).

Where it differs from the Functions host on purpose:

* a path that matches a route but none of its methods is answered 405 with Allow (the host
  answers 404); the host's own 404/405/500 and framing errors have small JSON bodies;
* authLevel is ignored (as with ``func start``); chunked request bodies are passed on;
* sync functions run on the connection's worker thread (queue functions on a pool of their
  own); no functionTimeout, no retry policies, no WEBSITE_TIME_ZONE (UTC only); no output
  bindings, dynamic concurrency, proxies, admin endpoints, landing page, HTTP/2 or TLS.

Usage::

    python -m devhost function_app:app --port 7071

    with running(app, host_json={"extensions": {"http": {"routePrefix": ""}}}) as base_url:
        httpx.get(f"{base_url}/scim/v2/...")
"""

from .functions import StartupError
from .host import DevHost, running, serve
from .queues import QueueOptions
from .routes import UnsupportedRoute
from .server import HostResponse, ServerLimits
from .timer import UnsupportedSchedule

__all__ = [
    "DevHost",
    "HostResponse",
    "QueueOptions",
    "ServerLimits",
    "StartupError",
    "UnsupportedRoute",
    "UnsupportedSchedule",
    "running",
    "serve",
]
