"""The change feed: CloudEvents built from committed writes (events, pure), their Standard
Webhooks signatures (signing, pure) and their delivery over HTTP (delivery, httpx)."""
