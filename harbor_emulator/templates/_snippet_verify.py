import hashlib
import hmac
import os
import time


def verify(raw_body: bytes, headers: dict[str, str], tolerance: int = 300) -> None:
    """Raise ValueError unless this is a fresh Harbor delivery signed with our secret."""
    secret = os.environ["HARBOR_WEBHOOK_SECRET"]  # the whole whsec_... string
    timestamp = headers["harbor-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        raise ValueError("Harbor-Timestamp is outside the tolerance")
    signed = timestamp.encode() + b"." + raw_body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    given = [
        value.strip()[3:]
        for value in headers["harbor-signature"].split(",")
        if value.strip().startswith("v1=")
    ]
    if not any(hmac.compare_digest(expected, signature) for signature in given):
        raise ValueError("no Harbor-Signature matches the secret")
