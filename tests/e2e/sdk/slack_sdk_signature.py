"""Signs a request body the way Slack does, with Slack's own Python SDK.

Reads a JSON object {"secret": ..., "timestamp": ..., "body": ...} on standard input and prints
the X-Slack-Signature value that slack_sdk computes for it. The end-to-end tests use it to check
that Reverb accepts what Slack's SDK signs (tests/e2e/tests/it/judgments.rs).
"""

import json
import sys

from slack_sdk.signature import SignatureVerifier


def main() -> None:
    request = json.load(sys.stdin)
    verifier = SignatureVerifier(request["secret"])
    signature = verifier.generate_signature(
        timestamp=str(request["timestamp"]), body=request["body"]
    )
    if signature is None:
        sys.exit("slack_sdk produced no signature")
    # The SDK's own check must agree with what it just produced.
    headers = {
        "x-slack-request-timestamp": str(request["timestamp"]),
        "x-slack-signature": signature,
    }
    if not verifier.is_valid_request(request["body"], headers):
        sys.exit("slack_sdk rejects its own signature (is the timestamp current?)")
    print(signature)


if __name__ == "__main__":
    main()
