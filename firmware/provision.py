"""Provisioning on the unit: the commands ``tools/provision.py`` runs on it — over ``mpremote
exec`` on a board, or under the unix port against a folder (hardware/PROVISIONING.md).

Not on the driving path: firmware/app.py never imports it; it runs at the bench with main.py
interrupted. Each command prints one result line, ``QMPROV <json>``, and writes nothing when it
refuses (``QMPROV {"ok": false, "error": <code>, "detail": <text>}``)::

    from firmware import provision
    provision.main(["key", "--root", "/qm"])

    key [--rekey]          the unit's signing key, made unless it has one (--rekey: a new one):
                           GenKey in the ATECC608's slot 0 when the chip answers, else a key
                           file <root>/obu.key from the board's RNG. The private key is never
                           printed. --rekey is refused while sealed statements are unsent.
    pubkey                 the public key the unit signs with (SEC1 uncompressed, hex), its kid
    sign DIGEST_HEX        a signature of a 32-byte digest by that key (the tool verifies it)
    install-config PATH    a config JSON, validated by firmware.config, written atomically
    install-cert PATH      the authority-signed ObuCertificate: verified under the installed
      [--now T]            config's authority key; refused unless it names this unit's key,
                           obu_id and vehicle class (and is unexpired at T); kept as
                           <root>/certificate.cose
    install-policy PATH    a signed tariff policy, by firmware.policy's rules, judged at Unix
      --now T              time T (the unit has no GNSS time at the bench)
    status [--now T]       chip, key, config, certificate, policies, unsent statements, the
                           tamper record; ``provisioned`` once key, config and certificate agree
    clear-tamper           remove the tamper record (firmware/tamper.py) after returning it,
                           which clears the status fault ``tamper`` at the next boot: run it
                           with the lid shut (an open lid is a new event at the next boot)

Options: ``--root`` the unit's data folder (default /qm), ``--config`` the config file
(default /config.json). A staged input file (PATH) is removed once read.

Which key the unit signs with mirrors ``firmware.board.esp32.make_signer``: the chip's slot 0
when the chip answers with a key there, else the key file.
"""

import json
import os
import sys

from firmware.ledger import atomic

PREFIX = "QMPROV "
KEY_FILE = "/obu.key"
CERT_FILE = "/certificate.cose"
SLOT = 0


class Refused(Exception):
    """A provisioning step this unit must not take; ``code`` names why."""

    def __init__(self, code, detail):
        super().__init__(detail)
        self.code = code


def find_chip():
    """The ATECC608 driver when a chip answers on the board's I2C bus, else None."""
    if sys.platform != "esp32":
        return None
    import time

    import machine  # type: ignore[import-not-found]

    from firmware.board import pins
    from firmware.board.atecc608 import Atecc608, AteccError

    i2c = machine.I2C(pins.I2C_ID, sda=machine.Pin(pins.I2C_SDA), scl=machine.Pin(pins.I2C_SCL),
                      freq=pins.I2C_FREQ)  # fmt: skip
    chip = Atecc608(i2c, time.sleep_ms, addr=pins.ATECC608_ADDR)
    try:
        chip.info()
    except (AteccError, OSError):
        return None
    return chip


def unit_signer(root, chip, strict=False):
    """("atecc608" | "software", signer) the unit signs with at boot, or (None, None).

    ``strict``: only a chip that answers "no key in slot 0" (a status) counts as keyless;
    a chip that does not answer raises, so that a flaky bus never leads to a new key.
    """
    if chip is not None:
        from firmware.board.atecc608 import AteccError, AteccSigner, StatusError

        try:
            return "atecc608", AteccSigner(chip, SLOT)
        except StatusError:
            pass  # no key in slot 0 yet: make_signer falls back to the key file too
        except (AteccError, OSError):
            if strict:
                raise
    if not atomic.exists(root + KEY_FILE):
        return None, None
    from firmware.board.host import KeyFileSigner

    return "software", KeyFileSigner(root + KEY_FILE)


def unsent(root):
    """Sealed statements without a receipt (``outbox/<seq>.cose`` but no ``receipts/``)."""
    try:
        names = os.listdir(root + "/outbox")
    except OSError:
        return 0
    n = 0
    for name in names:
        if name.endswith(".cose") and not atomic.exists(root + "/receipts/" + name):
            n += 1
    return n


def _key_info(kind, signer):
    from protocol import p256

    pub = signer.public_key()
    return {"signer": kind, "public_key": pub.hex(), "kid": p256.key_id(pub).hex()}


def make_key(root, chip, rekey=False, rng=None):
    """The key info dict; ``created`` says whether a new key was made."""
    kind, signer = unit_signer(root, chip, strict=True)
    if signer is not None and not rekey:
        info = _key_info(kind, signer)
        info["created"] = False
        return info
    if signer is not None and unsent(root):
        raise Refused("unsent_statements", "upload the sealed statements before a new key")
    atomic.ensure_dir(root)
    if chip is not None:
        from firmware.board.atecc608 import StatusError

        try:
            chip.genkey(SLOT)  # replaces the slot's key: refused once slot 0 is locked
        except StatusError as e:
            raise Refused("key_locked", "GenKey on slot 0 refused: %s" % e) from None
        atomic.remove(root + KEY_FILE)  # the chip's key wins at boot: no dead key on flash
    else:
        from protocol import p256

        d = p256.generate_private_key(rng if rng is not None else os.urandom)
        atomic.atomic_write(root + KEY_FILE, d.to_bytes(32, "big"))
    kind, signer = unit_signer(root, chip)
    info = _key_info(kind, signer)
    info["created"] = True
    return info


def _need_key(root, chip):
    kind, signer = unit_signer(root, chip)
    if signer is None:
        raise Refused("no_key", "the unit has no key yet: run key first")
    return kind, signer


def _take(path):
    """The bytes of a staged input file, which is removed."""
    data = atomic.read_file(path)
    if data is None:
        raise Refused("no_input", "no file %s" % path)
    atomic.remove(path)
    return data


def _load_config(path):
    from firmware import config

    if not atomic.exists(path):
        raise Refused("no_config", "no config at %s: install it first" % path)
    return config.load(path)


def open_certificate(data, cfg, pub, now=None):
    """Verify an ObuCertificate envelope for this unit (config ``cfg``, key ``pub``)."""
    from protocol import envelopes, labels, messages, p256

    kid = p256.key_id(cfg.authority_public_key)
    cert, _ = envelopes.open_message(
        data,
        messages.ObuCertificate,
        lambda k: cfg.authority_public_key if k == kid else None,
        labels.CTY_OBU_CERTIFICATE,
    )
    if cert.public_key != pub:
        raise Refused(
            "cert_key_mismatch",
            "certificate for key %s, this unit's is %s"
            % (p256.key_id(cert.public_key).hex(), p256.key_id(pub).hex()),
        )
    if cert.obu_id != cfg.obu_id:
        raise Refused("cert_obu_mismatch", "certificate for %s, config says %s"
                      % (cert.obu_id, cfg.obu_id))  # fmt: skip
    if cert.vehicle_class != cfg.vehicle_class:
        raise Refused("cert_class_mismatch", "certificate for class %d, config says %d"
                      % (cert.vehicle_class, cfg.vehicle_class))  # fmt: skip
    if now is not None and cert.valid_until <= now:
        raise Refused("cert_expired", "certificate ended at %d" % cert.valid_until)
    return cert


def install_config(path, config_path):
    from firmware import config

    data = _take(path)
    try:
        d = json.loads(data)
    except ValueError:
        raise config.ConfigError("config: not valid JSON") from None
    cfg = config.Config(d)
    atomic.atomic_write(config_path, data)
    return {"obu_id": cfg.obu_id, "vehicle_class": cfg.vehicle_class}


def install_cert(path, root, config_path, chip, now):
    cfg = _load_config(config_path)
    _kind, signer = _need_key(root, chip)
    data = _take(path)
    cert = open_certificate(data, cfg, signer.public_key(), now)
    atomic.ensure_dir(root)
    atomic.atomic_write(root + CERT_FILE, data)
    return {"obu_id": cert.obu_id, "valid_until": cert.valid_until}


def _policy_info(held):
    if held is None:
        return None
    policy, pid = held
    return {"version": policy.version, "policy_id": pid.hex(),
            "valid_from": policy.valid_from, "valid_until": policy.valid_until}  # fmt: skip


def _policy_store(root, cfg):
    from firmware.policy import PolicyStore

    return PolicyStore(root, cfg.authority_public_key, vehicle_class=cfg.vehicle_class)


def install_policy(path, root, config_path, now):
    if now is None:
        raise Refused("no_time", "install-policy needs --now (Unix seconds)")
    store = _policy_store(root, _load_config(config_path))
    data = _take(path)
    from firmware.policy import PolicyRefused

    try:
        policy, pid = store.install(data, now=now)
    except PolicyRefused as e:
        raise Refused(e.code, str(e)) from None
    return {"installed": _policy_info((policy, pid)), "current": _policy_info(store.current),
            "next": _policy_info(store.next)}  # fmt: skip


def status(root, config_path, chip, now=None):
    """Everything the tool checks after provisioning; ``provisioned`` when it is complete."""
    out = {"chip": chip is not None, "signer": None, "public_key": None, "kid": None,
           "config": None, "config_error": None, "certificate": None, "certificate_error": None,
           "policy": None, "next_policy": None, "unsent": unsent(root)}  # fmt: skip
    kind, signer = unit_signer(root, chip)
    if signer is not None:
        out.update(_key_info(kind, signer))
    cfg = None
    try:
        cfg = _load_config(config_path)
        out["config"] = {"obu_id": cfg.obu_id, "vehicle_class": cfg.vehicle_class,
                         "backend_url": cfg.backend_url}  # fmt: skip
    except (Refused, ValueError) as e:
        out["config_error"] = str(e)
    cert = atomic.read_file(root + CERT_FILE)
    if cert is None:
        out["certificate_error"] = "no certificate"
    elif cfg is not None and signer is not None:
        try:
            c = open_certificate(cert, cfg, signer.public_key(), now)
            out["certificate"] = {"obu_id": c.obu_id, "valid_until": c.valid_until}
        except (Refused, ValueError) as e:
            out["certificate_error"] = "%s: %s" % (getattr(e, "code", "invalid"), e)
    if cfg is not None:
        store = _policy_store(root, cfg)
        out["policy"] = _policy_info(store.current)
        out["next_policy"] = _policy_info(store.next)
    from firmware.tamper import TamperLog, path_of

    out["tamper"] = _tamper_info(TamperLog(root) if atomic.exists(path_of(root)) else None)
    # Key, config and a certificate for both; the policy can still come with the first sync.
    out["provisioned"] = out["certificate"] is not None
    return out


def _tamper_info(log):
    if log is None:
        return None
    return {"count": log.count, "first": log.first, "last": log.last, "lid_open": log.open}


def _args(argv):
    opts = {"--root": "/qm", "--config": "/config.json", "--now": None}
    flags = []
    pos = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in opts:
            if i + 1 >= len(argv):
                raise Refused("usage", "%s needs a value" % a)
            opts[a] = argv[i + 1]
            i += 2
        elif a.startswith("--"):
            flags.append(a)
            i += 1
        else:
            pos.append(a)
            i += 1
    if opts["--now"] is not None:
        opts["--now"] = int(opts["--now"])
    return pos, opts, flags


def run(argv, chip=None, rng=None):
    """One command (module docstring); returns its result dict or raises."""
    pos, opts, flags = _args(argv)
    if not pos:
        raise Refused("usage", "no command")
    cmd = pos[0]
    root = opts["--root"]
    config_path = opts["--config"]
    now = opts["--now"]
    if chip is None:
        chip = find_chip()
    if cmd == "key":
        return make_key(root, chip, "--rekey" in flags, rng)
    if cmd == "pubkey":
        return _key_info(*_need_key(root, chip))
    if cmd == "sign" and len(pos) == 2:
        digest = bytes.fromhex(pos[1])
        if len(digest) != 32:
            raise Refused("usage", "the digest is 32 bytes")
        _kind, signer = _need_key(root, chip)
        return {"signature": signer.sign_digest(digest).hex()}
    if cmd == "install-config" and len(pos) == 2:
        return install_config(pos[1], config_path)
    if cmd == "install-cert" and len(pos) == 2:
        return install_cert(pos[1], root, config_path, chip, now)
    if cmd == "install-policy" and len(pos) == 2:
        return install_policy(pos[1], root, config_path, now)
    if cmd == "status":
        return status(root, config_path, chip, now)
    if cmd == "clear-tamper":
        from firmware import tamper

        return {"cleared": _tamper_info(tamper.clear(root))}
    raise Refused("usage", "unknown command or arguments: %s" % " ".join(argv))


def main(argv, chip=None, rng=None):
    """Run one command and print its ``QMPROV`` line; returns the result dict."""
    try:
        out = run(argv, chip, rng)
        out["ok"] = True
    except (Refused, ValueError) as e:
        # ConfigError and every protocol error are ValueErrors with a ``code``.
        out = {"ok": False, "error": getattr(e, "code", "invalid"), "detail": str(e)}
    except OSError as e:
        out = {"ok": False, "error": "filesystem", "detail": str(e)}
    except Exception as e:
        # The chip's errors; its driver is imported only on a unit that has one.
        atecc = sys.modules.get("firmware.board.atecc608")
        if atecc is None or not isinstance(e, atecc.AteccError):
            raise
        out = {"ok": False, "error": "secure_element", "detail": str(e)}
    print(PREFIX + json.dumps(out))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
