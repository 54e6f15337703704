"""Signatures made through the ATECC608 driver (against the fake chip) verify with the
`cryptography` package, an implementation independent of protocol.p256."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from firmware.board.atecc608 import Atecc608, AteccSigner
from protocol.hashing import sha256
from tests.firmware.atecc608_fake import FakeAtecc608


def _der(sig: bytes) -> bytes:
    return utils.encode_dss_signature(int.from_bytes(sig[:32]), int.from_bytes(sig[32:]))


def test_fake_chip_signatures_verify_with_cryptography() -> None:
    chip = FakeAtecc608(seed=b"crypto-interop")
    dev = Atecc608(chip, chip.sleep_ms)
    dev.genkey(0)
    signer = AteccSigner(dev, 0)
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), signer.public_key())
    for i in range(4):
        msg = b"statement %d" % i
        key.verify(_der(signer.sign(msg)), msg, ec.ECDSA(hashes.SHA256()))
        digest = sha256(msg)
        sig = signer.sign_digest(digest)
        key.verify(_der(sig), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    # A key made by cryptography is not the chip's: the public key really comes from slot 0.
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert other.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint) != signer.public_key()
