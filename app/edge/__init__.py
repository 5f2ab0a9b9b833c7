"""The server's edge: middleware, the HTTP protocol, authentication and the typed request context."""
