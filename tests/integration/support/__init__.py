"""What the integration tests share beyond the harness: the one aiosmtpd
peer (`peers`) and scratch directories (`scratch`). The older helper
modules (queue_peers, send_support, greylist_helpers) build on these."""
