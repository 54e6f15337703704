"""Backend cryptography: ECDSA verification, the authority signer, the libsodium group."""
