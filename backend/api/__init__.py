"""The HTTP edge: routers, their dependencies, the error handlers, the OpenAPI document and the playground."""
