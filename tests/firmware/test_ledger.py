"""Ledger (firmware/ledger): framing, encryption, torn-tail repair, corruption, keys, retention.

Runs under CPython (pytest) and the MicroPython unix port (tests/contract/mp_run.py).
"""

import os

from firmware import ledger
from firmware.ledger import atomic, cipher
from protocol.hashing import hmac_sha256, sha256
from tests.contract.support import h, raises


# --- helpers ---------------------------------------------------------------------------------
def _tmpdir():
    path = "/tmp/qm-ledger-%d" % int.from_bytes(os.urandom(6), "big")
    os.mkdir(path)
    return path


def _rmtree(path):
    for name in os.listdir(path):
        p = path + "/" + name
        if os.stat(p)[0] & 0x4000:
            _rmtree(p)
        else:
            os.remove(p)
    os.rmdir(path)


class _Rng:
    """Deterministic stand-in for os.urandom: SHA-256 of a seed and a counter."""

    def __init__(self, seed):
        self._seed = seed
        self._n = 0

    def __call__(self, n):
        out = b""
        while len(out) < n:
            self._n += 1
            out += sha256(self._seed + self._n.to_bytes(4, "big"))
        return out[:n]


def _payload(i, n=200):
    return i.to_bytes(4, "big") + bytes((i * 7 + j) & 0xFF for j in range(n - 4))


def _fill(d, count, n=200, cipher_id=None, period_id=1):
    """(key store, ledger) in ``d`` holding ``count`` payloads of ``n`` bytes (or of n[i])."""
    keys = ledger.KeyStore(d + "/keys", _Rng(b"k"))
    lg = ledger.open(d + "/ledger", period_id, keys, cipher=cipher_id, rng=_Rng(b"n"))
    for i in range(count):
        assert lg.append(_payload(i, n[i] if isinstance(n, tuple) else n)) == i
    return keys, lg


def _bytes(path):
    with open(path, "rb") as f:
        return f.read()


def _put(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _ciphers():
    """The ledger ciphers this interpreter has (the SHA-256 fallback everywhere)."""
    return [c for c in (cipher.AES_CTR, cipher.SHA256_CTR) if cipher.available(c)]


def _reopen(d, keys, period_id=1, salvage=False):
    return ledger.open(d + "/ledger", period_id, keys, rng=_Rng(b"m"), salvage=salvage)


# --- cipher and MAC --------------------------------------------------------------------------
def test_aes_ecb_block_matches_fips_197_when_aes_is_available():
    if not cipher.available(cipher.AES_CTR):
        return  # CPython without `cryptography`: the SHA-256 stream is used instead
    ecb = cipher._aes_ecb(bytes(range(32)))
    buf = bytearray(h("00112233445566778899aabbccddeeff"))
    ecb.encrypt(buf, buf)
    assert bytes(buf) == h("8ea2b7ca516745bfeafc49904b496089")


def test_aes_is_the_default_on_micropython():
    import sys

    if sys.implementation.name == "micropython":
        assert cipher.default_cipher() == cipher.AES_CTR


def test_sha256_ctr_keystream_follows_its_definition():
    fc = cipher.FileCrypto(bytes(32), 5, cipher.SHA256_CTR)
    k_enc = hmac_sha256(bytes(32), cipher.LABEL_ENC + (5).to_bytes(8, "big") + b"\x02")
    nonce = b"\x01\x02\x03\x04"
    ks = b""
    for i in range(3):
        ks += sha256(k_enc + nonce + (9).to_bytes(4, "big") + i.to_bytes(4, "big"))
    assert fc.xor(9, nonce, bytes(70)) == ks[:70]


def test_aes_ctr_counter_blocks_follow_their_definition():
    if not cipher.available(cipher.AES_CTR):
        return
    fc = cipher.FileCrypto(bytes(32), 5, cipher.AES_CTR)
    k_enc = hmac_sha256(bytes(32), cipher.LABEL_ENC + (5).to_bytes(8, "big") + b"\x01")
    nonce = b"\x01\x02\x03\x04"
    blocks = bytearray()
    for i in range(3):
        blocks += nonce + (9).to_bytes(4, "big") + bytes(4) + i.to_bytes(4, "big")
    cipher._aes_ecb(k_enc).encrypt(blocks, blocks)
    assert fc.xor(9, nonce, bytes(40)) == bytes(blocks[:40])


def test_xor_is_its_own_inverse_and_depends_on_seq_and_nonce():
    for cid in _ciphers():
        fc = cipher.FileCrypto(b"\x07" * 32, 1, cid)
        p = _payload(3, 77)
        c = fc.xor(0, b"abcd", p)
        assert c != p and fc.xor(0, b"abcd", c) == p
        assert fc.xor(1, b"abcd", p) != c
        assert fc.xor(0, b"abce", p) != c


def _splits(data):
    """The same bytes cut in many ways: whole, byte by byte across a 128-byte window, at
    and around the window's edges, with empty pieces, as tuples and bytearrays."""
    n = len(data)
    yield [data]
    yield (data,)
    yield [data[i : i + 1] for i in range(n)]
    for cut in (1, 15, 16, 17, 31, 32, 33, 127, 128, 129, 255, 256, 257):
        if cut < n:
            yield [data[:cut], data[cut:]]
            yield (b"", bytearray(data[:cut]), b"", data[cut:], b"")
    yield [data[i : i + 13] for i in range(0, n, 13)]
    yield [data[i : i + 99] for i in range(0, n, 99)]


def test_chunks_of_pieces_are_the_chunks_of_their_concatenation_with_both_ciphers():
    for cid in _ciphers():
        fc = cipher.FileCrypto(b"\x05" * 32, 7, cid)
        for n in (1, 16, 127, 128, 129, 300, 573):
            data = _payload(n, n + 4)[4:]
            whole: list = []
            fc.chunks(3, b"wxyz", data, whole.append)
            assert max(len(c) for c in whole) <= 128
            for pieces in _splits(data):
                got: list = []
                fc.chunks(3, b"wxyz", pieces, got.append)
                assert got == whole, (cid, n, len(pieces))


def test_a_payload_in_pieces_is_stored_exactly_as_the_joined_bytes_with_both_ciphers():
    # Same key, same nonces, same records: the files must be identical byte for byte (same
    # keystream across the pieces' boundaries, same tag), and both read back the same.
    for cid in _ciphers():
        payloads = [_payload(i, n) for i, n in enumerate((4, 130, 573, 700, 256))]
        d1, d2 = _tmpdir(), _tmpdir()
        try:
            k1 = ledger.KeyStore(d1 + "/keys", _Rng(b"k"))
            k2 = ledger.KeyStore(d2 + "/keys", _Rng(b"k"))
            joined = ledger.open(d1 + "/ledger", 1, k1, cipher=cid, rng=_Rng(b"n"))
            pieced = ledger.open(d2 + "/ledger", 1, k2, cipher=cid, rng=_Rng(b"n"))
            count = 0
            for p in payloads:
                for pieces in _splits(p):
                    assert joined.append(p) == pieced.append(pieces) == count
                    count += 1
            assert joined.size_bytes == pieced.size_bytes
            assert _bytes(d1 + "/ledger/p1.log") == _bytes(d2 + "/ledger/p1.log")
            assert list(_reopen(d2, k2)) == list(_reopen(d1, k1))
        finally:
            _rmtree(d1)
            _rmtree(d2)


def test_record_mac_is_hmac_sha256_truncated_to_16_bytes():
    key = b"\x11" * 32
    fc = cipher.FileCrypto(key, 3, cipher.SHA256_CTR)
    mac_key = hmac_sha256(key, cipher.LABEL_MAC + (3).to_bytes(8, "big"))
    hm = fc.mac_start(4, b"HEADER!!")
    hm.update(b"body")
    expected = hmac_sha256(mac_key, (4).to_bytes(4, "big") + b"HEADER!!" + b"body")[:16]
    assert fc.mac_finish(hm) == expected


def test_unknown_cipher_id_is_unavailable():
    raises(ledger.CipherUnavailable, cipher.FileCrypto, bytes(32), 1, 9)
    d = _tmpdir()
    try:
        keys = ledger.KeyStore(d + "/keys")
        raises(ledger.CipherUnavailable, ledger.open, d + "/ledger", 1, keys, cipher=9)
    finally:
        _rmtree(d)


# --- append and read -------------------------------------------------------------------------
def test_appended_records_read_back_in_order_with_both_ciphers():
    for cid in _ciphers():
        d = _tmpdir()
        try:
            keys, lg = _fill(d, 5, cipher_id=cid)
            assert lg.cipher_id == cid and lg.count == 5 and len(lg) == 5
            assert list(lg) == [_payload(i) for i in range(5)]
            again = _reopen(d, keys)
            assert again.cipher_id == cid
            assert list(again.records()) == [_payload(i) for i in range(5)]
            assert again.repaired_bytes == 0
        finally:
            _rmtree(d)


def test_new_file_records_its_cipher_id_in_the_header():
    d = _tmpdir()
    try:
        _fill(d, 1, cipher_id=cipher.SHA256_CTR)
        data = _bytes(d + "/ledger/p1.log")
        assert data[:4] == b"QMLG" and data[4] == 1 and data[5] == cipher.SHA256_CTR
    finally:
        _rmtree(d)


def test_read_by_index_across_sparse_index_boundaries():
    d = _tmpdir()
    try:
        keys, lg = _fill(d, 70, n=40)
        for lg_ in (lg, _reopen(d, keys)):
            for i in (0, 1, 31, 32, 33, 63, 64, 69):
                assert lg_.read(i) == _payload(i, 40)
            raises(IndexError, lg_.read, 70)
            raises(IndexError, lg_.read, -1)
            assert list(lg_.records(65)) == [_payload(i, 40) for i in range(65, 70)]
            assert list(lg_.records(70)) == []
    finally:
        _rmtree(d)


def test_variable_length_records_round_trip():
    d = _tmpdir()
    try:
        keys = ledger.KeyStore(d + "/keys")
        lg = ledger.open(d + "/ledger", 2, keys)
        sizes = (1, 15, 16, 17, 31, 32, 33, 200, 1000, ledger.MAX_PAYLOAD)
        for i, n in enumerate(sizes):
            lg.append(_payload(i + 4, n + 4)[4:])
        got = list(_reopen(d, keys, 2))
        assert [len(r) for r in got] == list(sizes)
        assert got[7] == _payload(11, 204)[4:]
    finally:
        _rmtree(d)


def test_framing_overhead_is_24_bytes_per_record_plus_22_per_file():
    d = _tmpdir()
    try:
        _keys, lg = _fill(d, 0)
        assert lg.size_bytes == ledger.FILE_HEADER_LEN == 22
        for i in range(3):
            before = lg.size_bytes
            lg.append(_payload(i))
            assert lg.size_bytes - before == 200 + ledger.FRAME_OVERHEAD == 224
        assert atomic.file_size(d + "/ledger/p1.log") == 22 + 3 * 224
    finally:
        _rmtree(d)


def test_payload_is_not_stored_in_clear():
    d = _tmpdir()
    try:
        marker = b"lat_e7=473977420;lon_e7=85450000"
        keys = ledger.KeyStore(d + "/keys")
        ledger.open(d + "/ledger", 1, keys).append(marker * 4)
        assert _bytes(d + "/ledger/p1.log").find(marker[:8]) < 0
    finally:
        _rmtree(d)


def test_bad_payloads_are_rejected_before_writing():
    d = _tmpdir()
    try:
        _keys, lg = _fill(d, 1)
        size = lg.size_bytes
        for bad in ("text", b"", bytes(ledger.MAX_PAYLOAD + 1), 5, None):
            raises(ledger.InvalidRecord, lg.append, bad)
        too_long = [bytes(100)] * (ledger.MAX_PAYLOAD // 100) + [
            bytes(ledger.MAX_PAYLOAD % 100 + 1)
        ]
        for bad in ([], (b"",), [b"", b""], [b"ok", "text"], [b"ok", 5], (b"ok", None), too_long):
            raises(ledger.InvalidRecord, lg.append, bad)
        assert lg.count == 1 and atomic.file_size(lg.path) == size
        assert lg.append(bytearray(b"ok")) == 1
        assert lg.append([b"o", bytearray(b"k")]) == 2
        assert lg.read(2) == b"ok"
    finally:
        _rmtree(d)


def test_bad_period_ids_are_rejected():
    d = _tmpdir()
    try:
        keys = ledger.KeyStore(d + "/keys")
        for bad in (-1, True, "3", 1 << 63, None):
            raises(ledger.InvalidPeriod, ledger.open, d + "/ledger", bad, keys)
            raises(ledger.InvalidPeriod, keys.key, bad)
        ledger.open(d + "/ledger", (1 << 63) - 1, keys).append(b"x")
    finally:
        _rmtree(d)


# --- torn writes and corruption ---------------------------------------------------------------
def test_truncation_at_every_offset_of_the_last_record_is_repaired():
    d = _tmpdir()
    try:
        keys, lg = _fill(d, 3)
        full = _bytes(lg.path)
        last = 22 + 2 * 224  # start of record 2
        assert len(full) == last + 224
        for cut in range(last, len(full)):
            _put(lg.path, full[:cut])
            lg2 = _reopen(d, keys)
            assert lg2.count == 2 and lg2.repaired_bytes == cut - last
            assert atomic.file_size(lg.path) == last == lg2.size_bytes
            assert list(lg2) == [_payload(0), _payload(1)]
            assert lg2.append(b"after repair %d" % cut) == 2
            lg3 = _reopen(d, keys)
            assert lg3.count == 3 and lg3.read(2) == b"after repair %d" % cut
        _put(lg.path, full)
        assert list(_reopen(d, keys)) == [_payload(i) for i in range(3)]
    finally:
        _rmtree(d)


def test_truncation_anywhere_keeps_exactly_the_whole_records_before_it():
    d = _tmpdir()
    try:
        keys, lg = _fill(d, 4, n=30)
        full = _bytes(lg.path)
        for cut in range(22, len(full) + 1):
            _put(lg.path, full[:cut])
            whole = (cut - 22) // 54
            assert list(_reopen(d, keys)) == [_payload(i, 30) for i in range(whole)]
    finally:
        _rmtree(d)


def test_garbling_any_byte_of_the_last_record_is_corruption_never_silent_loss():
    d = _tmpdir()
    try:
        keys, lg = _fill(d, 3)
        full = _bytes(lg.path)
        last = 22 + 2 * 224
        for i in range(last, len(full)):
            bad = bytearray(full)
            bad[i] ^= 0x20
            _put(lg.path, bad)
            e = raises(ledger.LedgerCorrupt, _reopen, d, keys)
            assert e.offset == last and e.code == "ledger_corrupt"
            assert _bytes(lg.path) == bytes(bad)  # left for forensics, not rewritten
        # The firmware may then choose to keep the good prefix explicitly.
        lg2 = _reopen(d, keys, salvage=True)
        assert lg2.count == 2 and lg2.repaired_bytes == 224
        assert list(lg2) == [_payload(0), _payload(1)]
    finally:
        _rmtree(d)


def test_corruption_in_the_middle_raises_with_its_offset():
    d = _tmpdir()
    try:
        keys, lg = _fill(d, 4)
        full = _bytes(lg.path)
        for i in (22, 22 + 3, 22 + 100, 22 + 224 - 1, 22 + 224 + 5):
            bad = bytearray(full)
            bad[i] ^= 0x01
            _put(lg.path, bad)
            e = raises(ledger.LedgerCorrupt, _reopen, d, keys)
            assert e.offset == 22 + ((i - 22) // 224) * 224
    finally:
        _rmtree(d)


def test_flash_changed_after_open_is_caught_on_read():
    d = _tmpdir()
    try:
        _keys, lg = _fill(d, 2)
        bad = bytearray(_bytes(lg.path))
        bad[22 + 224 + 50] ^= 0x01
        _put(lg.path, bad)
        assert lg.read(0) == _payload(0)
        raises(ledger.LedgerCorrupt, lg.read, 1)
    finally:
        _rmtree(d)


def test_a_record_read_in_pieces_is_the_record():
    """Ledger.read(i, pieces=True): pieces of at most 128 bytes that join to the payload."""
    for cid in _ciphers():
        d = _tmpdir()
        try:
            sizes = (0, 1, 127, 128, 129, 560, 1000)
            lg = _fill(d, len(sizes), sizes, cid)[1]
            for i, n in enumerate(sizes):
                pieces = lg.read(i, True)
                whole = _payload(i, n)
                assert b"".join(pieces) == lg.read(i) == whole, (cid, n)
                assert all(0 < len(p) <= 128 for p in pieces)
                assert len(pieces) == (len(whole) + 127) // 128
        finally:
            _rmtree(d)


def test_heads_are_the_payloads_first_bytes_with_every_record_checked_whole():
    for cid in _ciphers():
        d = _tmpdir()
        try:
            sizes = (200, 10, 64, 65, 1000, 33, 700)
            keys, lg = _fill(d, len(sizes), sizes, cid)
            for lg_ in (lg, _reopen(d, keys)):
                full = list(lg_.records())
                assert list(lg_.heads()) == [p[:64] for p in full]
                assert list(lg_.heads(4, 20)) == [p[:20] for p in full[4:]]
                assert list(lg_.heads(7)) == []
            # a byte changed past the head of record 4 (1000 bytes, at 22 + the four frames
            # before it + its 8-byte header + 500): its head is refused, those before it pass
            at = 22 + sum(24 + n for n in sizes[:4]) + 8 + 500
            bad = bytearray(_bytes(lg.path))
            bad[at] ^= 0x01
            _put(lg.path, bad)
            heads = lg.heads()
            assert [next(heads) for _ in range(4)] == [p[:64] for p in full[:4]]
            raises(ledger.LedgerCorrupt, next, heads)
        finally:
            _rmtree(d)


def test_swapped_records_fail_because_the_index_is_authenticated():
    d = _tmpdir()
    try:
        keys, lg = _fill(d, 3)
        full = _bytes(lg.path)
        r0, r1 = full[22:246], full[246:470]
        _put(lg.path, full[:22] + r1 + r0 + full[470:])
        raises(ledger.LedgerCorrupt, _reopen, d, keys)
        _put(lg.path, full[:22] + full[246:])  # first record dropped
        raises(ledger.LedgerCorrupt, _reopen, d, keys)
    finally:
        _rmtree(d)


def test_damaged_or_foreign_header_is_rejected():
    d = _tmpdir()
    try:
        keys, lg = _fill(d, 1)
        full = _bytes(lg.path)
        for i in (0, 4, 5, 6, 21):
            bad = bytearray(full)
            bad[i] ^= 0x01
            _put(lg.path, bad)
            raises(ledger.LedgerCorrupt, _reopen, d, keys)
        _put(lg.path, full[:10])
        raises(ledger.LedgerCorrupt, _reopen, d, keys)
        # The file of period 1 presented as period 2 (even with period 1's key) fails.
        _put(lg.path, full)
        _put(d + "/ledger/p2.log", full)
        _put(d + "/keys/k2.key", keys.key(1))
        raises(ledger.LedgerCorrupt, _reopen, d, keys, 2)
    finally:
        _rmtree(d)


def test_a_torn_record_index_is_reused_with_a_fresh_nonce():
    d = _tmpdir()
    try:
        keys, lg = _fill(d, 2)
        full = _bytes(lg.path)
        torn_nonce = full[246 + 4 : 246 + 8]
        _put(lg.path, full[:300])
        lg2 = _reopen(d, keys)
        lg2.append(_payload(1))
        again = _bytes(lg.path)
        assert again[246 + 8 : 246 + 224] != full[246 + 8 : 246 + 224]
        assert again[246 + 4 : 246 + 8] != torn_nonce
    finally:
        _rmtree(d)


class _FaultyFile:
    """A file whose next write stores only ``keep`` bytes and then fails, like a full flash."""

    def __init__(self, f, keep, fail_in_flush):
        self._f = f
        self._keep = keep
        self._fail_in_flush = fail_in_flush

    def write(self, data):
        self._f.write(data[: self._keep])
        if not self._fail_in_flush:
            raise OSError(28)
        return len(data)

    def flush(self):
        self._f.flush()
        if self._fail_in_flush:
            raise OSError(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def _faulty_opener(state):
    def opener(path, mode):
        f = open(path, mode)
        if mode == "ab" and state["keep"] is not None:
            keep = state["keep"]
            state["keep"] = None
            return _FaultyFile(f, keep, state["in_flush"])
        return f

    return opener


def test_a_failed_append_is_repaired_by_the_next_one():
    d = _tmpdir()
    try:
        keys = ledger.KeyStore(d + "/keys")
        state = {"keep": None, "in_flush": False}
        lg = ledger.open(d + "/ledger", 1, keys, opener=_faulty_opener(state))
        lg.append(_payload(0))
        state["keep"] = 50
        raises(OSError, lg.append, _payload(1))
        assert lg.count == 1
        assert lg.append(_payload(2)) == 1
        assert list(_reopen(d, keys)) == [_payload(0), _payload(2)]
    finally:
        _rmtree(d)


def test_a_record_written_whole_before_a_failure_is_kept_and_counted():
    d = _tmpdir()
    try:
        keys = ledger.KeyStore(d + "/keys")
        state = {"keep": 10**6, "in_flush": True}
        lg = ledger.open(d + "/ledger", 1, keys, opener=_faulty_opener(state))
        raises(OSError, lg.append, _payload(0))
        assert lg.append(_payload(1)) == 1  # the rescan found record 0 complete
        assert list(_reopen(d, keys)) == [_payload(0), _payload(1)]
    finally:
        _rmtree(d)


def test_leftover_temp_files_are_discarded_on_open():
    d = _tmpdir()
    try:
        _keys, lg = _fill(d, 2)
        _put(lg.path + ".tmp", b"half a repair copy")
        _put(d + "/keys/k9.key.tmp", b"half a key")
        keys2 = ledger.KeyStore(d + "/keys")
        assert not atomic.exists(d + "/keys/k9.key.tmp")
        assert keys2.periods() == [1]
        assert _reopen(d, keys2).count == 2
        assert not atomic.exists(lg.path + ".tmp")
    finally:
        _rmtree(d)


# --- small state files ------------------------------------------------------------------------
def test_atomic_write_replaces_the_whole_file():
    d = _tmpdir()
    try:
        p = d + "/state.bin"
        assert ledger.read_file(p) is None and ledger.read_file(p, b"") == b""
        ledger.atomic_write(p, b"first version, longer")
        ledger.atomic_write(p, b"second")
        assert ledger.read_file(p) == b"second"
        assert sorted(os.listdir(d)) == ["state.bin"]
        _put(p + ".tmp", b"torn")  # a kill before the rename: the old version stays
        assert atomic.discard_tmp(d) == 1
        assert ledger.read_file(p) == b"second"
    finally:
        _rmtree(d)


# --- keys, deletion, retention ----------------------------------------------------------------
def test_key_is_created_once_per_period_and_is_random():
    d = _tmpdir()
    try:
        keys = ledger.KeyStore(d + "/keys")
        k1 = keys.key(1)
        assert len(k1) == 32 and keys.key(1) == k1 and keys.key(2) != k1
        assert ledger.KeyStore(d + "/keys").key(1) == k1
        assert keys.periods() == [1, 2] and keys.has(1) and not keys.has(3)
        assert keys.get(3) is None
    finally:
        _rmtree(d)


def test_destroying_the_key_makes_the_ledger_unreadable():
    d = _tmpdir()
    try:
        keys, _lg = _fill(d, 3)
        assert keys.destroy(1) and not keys.destroy(1)
        assert not atomic.exists(d + "/keys/k1.key")
        e = raises(ledger.KeyMissing, _reopen, d, keys)
        assert e.code == "key_missing"
        raises(ledger.KeyMissing, _reopen, d, ledger.KeyStore(d + "/keys"))
    finally:
        _rmtree(d)


def test_store_destroy_removes_key_then_log():
    d = _tmpdir()
    try:
        st = ledger.Store(d, rng=_Rng(b"s"))
        for p in (3, 5):
            st.open(p).append(b"trace of %d" % p)
        st.destroy(3)
        assert st.periods() == [5]
        assert sorted(os.listdir(d + "/ledger")) == ["p5.log"]
        assert sorted(os.listdir(d + "/keys")) == ["k5.key"]
        assert list(st.open(5)) == [b"trace of 5"]
    finally:
        _rmtree(d)


def test_a_destroy_cut_short_is_finished_at_boot():
    d = _tmpdir()
    try:
        st = ledger.Store(d)
        for p in (1, 2, 3):
            st.open(p).append(b"x")
        _put(d + "/keys/k1.key", bytes(32))  # reset after the overwrite, before the remove
        os.remove(d + "/keys/k2.key")  # reset after the key removal, before the log's
        st2 = ledger.Store(d)
        assert st2.periods() == [3]
        assert sorted(os.listdir(d + "/ledger")) == ["p3.log"]
        assert sorted(os.listdir(d + "/keys")) == ["k3.key"]
    finally:
        _rmtree(d)


def test_purge_before_destroys_only_older_periods():
    d = _tmpdir()
    try:
        st = ledger.Store(d)
        for p in (202401, 202402, 202403, 202404):
            st.open(p).append(b"segment")
        assert st.purge_before(202403) == [202401, 202402]
        assert st.periods() == [202403, 202404]
        assert st.purge_before(202403) == []
        raises(ledger.KeyMissing, ledger.open, st.dir, 202404, ledger.KeyStore(d + "/other"))
    finally:
        _rmtree(d)


def test_size_bytes_per_period_and_total():
    d = _tmpdir()
    try:
        st = ledger.Store(d)
        a = st.open(1)
        b = st.open(2)
        for i in range(10):
            a.append(_payload(i))
        b.append(_payload(0, 100))
        assert st.size_bytes(1) == a.size_bytes == 22 + 10 * 224
        assert st.size_bytes(2) == b.size_bytes == 22 + 124
        assert st.size_bytes() == a.size_bytes + b.size_bytes
        assert st.size_bytes(7) == 0
    finally:
        _rmtree(d)
