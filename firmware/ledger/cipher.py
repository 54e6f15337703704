"""Record encryption: a CTR keystream and a truncated HMAC-SHA-256 (encrypt-then-MAC).

Two keystreams, recorded by id in each ledger file's header:

- ``AES_CTR`` (1): AES-256 in counter mode. MicroPython's ``cryptolib`` has ECB but no CTR,
  so the counter blocks are laid out in one buffer and encrypted with a single ECB call. On
  CPython the same ECB call comes from ``cryptography``, so both write identical bytes.
- ``SHA256_CTR`` (2): block i = SHA-256(k_enc ‖ nonce ‖ seq ‖ i), for interpreters with no AES
  (CPython without ``cryptography``). A secret-prefix hash over fixed-length inputs is a PRF.

Counter block for record ``seq`` with 4-byte random ``nonce``:
``nonce(4) ‖ seq(4) ‖ 0(4) ‖ block index(4)`` (AES); ``nonce ‖ seq ‖ index`` after the key (SHA).

Key schedule, from the period's 32-byte random key K (labels differ and inputs have fixed,
distinct lengths, so no two derivations share an input):
``k_mac = HMAC(K, LABEL_MAC ‖ period8)``, ``k_enc = HMAC(K, LABEL_ENC ‖ period8 ‖ cipher_id)``,
``header tag = HMAC(K, LABEL_HEADER ‖ period8 ‖ header)[:16]``. Binding the period id means a
file renamed to another period fails its checks; binding the cipher id into k_enc means AES and
the fallback never share a key.
"""

import hashlib

from protocol.compat import const
from protocol.hashing import hmac_sha256

from . import errors  # the faults load when one is raised

AES_CTR = const(1)
SHA256_CTR = const(2)
TAG_LEN = const(16)
NONCE_LEN = const(4)
_XOR_CHUNK = const(128)  # bytes XORed at a time (FileCrypto.xor)

LABEL_MAC = b"quietmile/v1/ledger/mac"
LABEL_ENC = b"quietmile/v1/ledger/enc"
LABEL_HEADER = b"quietmile/v1/ledger/header"

try:
    import cryptolib  # type: ignore[import-not-found]

    def _aes_ecb(key):
        return cryptolib.aes(key, 1)  # mode 1 = ECB; encrypt(src, dst) works in place

except ImportError:  # CPython
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        class _EcbShim:
            """cryptolib's ``encrypt(src, dst)`` on top of ``cryptography``'s AES-ECB."""

            def __init__(self, key):
                self._enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()

            def encrypt(self, src, dst):
                dst[:] = self._enc.update(bytes(src))

        _aes_ecb = _EcbShim
    except ImportError:
        _aes_ecb = None  # type: ignore[assignment]


def available(cipher_id):
    """True if this interpreter can run the keystream ``cipher_id``."""
    if cipher_id == AES_CTR:
        return _aes_ecb is not None
    return cipher_id == SHA256_CTR


def default_cipher():
    """AES where we have it (hardware-assisted on the ESP32), the SHA-256 stream otherwise."""
    return AES_CTR if _aes_ecb is not None else SHA256_CTR


def period8(period_id):
    return period_id.to_bytes(8, "big")


def header_tag(period_key, period_id, header):
    """Tag that authenticates a ledger file header (magic, version, cipher id)."""
    return hmac_sha256(period_key, LABEL_HEADER + period8(period_id) + header)[:TAG_LEN]


class FileCrypto:
    """Keystream and MAC for the records of one period's ledger file."""

    def __init__(self, period_key, period_id, cipher_id):
        if not available(cipher_id):
            raise errors.CipherUnavailable("cipher %d not available here" % cipher_id)
        p8 = period8(period_id)
        enc_key = hmac_sha256(period_key, LABEL_ENC + p8 + bytes((cipher_id,)))
        mac_key = hmac_sha256(period_key, LABEL_MAC + p8)
        self.cipher_id = cipher_id
        self._aes = _aes_ecb(enc_key) if cipher_id == AES_CTR else None
        self._key = enc_key
        # HMAC pads precomputed once: every record costs two SHA-256 runs, no per-call setup.
        k = mac_key + bytes(64 - len(mac_key))
        self._ipad = bytes(b ^ 0x36 for b in k)
        self._opad = bytes(b ^ 0x5C for b in k)

    def xor(self, seq, nonce, data):
        """Encrypt or decrypt ``data`` (the same operation in CTR mode) for record ``seq``."""
        out = []
        self.chunks(seq, nonce, data, out.append)
        return b"".join(out)

    def chunks(self, seq, nonce, data, out):
        """:meth:`xor` of ``data`` handed to ``out`` as pieces of at most _XOR_CHUNK bytes, in
        order: the keystream made a piece at a time, so that nothing as long as the record is
        allocated (a fragmented heap may not have that in one piece; Ledger.append writes the
        pieces out as they come). Keystream block i is AES(nonce ‖ seq ‖ 0⁴ ‖ i) (16 bytes)
        or SHA-256(key ‖ nonce ‖ seq ‖ i) (32 bytes). A call, not a generator: a generator's
        frame (~320 bytes at 64 bits) is one block the heap must find at every append, while
        a call's frame goes on the stack when the heap has no room for it.

        ``data`` is bytes, or a list or tuple of pieces (bytes or bytearray) standing for
        their concatenation: the commit path hands a segment's entry over in pieces and never
        joins them. The keystream runs on across the pieces' boundaries (each window of
        _XOR_CHUNK bytes is gathered from the pieces it covers, then XORed at once), so the
        output is the same, piece for piece, as for the joined bytes."""
        pieces = data if isinstance(data, (list, tuple)) else (data,)
        n = 0
        for p in pieces:
            n += len(p)
        ctr = nonce + seq.to_bytes(4, "big")
        head = ctr + bytes(4)
        ks = bytearray(_XOR_CHUNK)
        mv = memoryview(ks)
        text = bytearray(_XOR_CHUNK)  # the window's plaintext, gathered from the pieces
        tv = memoryview(text)
        j = 0  # the piece being read, from its byte a on
        a = 0
        for o in range(0, n, _XOR_CHUNK):
            m = n - o if n - o < _XOR_CHUNK else _XOR_CHUNK
            if self._aes is not None:
                for i in range(o >> 4, (o + m + 15) >> 4):
                    k = (i << 4) - o
                    ks[k : k + 12] = head
                    ks[k + 12 : k + 16] = i.to_bytes(4, "big")
                w = (m + 15) & ~15
                self._aes.encrypt(mv[:w], mv[:w])
            else:
                for i in range(o >> 5, (o + m + 31) >> 5):
                    h = hashlib.sha256(self._key)
                    h.update(ctr)
                    h.update(i.to_bytes(4, "big"))
                    k = (i << 5) - o
                    ks[k : k + 32] = h.digest()
            k = 0
            while k < m:
                p = pieces[j]
                t = len(p) - a
                if t > m - k:
                    t = m - k
                # a whole piece is copied as it is; only a piece cut by the window is viewed
                text[k : k + t] = p if t == len(p) else memoryview(p)[a : a + t]
                k += t
                a += t
                if a == len(p):
                    j += 1
                    a = 0
            # One bigint XOR per window runs in C on both interpreters (a per-byte loop would
            # dominate).
            x = int.from_bytes(tv[:m], "big") ^ int.from_bytes(mv[:m], "big")
            out(x.to_bytes(m, "big"))

    def mac_start(self, seq, header):
        """Start the MAC of record ``seq``: HMAC(k_mac, seq ‖ frame header ‖ ciphertext).

        The sequence number is authenticated but not stored: a record moved, dropped or
        replayed inside the file fails its tag.
        """
        h = hashlib.sha256(self._ipad)
        h.update(seq.to_bytes(4, "big"))
        h.update(header)
        return h

    def mac_finish(self, h):
        outer = hashlib.sha256(self._opad)
        outer.update(h.digest())
        return outer.digest()[:TAG_LEN]
