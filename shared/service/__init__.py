"""The application layer: a SCIM request in, a SCIM response out. It joins the engine
(`shared.scim`, no I/O) to storage (`shared.store`) and knows nothing of Azure Functions."""
