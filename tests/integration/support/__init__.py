"""What the integration tests share beyond the harness, one concern per
module: the one aiosmtpd peer (`peers`), scratch directories (`scratch`),
ending started processes (`processes`), a client TLS context (`tls`),
SASL written from the RFCs (`sasl`: base64, SCRAM keys, a SCRAM client),
a raw SMTP conversation for AUTH (`auth`), smtplib dialogues for the
policy tests (`policy`), user databases (`users`) and a throwaway
redis-server (`redis`). The older modules (queue_peers, send_support)
build on these."""
