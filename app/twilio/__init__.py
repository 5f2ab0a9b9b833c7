"""Twilio's wire conventions, shared by every resource: errors, SIDs, auth, forms, headers, time."""
