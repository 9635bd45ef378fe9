"""What the integration tests share beyond the harness, one concern per
module: the one aiosmtpd peer (`peers`), scratch directories (`scratch`),
ending started processes (`processes`), a client TLS context (`tls`),
SASL written from the RFCs (`sasl`: base64, SCRAM keys, a SCRAM client),
a raw SMTP conversation for AUTH (`auth`), smtplib dialogues for the
policy tests (`policy`), user databases (`users`), a throwaway
redis-server (`redis`) and the power-loss rig (`powerloss_fs`, a FUSE
file system that forgets what was not fsynced; `powerloss` mounts it and
cuts the power; `powerloss_rounds` runs load, kill -9 and cuts). The older modules (queue_peers, send_support)
build on these."""
