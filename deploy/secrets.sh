#!/bin/sh
# Create the secret files deploy/compose.yaml mounts (once; an existing file is kept).
# They are readable by the container's user (uid 10001), since compose bind-mounts them as they
# are; the folder itself is yours only.
set -eu
cd "$(dirname "$0")/secrets"
chmod 700 .
for name in webhook_secret signing_key; do
    if [ ! -s "$name" ]; then
        python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > "$name"
        echo "created deploy/secrets/$name"
    fi
    chmod 644 "$name"
done
# The payload encryption keyring (docs/encryption.md): one AES-256 key, id k1, current.
if [ ! -s payload_keys.json ]; then
    python3 -c 'import base64, json, secrets; print(json.dumps({"current": "k1", "keys": {"k1": base64.b64encode(secrets.token_bytes(32)).decode()}}))' > payload_keys.json
    echo "created deploy/secrets/payload_keys.json"
fi
chmod 644 payload_keys.json
