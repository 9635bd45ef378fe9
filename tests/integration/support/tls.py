"""TLS for test clients."""
import ssl


def tls_context():
    """A client context that does not check the certificate: for tests of
    something other than the certificate (the server's is self-signed)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
