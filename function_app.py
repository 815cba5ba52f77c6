"""Azure Functions entry point: one FunctionApp, one blueprint per area.

Authentication is the service's own (per-tenant bearer tokens), so the host's function keys
are off (ANONYMOUS): Entra cannot send a function key."""

import azure.functions as func

from shared.adapter.blueprints import (
    console,
    deliver,
    feed,
    health,
    manage,
    oauth,
    openapi,
    reconcile,
    scim,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(scim.bp)
app.register_functions(health.bp)
app.register_functions(oauth.bp)
app.register_functions(openapi.bp)
app.register_functions(reconcile.bp)
app.register_functions(deliver.bp)
app.register_functions(feed.bp)
app.register_functions(manage.bp)
app.register_functions(console.bp)
