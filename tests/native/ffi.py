"""libsscard.so through Python's ctypes: the second language the tests call the library from (its FFI, not
``host.standard``). Used inside the subprocesses of test_ffi_ctypes.py; every function returns
``(code, pOutInfo decoded from GBK)``, and ``raw`` passes bytes (or None for NULL) exactly as given."""
from __future__ import annotations

import ctypes
import os

OUTINFO_SIZE = 1024          # sscard.h SSCARD_OUTINFO_SIZE
PHOTO_SIZE = 8192            # sscard.h SSCARD_PHOTO_SIZE
CERT_SIZE = 4096             # sscard.h SSCARD_CERT_SIZE
READERINFO_SIZE = 64         # sscard.h SSCARD_READERINFO_SIZE

PIN_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)

_I, _S = ctypes.c_int, ctypes.c_char_p
SIGNATURES: dict[str, tuple[object, ...]] = {
    "iReadCardBas": (_I, _S), "iReadCard": (_I, _I, _S, _S, _S), "iWriteCard": (_I, _S, _S, _S, _S),
    "iVerifyPIN": (_I, _S), "iChangePIN": (_I, _S), "iReloadPIN": (_I, _S, _S), "iUnblockPIN": (_I, _S, _S),
    "iReadCardBas_HSM_Step1": (_I, _S), "iReadCardBas_HSM_Step2": (_S, _S),
    "iReloadPIN_HSM_Step1": (_I, _S, _S), "iReloadPIN_HSM_Step2": (_S, _S), "iReloadPIN_HSM_Step3": (_S, _S),
    "iReadCard_HSM_Step1": (_I, _S, _S, _S), "iReadCard_HSM_Step2": (_S, _S),
    "iWriteCard_HSM_Step1": (_I, _S, _S, _S), "iWriteCard_HSM_Step2": (_S, _S, _S),
    "iUnblockPIN_HSM_Step1": (_I, _S, _S), "iUnblockPIN_HSM_Step2": (_S, _S), "iUnblockPIN_HSM_Step3": (_S, _S),
    "iDoDebit": (_I, _S, _S, _S), "iReadDebitRecord": (_I, _S),
    "iDoDebit_HSM_Step1": (_I, _S, _S, _S), "iDoDebit_HSM_Step2": (_S, _S),
    "iWriteCardBas": (_I, _S), "iWriteCardBas_HSM_Step1": (_S, _S, _S), "iWriteCardBasExt": (_I, _S, _S, _S),
    "iReadPhoto": (_I, _S), "iGetReaderInfo": (_S, _S),
    "PKI_SignData": (_S, _S, _I, _S), "PKI_GetCert": (_I, _S), "PKI_VerifySign": (_S, _S, _S, _S, _I, _S),
}

#: Functions the public declarations give a long result (docs/sources.md §6.1).
RETURNS_LONG = frozenset({"iWriteCardBas"})


class Lib:
    def __init__(self, path: str | None = None) -> None:
        self.dll = ctypes.CDLL(path or os.environ["SSCARD_LIB"])    # CDLL: the GIL is released during calls
        for name, args in SIGNATURES.items():
            plain, ex = getattr(self.dll, name), getattr(self.dll, name + "_Ex")
            plain.restype = ex.restype = ctypes.c_int
            if name in RETURNS_LONG:
                plain.restype = ctypes.c_long
            plain.argtypes = list(args)
            ex.argtypes = [_S, _I, _S, _I] if name == "iGetReaderInfo" else [*args, _I]
        self.dll.sscard_set_pin_callback.argtypes = [PIN_CALLBACK, ctypes.c_void_p]
        self.dll.sscard_close.argtypes = []
        self._callback: object = None

    def raw(self, name: str, *args: object, size: int | None = None) -> tuple[int, bytes]:
        """Call ``name`` with ``args`` then a fresh pOutInfo (``size`` bytes, the _Ex variant when given)."""
        default = {"iReadPhoto": PHOTO_SIZE, "PKI_GetCert": CERT_SIZE}.get(name, OUTINFO_SIZE)
        buf = ctypes.create_string_buffer(size or default)
        if size is None:
            code = getattr(self.dll, name)(*args, buf)
        else:
            code = getattr(self.dll, name + "_Ex")(*args, buf, size)
        return code, buf.value

    def __getattr__(self, name: str):
        if name not in SIGNATURES:
            raise AttributeError(name)

        def call(*args: object) -> tuple[int, str]:
            code, out = self.raw(name, *(a.encode("gbk") if isinstance(a, str) else a for a in args))
            return code, out.decode("gbk")
        return call

    def reader_info(self) -> tuple[int, str, str]:
        sn, term = ctypes.create_string_buffer(READERINFO_SIZE), ctypes.create_string_buffer(READERINFO_SIZE)
        code = self.dll.iGetReaderInfo(sn, term)
        return code, sn.value.decode("gbk"), term.value.decode("gbk")

    def set_pins(self, *answers: str | int) -> list[int]:
        """Answer the PIN callback from ``answers`` (digits, or a code such as -31); returns the prompts seen."""
        queue, prompts = list(answers), []

        def callback(prompt: int, pin: int, size: int, user: int) -> int:
            prompts.append(prompt)
            if not queue:
                return -31
            answer = queue.pop(0)
            if isinstance(answer, int):
                return answer
            data = answer.encode("ascii")[:size - 1] + b"\0"
            ctypes.memmove(pin, data, len(data))
            return 0
        self._callback = PIN_CALLBACK(callback)          # kept alive while the library may call it
        self.dll.sscard_set_pin_callback(self._callback, None)
        return prompts

    def close(self) -> int:
        return self.dll.sscard_close()
