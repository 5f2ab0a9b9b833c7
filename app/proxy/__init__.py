"""The intercepting proxy (`twilio-emulator proxy`, `serve --proxy-port`): HTTPS to `*.twilio.com`, handed to
the emulator, for clients whose base URL cannot be changed. Built on mitmproxy (the `proxy` extra)."""
