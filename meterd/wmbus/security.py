"""AES-128 for wM-Bus: CBC (modes 5 and 7), CTR (ELL), CMAC and the OMS key derivation (KDF-A).

Block operations come from the `cryptography` package; chaining is composed here so that one ECB
context per key serves every telegram of that meter (creating a cipher per telegram costs more than
the decryption itself).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 16
ZERO_IV = bytes(BLOCK)


class AesKey:
    """An AES-128 key with reusable block contexts. Never printed: repr hides the key."""

    __slots__ = ("_dec", "_enc", "_key")
    is_des = False
    size = BLOCK  # the cipher's block: 16 bytes for AES

    def __init__(self, key: bytes) -> None:
        if len(key) != BLOCK:
            raise ValueError("AES-128 key must be 16 bytes")
        self._key = key
        cipher = Cipher(algorithms.AES(key), modes.ECB())
        self._dec = cipher.decryptor()
        self._enc = cipher.encryptor()

    def __repr__(self) -> str:
        return "AesKey(<secret>)"

    def cbc_decrypt(self, iv: bytes, data: bytes) -> bytes:
        """CBC decryption of whole blocks: P_i = D(C_i) xor C_(i-1), C_0 = IV."""
        plain = self._dec.update(data)
        chain = iv + data[: -self.size]
        n = len(data)
        return (int.from_bytes(plain, "big") ^ int.from_bytes(chain, "big")).to_bytes(n, "big")

    def cbc_encrypt(self, iv: bytes, data: bytes) -> bytes:
        """CBC encryption, for building test telegrams and simulated meters."""
        out = bytearray()
        prev = iv
        size = self.size
        for i in range(0, len(data), size):
            block = (int.from_bytes(data[i : i + size], "big") ^ int.from_bytes(prev, "big")).to_bytes(size, "big")
            prev = self._enc.update(block)
            out += prev
        return bytes(out)

    def ctr_crypt(self, prefix: bytes, data: bytes) -> bytes:
        """CTR with counter blocks prefix(15) ‖ block counter (1 byte, from 0); same both ways."""
        nblocks = (len(data) + BLOCK - 1) // BLOCK
        stream = self._enc.update(b"".join(prefix + bytes([i & 0xFF]) for i in range(nblocks)))
        n = len(data)
        return (int.from_bytes(data, "big") ^ int.from_bytes(stream[:n], "big")).to_bytes(n, "big")

    def cmac(self, data: bytes) -> bytes:
        c = cmac.CMAC(algorithms.AES(self._key))
        c.update(data)
        return c.finalize()


class DesKey(AesKey):
    """A single-DES key (security mode 2, deprecated, still sent by some older meters): 8 bytes, CBC
    with an IV of zeros over whole 8-byte blocks. Never printed."""

    __slots__ = ()
    is_des = True
    size = 8

    def __init__(self, key: bytes) -> None:  # (the AES key's set-up is not wanted)
        if len(key) != 8:
            raise ValueError("a DES key is 8 bytes")
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

        self._key = key
        cipher = Cipher(TripleDES(key * 3), modes.ECB())  # three equal keys: single DES
        self._dec = cipher.decryptor()
        self._enc = cipher.encryptor()

    def __repr__(self) -> str:
        return "DesKey(<secret>)"


def derive_mode7_keys(key: AesKey, counter: bytes, meter_id: bytes) -> tuple[AesKey, AesKey]:
    """KDF-A: Kenc and Kmac from the meter key, the AFL message counter and the meter ID (wire order)."""
    tail = counter + meter_id + b"\x07" * 7
    return AesKey(key.cmac(b"\x00" + tail)), AesKey(key.cmac(b"\x01" + tail))


def mode5_iv(manufacturer: bytes, address: bytes, access_number: int) -> bytes:
    """IV = M(2) ‖ A(6: ID, version, device type) ‖ ACC × 8, all in wire order."""
    return manufacturer + address + bytes([access_number]) * 8
